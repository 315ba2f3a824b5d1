"""Shared pieces of the screen importers: deterministic event UIDs and the study record from the header."""

from __future__ import annotations

import uuid
from typing import Any

from pydicom.dataset import Dataset

from dmslab.contracts import check_values
from dmslab.ingest._header import header_text, parse_da_tm, patient_from, study_header_values
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import PatientRecord, StudyRecord

__all__ = ["event_uid", "study_record"]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/dmslab/dmslab/ingest/screen-events")


def event_uid(study_uid: str, *parts: object) -> str:
    """A deterministic ``2.25.`` UID for an event that has none: a version-5 UUID of the study UID and ``parts``.

    >>> event_uid("1.2.3", "philips", 3, 1) == event_uid("1.2.3", "philips", 3, 1)
    True
    >>> event_uid("1.2.3", "philips", 3, 1).startswith("2.25.")
    True
    """
    name = "|".join(str(p) for p in (study_uid, *parts))
    return f"2.25.{uuid.uuid5(_NAMESPACE, name).int}"


def study_record(ds: Dataset, pseudonymise: Pseudonymiser, *, source_kind: str,
                 values: dict[str, Any], flags: list[str]) -> tuple[StudyRecord, PatientRecord | None]:
    """The CT study record from the header (:mod:`dmslab.ingest._header`) plus dose ``values``.

    Parameters
    ----------
    values
        Study dose fields already in canonical units (``total_dlp_mgycm`` in mGy.cm, ``n_events_reported``).
    flags
        Review flags found while reading; contract problems are appended.
    """
    when = parse_da_tm(header_text(ds, "StudyDate"), header_text(ds, "StudyTime"))
    patient, _ = patient_from(ds, pseudonymise)
    fields: dict[str, Any] = {**study_header_values(ds, pseudonymise, when), **values}
    fields = {k: v for k, v in fields.items() if v is not None}
    all_flags = tuple(flags) + check_values("study", fields)
    study = StudyRecord(study_uid=str(ds.StudyInstanceUID), modality="CT", source_kind=source_kind,
                        flags=all_flags, **fields)
    return study, patient
