"""Diagnostic reference levels: tables and the CT audit of facility medians against national DRLs.

A DRL is compared with a *typical value*: the median of the DRL quantity over a room's patients for one
examination (ICRP 135). UK CT NDRLs give CTDIvol **per sequence** and DLP **per complete examination**,
so the audit takes the median of per-event CTDIvol (localizers and events without dose excluded) and the
median of per-study total DLP separately.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dmslab.analysis.stats import METRICS, Filters, percentile_of_medians, summaries
from dmslab.store import Store, table

__all__ = ["DRL_SETS", "GroupBounds", "LocalDrl", "ct_audit", "derive_local_drls", "drl_audit", "drl_references",
           "load_drls", "local_drls", "map_ct_protocol", "patient_group_bounds", "set_local_drl", "study_exceedances"]

logger = logging.getLogger(__name__)

#: National / international DRL tables shipped as package data (``dmslab/data/drl_<file>.csv``).
DRL_SETS = {"UK": "drl_uk.csv", "DE": "drl_de.csv", "EU": "drl_eu.csv", "US": "drl_us.csv",
            "INT": "drl_international.csv"}
#: Canonical-unit factor per unit string of the tables (cGy·cm² = 1e-6 Gy·m², Gy·cm² = 1e-4 Gy·m²).
_UNIT_FACTORS = {"mGy": 1.0, "mGy.cm": 1.0, "cGy.cm2": 1e-6, "Gy.cm2": 1e-4}

_AUDIT_COLUMNS = ["room", "protocol", "examination", "n_studies", "median_ctdivol_mgy", "drl_ctdivol_mgy",
                  "ctdivol_ratio", "median_dlp_mgycm", "drl_dlp_mgycm", "dlp_ratio", "status"]


@cache
def load_drls(country: str = "UK") -> pd.DataFrame:
    """DRL rows of one shipped set (``UK``, ``DE``, ``EU``, ``US``, ``INT``) with source, edition and status.

    Besides the source columns (values and units exactly as published), derived columns say how dmslab uses a
    row: ``metric`` (see :data:`dmslab.analysis.stats.METRICS`), ``value_canonical`` (in the metric's unit),
    ``age_min/age_max`` (a) and ``weight_min/weight_max`` (kg) of the patient group, and ``current``
    (``False`` for rows whose status says superseded or historical).
    """
    if country not in DRL_SETS:
        raise ValueError(f"no DRL table for country {country!r}; available: {sorted(DRL_SETS)}")
    with resources.files("dmslab.data").joinpath(DRL_SETS[country]).open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={"clinical_indication": str})
    df["clinical_indication"] = df["clinical_indication"].fillna("")
    df["metric"] = [_metric_of(q, m) for q, m in zip(df["quantity"], df["modality"], strict=True)]
    df["value_canonical"] = df["value"] * [_UNIT_FACTORS[str(u).split(" ")[0]] for u in df["unit"]]
    bounds = [patient_group_bounds(g) for g in df["patient_group"]]
    df["age_min"] = [b.age[0] if b.age else (18.0 if b.adult else None) for b in bounds]
    df["age_max"] = [b.age[1] if b.age else None for b in bounds]
    df["weight_min"] = [b.weight[0] if b.weight else None for b in bounds]
    df["weight_max"] = [b.weight[1] if b.weight else None for b in bounds]
    df["current"] = ~df["status"].str.contains("^superseded|historical", case=False, regex=True)
    return df


def _metric_of(quantity: str, modality: str) -> str:
    q = quantity.lower()
    if q.startswith("ctdivol"):
        return "ctdivol_mgy"
    if q.startswith("dlp"):
        return "dlp_mgycm"
    if q.startswith("agd"):
        return "agd_mgy"
    if q.startswith("kap") and "per image" in q:
        return "dap_gym2"
    if q.startswith("kap") and "per procedure" in q:
        return "total_dap_gym2"
    raise ValueError(f"DRL quantity {quantity!r} ({modality}) has no dmslab metric")


@dataclass(frozen=True, slots=True)
class GroupBounds:
    """A patient group: ``adult`` or a paediatric band of age [a) or weight [kg), lower bound inclusive."""

    adult: bool
    age: tuple[float, float] | None = None
    weight: tuple[float, float] | None = None


_BAND = re.compile(r"^paediatric (age|weight) (?:(<|>)\s*([\d.]+)|([\d.]+)\s*-\s*([\d.]+)) ?(\w+)")


def patient_group_bounds(group: str) -> GroupBounds:
    """Parse a patient group label of the DRL tables.

    >>> patient_group_bounds("paediatric age 3-12 months")
    GroupBounds(adult=False, age=(0.25, 1.0), weight=None)
    >>> patient_group_bounds("paediatric weight <5 kg").weight
    (0.0, 5.0)
    """
    g = group.strip().lower()
    if g.startswith("adult"):
        return GroupBounds(True)
    m = _BAND.match(g)
    if not m:
        raise ValueError(f"patient group {group!r}: expected 'adult' or 'paediatric age|weight A-B unit'")
    kind, op, one, lo, hi, unit = m.groups()
    if op == "<":
        rng = (0.0, float(one))
    elif op == ">":
        rng = (float(one), 18.0 if kind == "age" else 1000.0)
    else:
        rng = (float(lo), float(hi))
    if kind == "age":
        scale = 1 / 12 if unit.startswith("month") else 1.0
        return GroupBounds(False, age=(rng[0] * scale, rng[1] * scale))
    return GroupBounds(False, weight=rng)


@lru_cache(maxsize=1)
def _protocol_rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    with resources.files("dmslab.data").joinpath("ct_protocol_map.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    return tuple((re.compile(p), e) for p, e in zip(df["pattern"], df["examination"], strict=True))


def map_ct_protocol(name: str | None) -> str | None:
    """The UK NDRL examination a local CT protocol name maps to (first matching rule), else ``None``.

    >>> map_ct_protocol("CT Pulmonary Angiogram")
    'CT Pulmonary Angiography (CTPA)'
    >>> map_ct_protocol("Something else") is None
    True
    >>> map_ct_protocol(float("nan")) is None  # a missing description in a DataFrame column
    True
    """
    if not isinstance(name, str) or not name:
        return None
    for pattern, exam in _protocol_rules():
        if pattern.search(name):
            return exam
    return None


def _drl(drls: pd.DataFrame, exam: str | None, quantity: str) -> float | None:
    rows = drls[(drls["examination"] == exam) & (drls["quantity"] == quantity) & (drls["modality"] == "CT")]
    return float(rows["value"].iloc[0]) if len(rows) else None


def ct_audit(store: Store, *, country: str = "UK", min_studies: int = 1,
             include_non_patient: bool = False) -> pd.DataFrame:
    """Median CTDIvol (per sequence) and DLP (per exam) per CT room × protocol against the national DRL.

    Studies that are not patient exams (``study.exclusion_reason``: QA, phantoms) count only with
    ``include_non_patient``.

    Returns
    -------
    DataFrame
        One row per room × protocol (study description) with ``n_studies``, the medians, the DRL values,
        their ratios and ``status`` (``above DRL`` when either median exceeds its DRL, ``no DRL`` when the
        protocol maps to no DRL row, else ``at or below DRL``).
    """
    st, eq, ev = table("study"), table("equipment"), table("ct_event")
    room = sa.func.coalesce(eq.c.room, eq.c.station_name, eq.c.display_name).label("room")
    patients = [] if include_non_patient else [st.c.exclusion_reason.is_(None)]
    studies = store.read(sa.select(st.c.id, room, st.c.study_description.label("protocol"), st.c.total_dlp_mgycm)
                         .select_from(st.join(eq, st.c.equipment_id == eq.c.id))
                         .where(st.c.modality == "CT", *patients))
    events = store.read(sa.select(ev.c.study_id, ev.c.ctdivol_mgy).where(
        ev.c.ctdivol_mgy.is_not(None),
        sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle")))
    if studies.empty:
        return pd.DataFrame(columns=_AUDIT_COLUMNS)
    drls = load_drls(country)
    ev_by = events.merge(studies[["id", "room", "protocol"]], left_on="study_id", right_on="id")
    ctdi = ev_by.groupby(["room", "protocol"])["ctdivol_mgy"].median().rename("median_ctdivol_mgy")
    grp = studies.groupby(["room", "protocol"]).agg(n_studies=("id", "size"),
                                                    median_dlp_mgycm=("total_dlp_mgycm", "median"))
    out = grp.join(ctdi).reset_index()
    out = out[out["n_studies"] >= min_studies].copy()
    out["examination"] = out["protocol"].map(map_ct_protocol)
    out["drl_ctdivol_mgy"] = [_drl(drls, e, "CTDIvol") for e in out["examination"]]
    out["drl_dlp_mgycm"] = [_drl(drls, e, "DLP") for e in out["examination"]]
    out["ctdivol_ratio"] = out["median_ctdivol_mgy"] / out["drl_ctdivol_mgy"]
    out["dlp_ratio"] = out["median_dlp_mgycm"] / out["drl_dlp_mgycm"]
    above = (out["ctdivol_ratio"] > 1) | (out["dlp_ratio"] > 1)
    no_drl = out["drl_ctdivol_mgy"].isna() & out["drl_dlp_mgycm"].isna()
    out["status"] = ["no DRL" if n else ("above DRL" if a else "at or below DRL")
                     for a, n in zip(above, no_drl, strict=True)]
    return out[_AUDIT_COLUMNS].sort_values(["room", "protocol"]).reset_index(drop=True)


# ---- DRL comparison at the right level (ICRP 135) ---------------------------------------------------------------
_REF_COLUMNS = ["standard_name", "metric", "drl", "examination", "clinical_indication", "patient_group", "source",
                "status"]


@cache
def _exam_map() -> pd.DataFrame:
    with resources.files("dmslab.data").joinpath("drl_exam_map.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def drl_references(drl_set: str = "UK", *, patient_group: str = "adult", store: Store | None = None,
                   at: dt.datetime | None = None, include_superseded: bool = False) -> pd.DataFrame:
    """Reference level per standard name × metric for one patient group, in the metric's canonical unit.

    ``drl_set`` is a national set (:data:`DRL_SETS`, mapped to standard names by ``dmslab/data/drl_exam_map.csv``)
    or ``"local"`` (the site's ``local_drl`` table, newest level valid at ``at``; needs ``store``). Clinical-
    indication DRLs (EU RP 195, UK) apply through the map's ``clinical_indication``. When several rows match,
    the newest year wins.
    """
    want = patient_group_bounds(patient_group)
    if drl_set == "local":
        if store is None:
            raise ValueError("drl_set='local' needs the store")
        loc = local_drls(store)
        if at is not None:
            loc = loc[loc["valid_from"] <= at]
        loc = loc[loc["patient_group"].map(patient_group_bounds) == want]
        loc = loc.sort_values("valid_from").drop_duplicates(["standard_name", "metric"], keep="last")
        return loc.assign(drl=loc["value"], examination=loc["standard_name"], source="local DRL",
                          status="local")[_REF_COLUMNS].reset_index(drop=True)
    drls = load_drls(drl_set)
    if not include_superseded:
        drls = drls[drls["current"]]
    drls = drls[drls["patient_group"].map(patient_group_bounds) == want]
    emap = _exam_map()
    emap = emap.loc[emap["country"] == drl_set, ["standard_name", "examination", "clinical_indication"]]
    out = emap.merge(drls, on=["examination", "clinical_indication"])
    out = out.sort_values("year", ascending=False).drop_duplicates(["standard_name", "metric"])
    return out.rename(columns={"value_canonical": "drl"})[_REF_COLUMNS].sort_values(
        ["standard_name", "metric"]).reset_index(drop=True)


def drl_audit(store: Store, *, drl_set: str = "UK", filters: Filters = Filters(),  # noqa: B008
              by: str = "room", min_n: int = 10, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Typical values (median per room or facility × standard name) against the DRL, at each metric's level.

    CT CTDIvol per sequence and DLP per exam, DX DAP per exposure, MG AGD per view, RF/XA DAP per exam
    (:data:`dmslab.analysis.stats.METRICS`). A group with fewer than ``min_n`` values is reported as
    ``too few`` and not judged. ``filters.patient_group`` selects the patients and the DRL rows (default adult).

    Returns
    -------
    DataFrame
        ``<by>, standard_name, metric, n, median, mean, drl, ratio (median / DRL), status, n_above (values
        above the DRL), source, drl_status`` where status is ``above DRL``, ``at or below DRL``, ``too few``
        or ``no DRL``.
    """
    if by not in ("room", "facility"):
        raise ValueError(f"by={by!r}: compare per 'room' or per 'facility'")
    group = filters.patient_group or "adult"
    flt = replace(filters, patient_group=group)
    refs = drl_references(drl_set, patient_group=group, store=store, at=filters.end)
    names = [n for n in (metrics or tuple(METRICS)) if not filters.modality or METRICS[n].modality == filters.modality]
    levels = {n: dict(zip(refs.loc[refs["metric"] == n, "standard_name"], refs.loc[refs["metric"] == n, "drl"],
                          strict=True)) for n in names}
    results = summaries(store, names, by=[by, "standard_name"], filters=flt, drl=levels) if names else {}
    parts = [s.assign(metric=n).merge(refs[refs["metric"] == n].drop(columns=["metric"]), on="standard_name",
                                      how="left") for n, s in results.items() if not s.empty]
    cols = [by, "standard_name", "metric", "n", "median", "mean", "drl", "ratio", "status", "n_above", "source",
            "drl_status"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True).rename(columns={"status": "drl_status"})
    out["ratio"] = out["median"] / out["drl"]
    out["status"] = np.select([out["drl"].isna(), out["n"] < min_n, out["ratio"] > 1],
                              ["no DRL", "too few", "above DRL"], "at or below DRL")
    return out[cols].sort_values([by, "standard_name", "metric"]).reset_index(drop=True)


def derive_local_drls(store: Store, *, filters: Filters = Filters(), by: str = "room",  # noqa: B008
                      min_n: int = 10, percentile: float = 75.0) -> pd.DataFrame:
    """Local DRLs: the ``percentile`` (default 75th, ICRP 135) of the room (or facility) medians.

    Only groups with at least ``min_n`` values count. Returns ``standard_name, metric, n_groups, n,
    local_drl`` (canonical unit of the metric).
    """
    audit = drl_audit(store, drl_set="UK", filters=filters, by=by, min_n=min_n)
    ok = audit[(audit["n"] >= min_n) & audit["standard_name"].notna()]
    rows = [{"standard_name": k[0], "metric": k[1], "n_groups": len(g), "n": int(g["n"].sum()),
             "local_drl": percentile_of_medians(g["median"], percentile)}
            for k, g in ok.groupby(["standard_name", "metric"])]
    return pd.DataFrame(rows, columns=["standard_name", "metric", "n_groups", "n", "local_drl"])


@dataclass(frozen=True, slots=True)
class LocalDrl:
    """A site DRL (one row of ``local_drl``); ``value`` in the canonical unit of ``metric`` (mGy, mGy·cm, Gy·m²).

    Raises
    ------
    ValueError
        For an unknown metric or patient group, or a value that is not > 0.
    """

    standard_name: str
    metric: str
    value: float
    valid_from: dt.datetime
    patient_group: str = "adult"
    clinical_indication: str | None = None
    entered_by: str | None = None
    derived_from: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} not in {sorted(METRICS)}")
        if not self.value > 0:
            raise ValueError(f"value {self.value!r} must be > 0 ({METRICS[self.metric].unit})")
        if not isinstance(self.valid_from, dt.datetime):
            raise TypeError(f"valid_from must be a datetime, not {type(self.valid_from).__name__}")
        patient_group_bounds(self.patient_group)


def set_local_drl(store: Store, level: LocalDrl) -> None:
    """Enter (or replace: same standard name, metric, patient group and date) a site DRL."""
    t = table("local_drl")
    row = {f: getattr(level, f) for f in level.__dataclass_fields__}
    row["modality"] = METRICS[level.metric].modality
    with store.engine.begin() as conn:
        conn.execute(t.delete().where(t.c.standard_name == level.standard_name, t.c.metric == level.metric,
                                      t.c.patient_group == level.patient_group, t.c.valid_from == level.valid_from))
        conn.execute(t.insert(), [row])


def local_drls(store: Store) -> pd.DataFrame:
    """The site's DRLs (``local_drl`` table)."""
    return store.table("local_drl")


def study_exceedances(store: Store, *, drl_set: str = "UK", metric: str = "dlp_mgycm", factor: float = 1.0,
                      filters: Filters = Filters()) -> pd.DataFrame:  # noqa: B008
    """Individual exams whose per-exam ``metric`` is above ``factor`` × the DRL of their standard name.

    Returns ``study_uid, room, standard_name, value, drl, ratio`` sorted by ratio (largest first). A single
    exam above a DRL is a prompt to look, not a breach: DRLs apply to medians.
    """
    from dmslab.analysis.stats import metric_values

    if METRICS[metric].level != "study":
        raise ValueError(f"metric {metric!r} is per event; use a per-exam metric such as 'dlp_mgycm'")
    group = filters.patient_group or "adult"
    flt = replace(filters, patient_group=group)
    refs = drl_references(drl_set, patient_group=group, store=store, at=filters.end)
    ref = refs[refs["metric"] == metric][["standard_name", "drl"]]
    vals = metric_values(store, metric, by=["room", "standard_name"], filters=flt, extra=["study_uid"])
    out = vals.merge(ref, on="standard_name")
    out = out[out["value"] > factor * out["drl"]].assign(ratio=lambda d: d["value"] / d["drl"])
    return out[["study_uid", "room", "standard_name", "value", "drl", "ratio"]] \
        .sort_values("ratio", ascending=False).reset_index(drop=True)
