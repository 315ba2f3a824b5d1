"""Turn content items into record field values in canonical units, collecting unit fixes and flags."""

from __future__ import annotations

import logging
import math
from statistics import fmean
from typing import Any

from dmslab.codes import EXPOSURE_TIME_RETIRED, CodeKey, label_for
from dmslab.contracts import check_values
from dmslab.errors import UnknownUnitError, VendorQuirkWarning, warn_and_log
from dmslab.ingest.rdsr._tree import Item
from dmslab.quirks import note
from dmslab.units import convert

__all__ = ["Extractor", "NumSpec"]

logger = logging.getLogger(__name__)

#: code -> (record field, quantity class of units_map.csv)
NumSpec = dict[CodeKey, tuple[str, str]]

#: Fields whose unit must be known: an unknown unit on these rejects the whole object.
DOSE_FIELDS = frozenset(
    {"ctdivol_mgy", "dlp_mgycm", "total_dlp_mgycm", "dap_gym2", "rp_dose_gy", "agd_mgy", "dap_total_gym2",
     "rp_total_gy", "fluoro_dap_gym2", "fluoro_rp_gy", "acq_dap_gym2", "acq_rp_gy", "agd_left_mgy",
     "agd_right_mgy", "agd_both_mgy"}
)
_INT_FIELDS = frozenset({"n_sources", "n_frames", "n_events_reported", "phantom_cm"})


class Extractor:
    """Collects the values of one record.

    Parameters
    ----------
    table
        Contract table the values belong to (for plausibility checks).
    where
        Where in the document the record comes from, for messages (``"event[3]"``).
    """

    def __init__(self, table: str, where: str) -> None:
        self.table = table
        self.where = where
        self.values: dict[str, Any] = {}
        self.fixes: list[str] = []
        self.flags: list[str] = []

    def num(self, item: Item | None, field: str, quantity: str) -> float | None:
        """Convert a NUM item to ``field`` in canonical units; ``None`` when absent or empty."""
        if item is None or item.vt != "NUM":
            return None
        value = self._number(item, field)
        if value is None:
            return None
        try:
            conv = convert(value, item.unit, quantity)
        except UnknownUnitError:
            if field in DOSE_FIELDS:
                raise
            self.flags.append(f"{field}: unknown unit {item.unit!r}, value {value!r} not stored")
            return None
        if conv.fixed_from == "(missing)":
            self.fixes.append(note("unit-missing", field))
        elif conv.fixed_from is not None:
            self.fixes.append(f"{field}: {conv.fixed_from}")
        if item.concept == EXPOSURE_TIME_RETIRED:
            self.fixes.append(note("retired-exposure-time", field))
        out: float = conv.value
        if field in _INT_FIELDS:
            if not math.isfinite(out):
                self.flags.append(f"{field}={out!r}: not a finite number, not stored")
                return None
            return int(round(out))
        return out

    def _number(self, item: Item, field: str) -> float | None:
        """The item's number: the mean of a multi-value, read through vendor text where needed."""
        numbers: tuple[float, ...] = item.value or ()
        if item.bad_number is not None:
            self.fixes.append(note("numeric-slash-list", f"{field} {item.bad_number!r}"))
            warn_and_log(f"{self.where}.{field}: numeric text {item.bad_number!r} read as {numbers}",
                         VendorQuirkWarning, logger=logger)
        if not numbers:
            return None
        if len(numbers) > 1:
            self.fixes.append(note("numeric-multi-value", f"{field} mean of {len(numbers)} values"))
            return fmean(numbers)
        return numbers[0]

    def take(self, index: dict[CodeKey, list[Item]], spec: NumSpec) -> None:
        """Fill every field of ``spec`` found in ``index`` (first item of each concept)."""
        for code, (field, quantity) in spec.items():
            items = index.get(code)
            if items and field not in self.values:
                v = self.num(items[0], field, quantity)
                if v is not None:
                    self.values[field] = v

    def text(self, index: dict[CodeKey, list[Item]], code: CodeKey, field: str) -> None:
        """Fill ``field`` with the first TEXT/UIDREF/CODE meaning of ``code``."""
        items = index.get(code)
        if not items:
            return
        it = items[0]
        if it.vt == "CODE":
            self.values[field] = it.meaning
        elif isinstance(it.value, str) and it.value:
            self.values[field] = it.value

    def code(self, index: dict[CodeKey, list[Item]], code: CodeKey, field: str, *, meaning_field: str | None = None,
             labelled: bool = True) -> None:
        """Fill ``field`` with the label (or SCHEME:VALUE) of the first CODE item of ``code``."""
        items = index.get(code)
        if not items or not isinstance(items[0].value, CodeKey):
            return
        key = items[0].value
        self.values[field] = label_for(key) if labelled else f"{key.scheme}:{key.value}"
        if meaning_field is not None:
            self.values[meaning_field] = items[0].meaning

    def build(self, cls: type, **extra: Any) -> Any:
        """Construct the record, checking every value against the contract first."""
        values = {**self.values, **extra}
        flags = list(self.flags) + list(check_values(self.table, values))
        return cls(**values, flags=tuple(flags), unit_fixes=tuple(self.fixes))
