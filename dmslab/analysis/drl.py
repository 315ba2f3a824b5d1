"""Diagnostic reference levels: tables and the CT audit of facility medians against national DRLs.

A DRL is compared with a *typical value*: the median of the DRL quantity over a room's patients for one
examination (ICRP 135). UK CT NDRLs give CTDIvol **per sequence** and DLP **per complete examination**,
so the audit takes the median of per-event CTDIvol (localizers and events without dose excluded) and the
median of per-study total DLP separately.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources

import pandas as pd
import sqlalchemy as sa

from dmslab.store import Store, table

__all__ = ["ct_audit", "load_drls", "map_ct_protocol"]

_AUDIT_COLUMNS = ["room", "protocol", "examination", "n_studies", "median_ctdivol_mgy", "drl_ctdivol_mgy",
                  "ctdivol_ratio", "median_dlp_mgycm", "drl_dlp_mgycm", "dlp_ratio", "status"]


@cache
def load_drls(country: str = "UK") -> pd.DataFrame:
    """National DRL rows (with their source and edition) for ``country``; only ``UK`` is shipped yet."""
    if country != "UK":
        raise ValueError(f"no DRL table for country {country!r}; available: ['UK']")
    with resources.files("dmslab.data").joinpath("drl_uk.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


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
    """
    if not name:
        return None
    for pattern, exam in _protocol_rules():
        if pattern.search(name):
            return exam
    return None


def _drl(drls: pd.DataFrame, exam: str | None, quantity: str) -> float | None:
    rows = drls[(drls["examination"] == exam) & (drls["quantity"] == quantity) & (drls["modality"] == "CT")]
    return float(rows["value"].iloc[0]) if len(rows) else None


def ct_audit(store: Store, *, country: str = "UK", min_studies: int = 1) -> pd.DataFrame:
    """Median CTDIvol (per sequence) and DLP (per exam) per CT room × protocol against the national DRL.

    Returns
    -------
    DataFrame
        One row per room × protocol (study description) with ``n_studies``, the medians, the DRL values,
        their ratios and ``status`` (``above DRL`` when either median exceeds its DRL, ``no DRL`` when the
        protocol maps to no DRL row, else ``at or below DRL``).
    """
    st, eq, ev = table("study"), table("equipment"), table("ct_event")
    room = sa.func.coalesce(eq.c.room, eq.c.station_name, eq.c.display_name).label("room")
    studies = store.read(sa.select(st.c.id, room, st.c.study_description.label("protocol"), st.c.total_dlp_mgycm)
                         .select_from(st.join(eq, st.c.equipment_id == eq.c.id)).where(st.c.modality == "CT"))
    events = store.read(sa.select(ev.c.study_id, ev.c.ctdivol_mgy).where(
        ev.c.ctdivol_mgy.is_not(None), sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle")))
    if studies.empty:
        return pd.DataFrame(columns=_AUDIT_COLUMNS)
    drls = load_drls(country)
    ev_by = events.merge(studies[["id", "room", "protocol"]], left_on="study_id", right_on="id")
    ctdi = ev_by.groupby(["room", "protocol"])["ctdivol_mgy"].median().rename("median_ctdivol_mgy")
    grp = studies.groupby(["room", "protocol"]).agg(n_studies=("id", "size"), median_dlp_mgycm=("total_dlp_mgycm", "median"))
    out = grp.join(ctdi).reset_index()
    out = out[out["n_studies"] >= min_studies].copy()
    out["examination"] = out["protocol"].map(map_ct_protocol)
    out["drl_ctdivol_mgy"] = [_drl(drls, e, "CTDIvol") for e in out["examination"]]
    out["drl_dlp_mgycm"] = [_drl(drls, e, "DLP") for e in out["examination"]]
    out["ctdivol_ratio"] = out["median_ctdivol_mgy"] / out["drl_ctdivol_mgy"]
    out["dlp_ratio"] = out["median_dlp_mgycm"] / out["drl_dlp_mgycm"]
    above = (out["ctdivol_ratio"] > 1) | (out["dlp_ratio"] > 1)
    no_drl = out["drl_ctdivol_mgy"].isna() & out["drl_dlp_mgycm"].isna()
    out["status"] = ["no DRL" if n else ("above DRL" if a else "at or below DRL") for a, n in zip(above, no_drl, strict=True)]
    return out[_AUDIT_COLUMNS].sort_values(["room", "protocol"]).reset_index(drop=True)
