"""Study, patient and equipment identity from the DICOM header (shared by every importer)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from pydicom.dataset import Dataset

from dmslab.pseudonym import Pseudonymiser
from dmslab.records import EquipmentRecord, PatientRecord

__all__ = ["age_years", "equipment_from", "header_text", "parse_da_tm", "parse_dt", "patient_from",
           "sequence_items", "study_header_values"]

logger = logging.getLogger(__name__)

_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")
_AGE = re.compile(r"^(\d{1,3})\s*([DWMY])$")


def sequence_items(ds: Dataset, keyword: str) -> list[Dataset]:
    """The items of sequence attribute ``keyword``: empty when it is absent or empty, or when a damaged file gives
    the tag another VR (text where items should be), so a reader never indexes a string as an item."""
    if keyword not in ds:
        return []
    elem = ds.data_element(keyword)
    if elem is None or elem.VR != "SQ" or not elem.value:
        return []
    return [item for item in elem.value if isinstance(item, Dataset)]


def header_text(ds: Dataset, keyword: str) -> str | None:
    """A header attribute as stripped text (multi-values joined with ``\\``); ``None`` when empty."""
    v = ds.get(keyword)
    if v is None or v == "":
        return None
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        s = "\\".join(str(x) for x in v)
    else:
        s = str(v)
    s = s.strip()
    return s or None


def _number(ds: Dataset, keyword: str) -> float | None:
    try:
        v = ds.get(keyword)
        return None if v in (None, "") else float(v)
    except (TypeError, ValueError):
        return None


def parse_dt(text: str | None) -> dt.datetime | None:
    """Parse a DICOM DT value (timezone offsets are dropped: dmslab stores local acquisition time).

    >>> parse_dt("20180105172103.083003")
    datetime.datetime(2018, 1, 5, 17, 21, 3, 83003)
    >>> parse_dt("2018") is None
    False
    """
    if not text:
        return None
    m = _DT.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, _tz = m.groups()
    try:
        return dt.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0),
                           int(round(float(frac) * 1e6)) if frac else 0)
    except ValueError:
        return None


def parse_da_tm(date: str | None, time: str | None) -> dt.datetime | None:
    """Combine DICOM DA and TM values; ``None`` without a valid date."""
    if not date or not re.fullmatch(r"\d{8}", date.strip()):
        return None
    t = (time or "").strip().replace(":", "")
    m = re.match(r"^(\d{2})?(\d{2})?(\d{2})?(\.\d+)?", t)
    hh, mm, ss, frac = m.groups() if m else (None, None, None, None)
    frac6 = (frac or "")[:7]
    return parse_dt(date.strip() + (hh or "") + (mm or "") + (ss or "") + (frac6 if ss else ""))


def age_years(age: str | None, birth: dt.date | None, when: dt.datetime | None) -> float | None:
    """Age in years at the study.

    Patient's Age in days, weeks or months (``010D``, ``002W``, ``006M``: infants) is used as given;
    otherwise birth and study dates, when both are known and agree with a Patient's Age in years,
    give the age in decimal years (more precise than ``056Y``); otherwise Patient's Age in years (dates shifted
    by de-identification disagree with it).

    >>> round(age_years("056Y", dt.date(1957, 11, 12), dt.datetime(2014, 9, 30)), 2)
    56.88
    >>> age_years("006M", dt.date(2020, 1, 1), dt.datetime(2020, 7, 1))
    0.5
    """
    header: float | None = None
    unit = ""
    if age:
        m = _AGE.match(age.strip().upper())
        if m:
            n, unit = int(m.group(1)), m.group(2)
            header = float(n) / {"Y": 1.0, "M": 12.0, "W": 52.1775, "D": 365.25}[unit]
    if header is not None and unit != "Y":
        return header
    if birth and when:
        from_dates = (when.date() - birth).days / 365.25
        if header is None or 0 <= from_dates - header < 1:  # dates agree with the header's whole years
            return from_dates
    return header


def _birth(ds: Dataset) -> dt.date | None:
    b = header_text(ds, "PatientBirthDate")
    if b and re.fullmatch(r"\d{8}", b):
        try:
            return dt.date(int(b[:4]), int(b[4:6]), int(b[6:]))
        except ValueError:
            return None
    return None


def patient_from(ds: Dataset, pseudonymise: Pseudonymiser) -> tuple[PatientRecord | None, dict[str, Any]]:
    """The pseudonymised patient and the per-study patient values (age, height, weight)."""
    key = pseudonymise(header_text(ds, "PatientID"))
    birth = _birth(ds)
    sex = header_text(ds, "PatientSex")
    patient = PatientRecord(key, sex=sex, birth_year=birth.year if birth else None) if key else None
    per_study = {"height_m": _number(ds, "PatientSize"), "weight_kg": _number(ds, "PatientWeight"),
                 "_birth": birth, "_age": header_text(ds, "PatientAge")}
    return patient, per_study


def equipment_from(ds: Dataset, observer: dict[str, str | None] | None = None) -> EquipmentRecord:
    """The device identity from the header, completed by the SR device observer context (TID 1004)."""
    obs = observer or {}
    return EquipmentRecord(
        manufacturer=header_text(ds, "Manufacturer") or obs.get("manufacturer"),
        model=header_text(ds, "ManufacturerModelName") or obs.get("model"),
        station_name=header_text(ds, "StationName") or obs.get("station_name"),
        serial=header_text(ds, "DeviceSerialNumber") or obs.get("serial"),
        device_observer_uid=obs.get("device_observer_uid"),
        institution=header_text(ds, "InstitutionName"),
        software_versions=header_text(ds, "SoftwareVersions"),
    )


def study_header_values(ds: Dataset, pseudonymise: Pseudonymiser, when: dt.datetime | None) -> dict[str, Any]:
    """Study-record values every importer reads from the header: accession key, date, description,
    requested procedure and the patient's age (at ``when``), height and weight."""
    _patient, per_study = patient_from(ds, pseudonymise)
    return {
        "accession_key": pseudonymise(header_text(ds, "AccessionNumber")),
        "study_datetime": when,
        "study_description": header_text(ds, "StudyDescription"),
        "requested_procedure": header_text(ds, "RequestedProcedureDescription"),
        "age_years": age_years(per_study["_age"], per_study["_birth"], when),
        "height_m": per_study["height_m"],
        "weight_kg": per_study["weight_kg"],
    }
