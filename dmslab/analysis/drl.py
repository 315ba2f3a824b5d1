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

from dmslab.analysis.parameters import describe_period
from dmslab.analysis.stats import METRICS, Filters, percentile_of_medians, summaries
from dmslab.store import PatientBand, Store, local_drl_rows, patient_band, replace_local_drl

__all__ = ["DRL_SETS", "MIN_N", "TEXT_COLUMNS", "GroupBounds", "LocalDrl", "audit_text", "derive_local_drls",
           "drl_audit", "drl_references", "load_drls", "local_drls", "map_ct_protocol", "patient_group_bounds",
           "set_local_drl", "study_exceedances"]

logger = logging.getLogger(__name__)

#: National / international DRL tables shipped as package data (``dmslab/data/drl_<file>.csv``).
DRL_SETS = {"UK": "drl_uk.csv", "DE": "drl_de.csv", "EU": "drl_eu.csv", "US": "drl_us.csv",
            "INT": "drl_international.csv"}
#: Canonical-unit factor per unit string of the tables (cGy·cm² = 1e-6 Gy·m², Gy·cm² = 1e-4 Gy·m²).
_UNIT_FACTORS = {"mGy": 1.0, "mGy.cm": 1.0, "cGy.cm2": 1e-6, "Gy.cm2": 1e-4}

#: The minimum number of values for a typical value (median) to be judged against a DRL (ICRP 135 and the UK
#: NDRL surveys ask for at least 10 patients); the audit, the notebooks and the pipelines all default to it.
MIN_N = 10


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


#: The bounds of a patient group of the DRL tables: the store's :class:`~dmslab.store.PatientBand`, parsed by
#: :func:`~dmslab.store.patient_band` (one grammar for the DRL rows and for the filters that select patients).
GroupBounds = PatientBand
patient_group_bounds = patient_band


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


# ---- DRL comparison at the right level (ICRP 135) ---------------------------------------------------------------
_REF_COLUMNS = ["standard_name", "metric", "drl", "examination", "clinical_indication", "patient_group", "source",
                "status"]


