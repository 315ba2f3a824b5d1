"""The MPPS records: one performed procedure step as stored (:class:`MppsRecord`) and one N-CREATE / N-SET as
received (:class:`MppsMessage`), in canonical units (``data_contracts/mpps.toml``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace
from typing import Any

from dmslab.errors import MppsError

__all__ = ["MPPS_STATUSES", "MppsMessage", "MppsRecord"]


#: Performed Procedure Step Status (0040,0252) values (PS3.3 C.4.14).
MPPS_STATUSES = ("IN PROGRESS", "COMPLETED", "DISCONTINUED")


@dataclass(frozen=True, slots=True)
class MppsRecord:
    """One performed procedure step in canonical units, as stored (``data_contracts/mpps.toml``)."""

    sop_instance_uid: str
    status: str
    updated_at: dt.datetime
    n_sets: int = 0
    pps_id: str | None = None
    start_datetime: dt.datetime | None = None
    end_datetime: dt.datetime | None = None
    station_ae: str | None = None
    station_name: str | None = None
    modality: str | None = None
    study_uid: str | None = None
    description: str | None = None
    procedure_code: str | None = None
    fluoro_time_s: float | None = None
    n_exposures: int | None = None
    entrance_dose_mgy: float | None = None
    exposed_area_m2: float | None = None
    dap_gym2: float | None = None
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    n_ct_exposures: int | None = None
    n_exposure_dose_items: int | None = None
    dose_comment: str | None = None
    n_series: int | None = None
    flags: str | None = None

    def __post_init__(self) -> None:
        if self.status not in MPPS_STATUSES:
            raise MppsError("invalid_attribute_value", f"Performed Procedure Step Status {self.status!r}; "
                                                       f"allowed: {', '.join(MPPS_STATUSES)}")

    def checked(self) -> MppsRecord:
        """The record with ``flags`` set from the contract's plausibility ranges."""
        from dmslab.contracts import check_values

        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "flags"}
        return replace(self, flags="; ".join(check_values("mpps", values)) or None)


#: Fields of :class:`MppsRecord` an N-CREATE or N-SET may carry (the others are the store's bookkeeping).
_MPPS_CHANGEABLE = frozenset(f.name for f in fields(MppsRecord)) - {"sop_instance_uid", "updated_at", "n_sets",
                                                                   "flags"}


@dataclass(frozen=True, slots=True)
class MppsMessage:
    """One N-CREATE or N-SET of a step, as received: the record fields it carries, in canonical units.

    An N-SET changes just the fields it carries, so ``changes`` holds ``(field, value)`` pairs of
    :class:`MppsRecord` fields, only those present in the request.
    """

    operation: str
    sop_instance_uid: str
    received_at: dt.datetime
    changes: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.operation not in ("create", "set"):
            raise ValueError(f"operation must be 'create' or 'set', got {self.operation!r}")
        unknown = sorted({name for name, _v in self.changes} - _MPPS_CHANGEABLE)
        if unknown:
            raise ValueError(f"not MPPS record fields: {unknown}; allowed: {sorted(_MPPS_CHANGEABLE)}")

    def created(self) -> MppsRecord:
        """The step an N-CREATE makes (``MppsError`` ``missing_attribute`` without a status)."""
        values = dict(self.changes)
        if not values.get("status"):
            raise MppsError("missing_attribute", "N-CREATE without Performed Procedure Step Status (0040,0252)")
        return MppsRecord(sop_instance_uid=self.sop_instance_uid, updated_at=self.received_at, **values).checked()

    def applied_to(self, old: MppsRecord) -> MppsRecord:
        """The step after this N-SET (``MppsError`` ``processing_failure`` once the step is final)."""
        if old.status != "IN PROGRESS":
            raise MppsError("processing_failure", f"MPPS {old.sop_instance_uid} is {old.status}: may no longer be "
                                                  "updated")
        values = dict(self.changes)
        if not values.get("study_uid"):
            values.pop("study_uid", None)  # an N-SET without the scheduled step keeps the study link
        return replace(old, **values, updated_at=self.received_at, n_sets=old.n_sets + 1).checked()
