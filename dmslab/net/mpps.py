"""MPPS: a Modality Performed Procedure Step SCP (N-CREATE / N-SET) that keeps the steps' dose content.

Older CT and fluoroscopy systems send their dose only in MPPS (Radiation Dose module: total fluoroscopy time,
number of exposures, entrance dose, exposed area, dose-area product, CT exposure items). Each step is one row
of the ``mpps`` table (``data_contracts/mpps.toml``), keyed by the MPPS SOP Instance UID: N-CREATE inserts it,
N-SET updates it until the step is COMPLETED or DISCONTINUED. Values are stored in canonical units; an
implausible value is stored as sent and flagged. The row carries the Study Instance UID of the scheduled
step and, when the study is in the store, its ``study_id``.

References: DICOM PS3.4 Annex F (Modality Performed Procedure Step SOP Class), PS3.3 C.4.13-C.4.18.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt

from dmslab.contracts import check_values
from dmslab.net.qr import set_nodelay

__all__ = ["MPPS_SOP_CLASS", "STATUSES", "MppsError", "MppsRecord", "MppsWriter", "link_mpps",
           "mpps_handlers", "mpps_values", "start_mpps_scp"]

logger = logging.getLogger(__name__)

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
STATUSES = ("IN PROGRESS", "COMPLETED", "DISCONTINUED")
#: DIMSE statuses (PS3.7 C.4.2 / PS3.4 F.7.2): named, not hex, where they are used.
SUCCESS, INVALID_ATTRIBUTE_VALUE, PROCESSING_FAILURE = 0x0000, 0x0106, 0x0110
DUPLICATE_INSTANCE, NO_SUCH_INSTANCE, MISSING_ATTRIBUTE = 0x0111, 0x0112, 0x0120
_DLP_IN_TEXT = re.compile(r"DLP\D{0,20}?(\d+(?:\.\d+)?)", re.IGNORECASE)


class MppsError(Exception):
    """An MPPS request that cannot be applied; ``status`` is the DIMSE status to answer with."""

    def __init__(self, status: int, comment: str) -> None:
        super().__init__(comment)
        self.status = status


@dataclass(frozen=True, slots=True)
class MppsRecord:
    """One performed procedure step in canonical units (see ``data_contracts/mpps.toml``)."""

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
        if self.status not in STATUSES:
            raise MppsError(INVALID_ATTRIBUTE_VALUE,
                            f"Performed Procedure Step Status {self.status!r}; allowed: {', '.join(STATUSES)}")

    def checked(self) -> MppsRecord:
        """The record with ``flags`` set from the contract's plausibility ranges."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "flags"}
        problems = check_values("mpps", values)
        return dataclasses.replace(self, flags="; ".join(problems) or None)


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _number(ds: Dataset, keyword: str, factor: float = 1.0) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value) * factor
    except (TypeError, ValueError) as exc:
        raise MppsError(INVALID_ATTRIBUTE_VALUE, f"{keyword}: not a number: {value!r}") from exc


def _datetime(ds: Dataset, date_kw: str, time_kw: str) -> dt.datetime | None:
    date = _text(ds, date_kw)
    if date is None:
        return None
    time = (_text(ds, time_kw) or "000000").split(".")[0].ljust(6, "0")[:6]
    try:
        return dt.datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise MppsError(INVALID_ATTRIBUTE_VALUE, f"{date_kw}/{time_kw}: {date!r} {time!r}") from exc


def _dose_values(ds: Dataset) -> dict[str, Any]:
    """Radiation Dose module values present in ``ds``, in canonical units."""
    out: dict[str, Any] = {}
    if "TotalTimeOfFluoroscopy" in ds:
        out["fluoro_time_s"] = _number(ds, "TotalTimeOfFluoroscopy")  # s
    if "TotalNumberOfExposures" in ds:
        n = _number(ds, "TotalNumberOfExposures")
        out["n_exposures"] = None if n is None else int(n)
    if "EntranceDoseInmGy" in ds:
        out["entrance_dose_mgy"] = _number(ds, "EntranceDoseInmGy")
    elif "EntranceDose" in ds:
        out["entrance_dose_mgy"] = _number(ds, "EntranceDose", 100.0)  # dGy -> mGy
    if "ExposedArea" in ds:
        out["exposed_area_m2"] = _number(ds, "ExposedArea", 1e-4)  # cm2 -> m2
    if "ImageAndFluoroscopyAreaDoseProduct" in ds:
        out["dap_gym2"] = _number(ds, "ImageAndFluoroscopyAreaDoseProduct", 1e-5)  # dGy.cm2 -> Gy.m2
    ct_items = list(ds.get("CTExposureSequence", []) or [])
    if ct_items or "CTDIvol" in ds:
        ctdis = [v for v in (_number(i, "CTDIvol") for i in [*ct_items, ds]) if v is not None]
        out["ctdivol_mgy"] = max(ctdis) if ctdis else None
        out["n_ct_exposures"] = len(ct_items)
    if "ExposureDoseSequence" in ds:
        out["n_exposure_dose_items"] = len(ds.ExposureDoseSequence or [])
    if "CommentsOnRadiationDose" in ds:
        comment = _text(ds, "CommentsOnRadiationDose")
        out["dose_comment"] = comment
        m = _DLP_IN_TEXT.search(comment or "")
        out["dlp_mgycm"] = float(m.group(1)) if m else None
    return out


