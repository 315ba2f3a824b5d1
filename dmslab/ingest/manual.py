"""Manual entry and correction of CT dose values from a CSV file (``source_kind="manual"``).

One CSV row per irradiation event. Columns (header names, any order; empty cells mean "not given"):

* ``study_uid`` (required) and ``event_uid`` (optional: derived as a ``2.25.`` UID from the study UID and
  the row's position among the study's rows when absent; give it to correct an existing event);
* event columns: any column of ``data_contracts/ct_event.toml`` in its canonical unit (``acquisition_protocol``,
  ``acquisition_type``, ``ctdivol_mgy`` in mGy, ``dlp_mgycm`` in mGy.cm, ``phantom_cm`` 16 or 32,
  ``scan_length_mm`` in mm, ``kvp`` in kV …);
* study columns, equal on every row of a study: ``study_datetime`` (ISO 8601), ``station_name``,
  ``modality`` (default ``CT``), ``total_dlp_mgycm`` (mGy.cm), ``entered_by`` and ``reason`` (both required:
  who typed the values and why, kept in each event's ``comment``).

Every value is checked against the contracts; a bad value raises :class:`ManualEntryError` naming the CSV
line and column, so nothing half-read is ever stored.

Examples
--------
>>> import io
>>> text = "study_uid,ctdivol_mgy,dlp_mgycm,entered_by,reason\\n1.2.3,12.5,450,MPE,OCR review\\n"
>>> [r.ct_events[0].dlp_mgycm for r in read_manual_csv(io.StringIO(text))]
[450.0]
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from dmslab.contracts import check_values, load_contract
from dmslab.errors import DmslabError
from dmslab.ingest.ocr._common import event_uid
from dmslab.records import CtEventRecord, DoseReport, EquipmentRecord, SourceRecord, StudyRecord

__all__ = ["MANUAL_STUDY_COLUMNS", "ManualEntryError", "read_manual_csv"]

logger = logging.getLogger(__name__)

#: Study-level columns (the same value on every row of one study).
MANUAL_STUDY_COLUMNS = ("study_datetime", "station_name", "modality", "total_dlp_mgycm", "entered_by", "reason")
_EVENT_SKIP = frozenset({"event_uid", "flags", "unit_fixes", "comment", "origin"})
_MODALITIES = ("CT",)


class ManualEntryError(DmslabError, ValueError):
    """A manual-entry CSV has a missing, unknown or implausible value; the message names line and column."""


def _event_types() -> dict[str, str]:
    return {c.name: c.type for c in load_contract("ct_event").columns if c.name not in _EVENT_SKIP}


def _convert(text: str, kind: str, where: str) -> Any:
    try:
        if kind == "float":
            return float(text)
        if kind == "int":
            as_float = float(text)
            if not as_float.is_integer():
                raise ValueError(f"{text!r} is not a whole number")
            return int(as_float)
        if kind == "datetime":
            return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ManualEntryError(f"{where}: cannot read {text!r} as {kind} ({exc})") from exc
    return text


def _check(table: str, values: dict[str, Any], where: str) -> None:
    problems = check_values(table, values)
    if problems:
        raise ManualEntryError(f"{where}: " + "; ".join(problems))


def _study_values(row: dict[str, str], line: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in MANUAL_STUDY_COLUMNS:
        text = (row.get(col) or "").strip()
        kind = {"study_datetime": "datetime", "total_dlp_mgycm": "float"}.get(col, "str")
        out[col] = _convert(text, kind, f"line {line}, column {col}") if text else None
    for col in ("entered_by", "reason"):
        if not out[col]:
            raise ManualEntryError(f"line {line}, column {col}: required (who entered the values, and why)")
    out["modality"] = (out["modality"] or "CT").upper()
    if out["modality"] not in _MODALITIES:
        raise ManualEntryError(f"line {line}, column modality: {out['modality']!r} not allowed; allowed: {_MODALITIES}")
    _check("study", {"total_dlp_mgycm": out["total_dlp_mgycm"]}, f"line {line}, column total_dlp_mgycm")
    return out


def _event(row: dict[str, str], line: int, index: int, study: dict[str, Any]) -> CtEventRecord:
    values: dict[str, Any] = {}
    for col, kind in _event_types().items():
        text = (row.get(col) or "").strip()
        if text:
            values[col] = _convert(text, kind, f"line {line}, column {col}")
    for col, value in values.items():
        _check("ct_event", {col: value}, f"line {line}, column {col}")
    if values.get("phantom_cm") not in (None, 16, 32):
        raise ManualEntryError(f"line {line}, column phantom_cm: {values['phantom_cm']} not allowed; allowed: 16, 32")
    uid = (row.get("event_uid") or "").strip() or event_uid(row["study_uid"].strip(), "manual", index)
    comment = f"manual entry by {study['entered_by']}: {study['reason']}"
    return CtEventRecord(event_uid=uid, comment=comment, **values)


def _header(fieldnames: Iterable[str] | None) -> list[str]:
    names = [n.strip() for n in (fieldnames or [])]
    allowed = {"study_uid", "event_uid", *MANUAL_STUDY_COLUMNS, *_event_types()}
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ManualEntryError(f"line 1: unknown column(s) {unknown}; allowed: {sorted(allowed)}")
    if "study_uid" not in names:
        raise ManualEntryError("line 1: column study_uid is required")
    return names


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ManualEntryError(f"line {line}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc


def _rows(text: str) -> Iterator[dict[str, str]]:
    """The data rows under a checked header; a CSV syntax error raises :class:`ManualEntryError` with its line.

    The text is split as the csv module expects of a file opened with ``newline=""``: a line may end in
    ``\\r\\n``, ``\\n`` or a lone ``\\r``.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        reader.fieldnames = _header(reader.fieldnames)
        yield from reader
    except csv.Error as exc:
        raise ManualEntryError(f"line {reader.reader.line_num}: not readable as CSV ({exc})") from exc