@cache
def _exam_map() -> pd.DataFrame:
    with resources.files("dmslab.data").joinpath("drl_exam_map.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@cache
def _name_modalities() -> dict[str, str]:
    from dmslab.analysis.naming import standard_names

    names = standard_names()
    return dict(zip(names["standard_name"], names["modality"], strict=True))


def _modality_of(standard_name: str) -> str | None:
    return _name_modalities().get(standard_name)


def _drl_modalities(label: str) -> set[str]:
    """The modalities a DRL table's modality label covers: ``"RF/XA (fluoroscopy)"`` → ``{"RF", "XA"}``.

    >>> sorted(_drl_modalities("DX/CR (projection radiography)"))
    ['CR', 'DX']
    """
    return set(str(label).split(" ")[0].split("/"))


def drl_references(drl_set: str = "UK", *, patient_group: str = "adult", store: Store | None = None,
                   at: dt.datetime | None = None, include_superseded: bool = False) -> pd.DataFrame:
    """Reference level per standard name × metric for one patient group, in the metric's canonical unit.

    ``drl_set`` is a national set (:data:`DRL_SETS`, mapped to standard names by ``dmslab/data/drl_exam_map.csv``)
    or ``"local"`` (the site's ``local_drl`` table, newest level valid at ``at``; needs ``store``). Clinical-
    indication DRLs (EU RP 195, UK) apply through the map's ``clinical_indication``. A row applies to a standard
    name when the examination (and indication), the modality (the standard name's, ``dmslab/data/radlex.csv``),
    the patient group and, unless ``include_superseded``, the ``current`` status match; the quantity gives the
    metric. When several rows match, the newest year wins.
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
    same = [_modality_of(n) in _drl_modalities(m) for n, m in zip(out["standard_name"], out["modality"], strict=True)]
    out = out[np.array(same, dtype=bool)]
    out = out.sort_values("year", ascending=False, kind="stable").drop_duplicates(["standard_name", "metric"])
    return out.rename(columns={"value_canonical": "drl"})[_REF_COLUMNS].sort_values(
        ["standard_name", "metric"]).reset_index(drop=True)


def drl_audit(store: Store, *, drl_set: str = "UK", filters: Filters = Filters(),
              by: str = "room", min_n: int = MIN_N, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
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

    Examples
    --------
    Eleven CT head exams of room CT1 (DLP 700 … 900 mGy·cm, median 800) against the UK DRL of 790 mGy·cm:

    >>> from dmslab.analysis._examples import example_store
    >>> from dmslab.analysis.parameters import notebook_filters
    >>> store = example_store()
    >>> audit = drl_audit(store, drl_set="UK", filters=notebook_filters(modality="CT"))
    >>> audit[audit["metric"] == "dlp_mgycm"][["room", "standard_name", "n", "median", "drl", "status"]]
      room           standard_name   n  median    drl     status
    1  CT1  CT Head wo IV Contrast  11   800.0  790.0  above DRL
    >>> drl_audit(store, filters=notebook_filters(period_end="2026-01-10"))[["metric", "n", "status"]]
            metric  n   status
    0  ctdivol_mgy  5  too few
    1    dlp_mgycm  5  too few
    >>> store.close()
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


def derive_local_drls(store: Store, *, filters: Filters = Filters(), by: str = "room",
                      min_n: int = MIN_N, percentile: float = 75.0) -> pd.DataFrame:
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
    row = {f: getattr(level, f) for f in level.__dataclass_fields__}
    replace_local_drl(store, {**row, "modality": METRICS[level.metric].modality})


def local_drls(store: Store) -> pd.DataFrame:
    """The site's DRLs (``local_drl`` table)."""
    return local_drl_rows(store)


def study_exceedances(store: Store, *, drl_set: str = "UK", metric: str = "dlp_mgycm", factor: float = 1.0,
                      filters: Filters = Filters()) -> pd.DataFrame:
    """Individual exams whose per-exam ``metric`` is above ``factor`` × the DRL of their standard name.

    Returns ``study_uid, study_datetime, room, standard_name, value, drl, ratio`` sorted by ratio (largest first).
    A single exam above a DRL is a prompt to look, not a breach: DRLs apply to medians.
    """
    from dmslab.analysis.stats import metric_values

    if METRICS[metric].level != "study":
        raise ValueError(f"metric {metric!r} is per event; use a per-exam metric such as 'dlp_mgycm'")
    group = filters.patient_group or "adult"
    flt = replace(filters, patient_group=group)
    refs = drl_references(drl_set, patient_group=group, store=store, at=filters.end)
    ref = refs[refs["metric"] == metric][["standard_name", "drl"]]
    levels = (factor * ref.groupby("standard_name")["drl"].min()).to_dict()  # the database keeps what is above
    vals = metric_values(store, metric, by=["room", "standard_name"], filters=flt,
                         extra=["study_uid", "study_datetime"], above=levels)
    out = vals.merge(ref, on="standard_name")
    out = out[out["value"] > factor * out["drl"]].assign(ratio=lambda d: d["value"] / d["drl"])
    return out[["study_uid", "study_datetime", "room", "standard_name", "value", "drl", "ratio"]] \
        .sort_values("ratio", ascending=False).reset_index(drop=True)


# ---- the audit as text (``dmslab audit``) -------------------------------------------------------------------------
#: Columns of :func:`drl_audit` shown by :func:`audit_text` (``source`` is printed once above the table).
TEXT_COLUMNS = ("standard_name", "metric", "n", "median", "mean", "drl", "ratio", "status", "n_above")


def _cell(value: object) -> str:
    """One table cell: floats to 4 significant digits, missing values as ``-``; never two spaces in a row."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return " ".join(str(value).split()) or "-"


def audit_text(audit: pd.DataFrame, *, drl_set: str, filters: Filters = Filters(),
               by: str = "room", min_n: int = MIN_N) -> str:
    """:func:`drl_audit`'s table as aligned text: a heading with what was audited, then one line per row.

    Columns are separated by at least two spaces and no cell holds two spaces in a row, so the lines split
    back into cells with ``re.split(r"\\s{2,}", line)``.
    """
    modality = filters.modality or "every modality"
    rooms = ", ".join(filters.rooms) if filters.rooms else "every room"
    head = [f"DRL audit ({drl_set}): {by} medians per standard name against the DRL, {modality}, {rooms}",
            f"period: {describe_period(filters)}; patients: {filters.patient_group or 'adult'}; "
            f"a median needs at least {min_n} values (else 'too few')"]
    sources = sorted({str(s) for s in audit.get("source", pd.Series(dtype=str)).dropna()})
    head += [f"source: {s}" for s in sources]
    if audit.empty:
        return "\n".join([*head, "", "(no studies match these filters)"])
    cols = [by, *TEXT_COLUMNS]
    rows = [cols, *([_cell(v) for v in r] for r in audit[cols].itertuples(index=False))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([*head, "", *lines])
