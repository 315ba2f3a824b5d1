"""A tiny store for the examples in docstrings (run as doctests) and the starter notebook: no DICOM, no key."""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from dmslab.records import CtEventRecord, DoseReport, EquipmentRecord, SourceRecord, StudyRecord
from dmslab.store import Store

__all__ = ["example_store"]


def example_store(path: str | os.PathLike[str] | None = None, *, n: int = 11) -> Store:
    """A new SQLite store (at ``path``, else in a new temporary folder) holding ``n`` adult "CT Head Routine"
    exams of room ``CT1`` from 5 January 2026 on, one a day: DLP 700, 720, … mGy·cm (one sequence each,
    CTDIvol = DLP / 15 mGy), named "CT Head wo IV Contrast" at writing.

    >>> store = example_store()
    >>> store.counts()["study"]
    11
    >>> store.close()
    """
    where = os.fspath(path) if path is not None else os.path.join(tempfile.mkdtemp(prefix="dmslab-example-"),
                                                                  "dmslab.sqlite")
    store = Store(f"sqlite:///{where}")
    reports = []
    for i in range(n):
        uid, dlp = f"2.25.{1000 + i}", 700.0 + 20.0 * i
        study = StudyRecord(study_uid=uid, modality="CT", source_kind="rdsr", study_description="CT Head Routine",
                            study_datetime=dt.datetime(2026, 1, 5, 9) + dt.timedelta(days=i), total_dlp_mgycm=dlp)
        reports.append(DoseReport(
            source=SourceRecord(sha256=f"{i:064x}", sop_instance_uid=f"{uid}.1", sop_class_uid="1.2", study_uid=uid,
                                importer="rdsr"),
            equipment=EquipmentRecord(station_name="CT1"), patient=None, study=study,
            ct_events=(CtEventRecord(event_uid=f"{uid}.2", ctdivol_mgy=dlp / 15, dlp_mgycm=dlp),)))
    store.write(reports)
    return store