def read_manual_csv(source: str | os.PathLike[str] | IO[str]) -> list[DoseReport]:
    """Read a manual-entry CSV into one :class:`~dmslab.records.DoseReport` per study, in file order.

    Parameters
    ----------
    source
        Path of a UTF-8 CSV file, or an open text stream.

    Raises
    ------
    ManualEntryError
        Unknown column, missing study UID / entered_by / reason, unreadable or implausible value (the message
        names the CSV line and column), or study columns that differ between rows of one study.
    """
    text = source.read() if hasattr(source, "read") else _read_text(Path(source))
    path = None if hasattr(source, "read") else str(source)
    sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    studies: dict[str, tuple[dict[str, Any], list[CtEventRecord], int]] = {}
    for line, row in enumerate(_rows(text), start=2):
        uid = (row.get("study_uid") or "").strip()
        if not uid:
            raise ManualEntryError(f"line {line}, column study_uid: required")
        values = _study_values(row, line)
        first, events, first_line = studies.setdefault(uid, (values, [], line))
        for col in MANUAL_STUDY_COLUMNS:
            if values[col] is not None and first[col] is not None and values[col] != first[col]:
                raise ManualEntryError(f"line {line}, column {col}: {values[col]!r} differs from {first[col]!r} "
                                       f"on line {first_line} of the same study")
            if first[col] is None:
                first[col] = values[col]
        events.append(_event(row, line, len(events), first))
    reports = [_report(uid, study, tuple(events), sha, path) for uid, (study, events, _) in studies.items()]
    logger.info("manual CSV %s: %d studies, %d events", path or "(stream)", len(reports),
                sum(r.n_events for r in reports))
    return reports


def _report(uid: str, study: dict[str, Any], events: tuple[CtEventRecord, ...], sha: str,
            path: str | None) -> DoseReport:
    record = StudyRecord(study_uid=uid, modality=study["modality"], source_kind="manual",
                         study_datetime=study["study_datetime"], total_dlp_mgycm=study["total_dlp_mgycm"])
    return DoseReport(source=SourceRecord(sha256=sha, study_uid=uid, path=path, importer="manual",
                                          template="manual-csv"),
                      equipment=EquipmentRecord(station_name=study["station_name"]), patient=None, study=record,
                      ct_events=events)