def mpps_values(ds: Dataset) -> dict[str, Any]:
    """The record fields present in an N-CREATE attribute list or N-SET modification list.

    Only attributes present in ``ds`` appear in the result, so an N-SET changes just what it carries.

    Raises
    ------
    MppsError
        With status 0x0106 (invalid attribute value) when a value cannot be read.
    """
    out: dict[str, Any] = {}
    simple = {"pps_id": "PerformedProcedureStepID", "status": "PerformedProcedureStepStatus",
              "station_ae": "PerformedStationAETitle", "station_name": "PerformedStationName",
              "modality": "Modality", "description": "PerformedProcedureStepDescription"}
    for name, kw in simple.items():
        if kw in ds:
            out[name] = _text(ds, kw)
    if "status" in out and out["status"] is not None:
        out["status"] = out["status"].upper()
    if "PerformedProcedureStepStartDate" in ds:
        out["start_datetime"] = _datetime(ds, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime")
    if "PerformedProcedureStepEndDate" in ds:
        out["end_datetime"] = _datetime(ds, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")
    steps = list(ds.get("ScheduledStepAttributesSequence", []) or [])
    if steps:
        out["study_uid"] = _text(steps[0], "StudyInstanceUID")
    codes = list(ds.get("ProcedureCodeSequence", []) or [])
    if codes:
        out["procedure_code"] = f"{_text(codes[0], 'CodingSchemeDesignator')}:{_text(codes[0], 'CodeValue')}"
    if "PerformedSeriesSequence" in ds:
        out["n_series"] = len(ds.PerformedSeriesSequence or [])
    out.update(_dose_values(ds))
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MppsWriter:
    """Writes MPPS steps to the store at ``store_url`` (one engine, thread-safe for the SCP's associations)."""

    def __init__(self, store_url: str) -> None:
        from dmslab.store import Store
        from dmslab.store.schema import table

        self._store = Store(store_url)
        self._table = table("mpps")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the database connections."""
        self._store.close()

    def get(self, sop_instance_uid: str, conn: sa.Connection | None = None) -> MppsRecord | None:
        """The stored step, or ``None`` (read on ``conn`` when given)."""
        if conn is None:
            with self._store.engine.connect() as own:
                return self.get(sop_instance_uid, own)
        row = conn.execute(sa.select(self._table).where(self._table.c.sop_instance_uid == sop_instance_uid))
        found = row.mappings().first()
        if found is None:
            return None
        names = {f.name for f in dataclasses.fields(MppsRecord)}
        return MppsRecord(**{k: v for k, v in found.items() if k in names})

    def create(self, sop_instance_uid: str, ds: Dataset) -> MppsRecord:
        """Apply an N-CREATE; MppsError 0x0111 when the step exists, 0x0120 without a status."""
        values = mpps_values(ds)
        if not values.get("status"):
            raise MppsError(MISSING_ATTRIBUTE, "N-CREATE without Performed Procedure Step Status (0040,0252)")
        record = MppsRecord(sop_instance_uid=sop_instance_uid, updated_at=_now(), **values).checked()
        with self._lock, self._store.engine.begin() as conn:
            exists = conn.execute(sa.select(self._table.c.id)
                                  .where(self._table.c.sop_instance_uid == sop_instance_uid)).first()
            if exists is not None:
                raise MppsError(DUPLICATE_INSTANCE, f"MPPS {sop_instance_uid} already exists")
            conn.execute(sa.insert(self._table).values(**self._row(record), study_id=self._study_id(conn, record)))
        return record

    def update(self, sop_instance_uid: str, ds: Dataset) -> MppsRecord:
        """Apply an N-SET; MppsError 0x0112 for an unknown step, 0x0110 when the step is already final."""
        values = mpps_values(ds)
        if not values.get("study_uid"):
            values.pop("study_uid", None)  # an N-SET without the scheduled step keeps the study link
        with self._lock, self._store.engine.begin() as conn:
            old = self.get(sop_instance_uid, conn)
            if old is None:
                raise MppsError(NO_SUCH_INSTANCE, f"no MPPS {sop_instance_uid} (N-CREATE first)")
            if old.status != "IN PROGRESS":
                raise MppsError(PROCESSING_FAILURE, f"MPPS {sop_instance_uid} is {old.status}: may no longer be "
                                                    "updated")
            if "status" in values and not values["status"]:
                raise MppsError(INVALID_ATTRIBUTE_VALUE, "empty Performed Procedure Step Status")
            record = dataclasses.replace(old, **values, updated_at=_now(), n_sets=old.n_sets + 1).checked()
            conn.execute(sa.update(self._table).where(self._table.c.sop_instance_uid == sop_instance_uid)
                         .values(**self._row(record), study_id=self._study_id(conn, record)))
        return record

    @staticmethod
    def _row(record: MppsRecord) -> dict[str, Any]:
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}

    @staticmethod
    def _study_id(conn: sa.Connection, record: MppsRecord) -> int | None:
        return _find_study(conn, record.study_uid, record.modality)


_STUDY_MODALITY = {"XA": "RF", "CR": "DX", "PX": "DX", "IO": "DX", "PT": "NM"}


def _find_study(conn: sa.Connection, study_uid: str | None, modality: str | None) -> int | None:
    """The study row of ``study_uid`` (the one of the same modality when the exam has several)."""
    from dmslab.store.schema import table

    if not study_uid:
        return None
    st = table("study")
    rows = conn.execute(sa.select(st.c.id, st.c.modality).where(st.c.study_uid == study_uid)).all()
    want = _STUDY_MODALITY.get(modality or "", modality)
    for sid, mod in rows:
        if mod == want:
            return int(sid)
    return int(rows[0][0]) if rows else None


def link_mpps(store_url: str) -> int:
    """Fill ``mpps.study_id`` for steps whose study has arrived in the store since; return how many."""
    from dmslab.store import Store
    from dmslab.store.schema import table

    store = Store(store_url)
    t, n = table("mpps"), 0
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(sa.select(t.c.id, t.c.study_uid, t.c.modality)
                                .where(t.c.study_id.is_(None), t.c.study_uid.is_not(None))).all()
            for row_id, study_uid, modality in rows:
                sid = _find_study(conn, study_uid, modality)
                if sid is not None:
                    conn.execute(sa.update(t).where(t.c.id == row_id).values(study_id=sid))
                    n += 1
    finally:
        store.close()
    return n


def _reply(status: int, comment: str | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = status
    if comment:
        ds.ErrorComment = comment[:64]
    return ds


def _on_create(event: evt.Event, writer: MppsWriter) -> tuple[Dataset | int, Dataset | None]:
    """EVT_N_CREATE: insert the step; answer with the created attributes."""
    req = event.request
    uid = str(getattr(req, "AffectedSOPInstanceUID", None) or generate_uid())
    try:
        ds = event.attribute_list
        record = writer.create(uid, ds)
    except MppsError as exc:
        logger.warning("MPPS N-CREATE %s refused: %s", uid, exc)
        return _reply(exc.status, str(exc)), None
    logger.info("MPPS %s created: %s, study %s", uid, record.status, record.study_uid)
    ds.SOPInstanceUID = uid  # returned so an SCU that sent no UID learns it (pynetdicom sets the response UID)
    return SUCCESS, ds


def _on_set(event: evt.Event, writer: MppsWriter) -> tuple[Dataset | int, Dataset | None]:
    """EVT_N_SET: update the step while it is IN PROGRESS."""
    uid = str(getattr(event.request, "RequestedSOPInstanceUID", "") or "")
    try:
        mods = event.modification_list
        record = writer.update(uid, mods)
    except MppsError as exc:
        logger.warning("MPPS N-SET %s refused: %s", uid, exc)
        return _reply(exc.status, str(exc)), None
    logger.info("MPPS %s set: %s", uid, record.status)
    return SUCCESS, mods


def mpps_handlers(store_url: str) -> list[tuple[Any, Callable[..., Any], list[Any]]]:
    """Event handlers for an AE that also serves MPPS: ``[(EVT_N_CREATE, ...), (EVT_N_SET, ...)]``.

    Add them to the receiver's ``evt_handlers`` and its supported contexts with
    ``ae.add_supported_context(MPPS_SOP_CLASS)``.
    """
    writer = MppsWriter(store_url)
    return [(evt.EVT_N_CREATE, _on_create, [writer]), (evt.EVT_N_SET, _on_set, [writer])]


def start_mpps_scp(store_url: str, *, ae_title: str = "DMSLAB", host: str = "127.0.0.1", port: int = 0) -> Any:
    """Start a standalone MPPS SCP (with C-ECHO) in background threads; returns the pynetdicom server.

    ``port=0`` picks a free port (read it from ``server.server_address``). Stop with ``server.shutdown()``.
    """
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(MPPS_SOP_CLASS)
    ae.add_supported_context(VERIFICATION_SOP_CLASS)
    handlers: list[Any] = [(evt.EVT_CONN_OPEN, set_nodelay), *mpps_handlers(store_url)]
    server = ae.start_server((host, port), block=False, evt_handlers=handlers)
    if server is None:  # only with block=True
        raise RuntimeError("pynetdicom returned no server")
    logger.info("MPPS SCP %s listening on %s:%d", ae_title, *server.server_address[:2])
    return server
