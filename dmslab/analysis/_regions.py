"""Target Region codes (CID 4030, as ``SCHEME:VALUE`` with SRT mapped to SCT) -> the body region of the dose
tables (``dmslab/data/ct_regions.csv``); matched on the code, never on its meaning."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["REGIONS", "Region", "region_of"]

#: Regions of the CT k-factor tables (AAPM Report 96 Table 4 rows).
REGIONS = ("head", "head_neck", "neck", "chest", "abdomen_pelvis", "trunk")


@dataclass(frozen=True, slots=True)
class Region:
    """The table region of a Target Region code; ``approximation`` says when the code is not exactly the region."""

    code: str
    region: str
    approximation: str | None


@lru_cache(maxsize=1)
def _table() -> dict[str, Region]:
    with resources.files("dmslab.data").joinpath("ct_regions.csv").open() as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return {r.code: Region(r.code, r.region, r.approximation or None) for r in df.itertuples()}


def region_of(code: str | None) -> Region | None:
    """The region of a Target Region code such as ``SCT:51185008`` (``None``: not mapped or no code)."""
    if not code:
        return None
    scheme, _, value = str(code).partition(":")
    scheme = "SCT" if scheme.upper() in ("SRT", "SNM3", "SCT") else scheme.upper()
    return _table().get(f"{scheme}:{value.strip()}")
