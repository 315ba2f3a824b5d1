"""Shared pieces of the image-header importers: lenient number reading, unit conversion, study and source.

Image headers are read attribute by attribute (no content tree). Numbers are read from the raw text of
the element where pydicom has not converted it yet, so illegal vendor values (``"1.06,0.206"`` in a DS,
``"10.5"`` in an IS) cannot raise; every converted value goes through :func:`dmslab.units.convert` and is
recorded in ``unit_fixes``; every record is checked against its contract by
:meth:`dmslab.ingest.rdsr._extract.Extractor.build`.
"""

from __future__ import annotations

import logging
import re
import uuid

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from dmslab.codes import CodeKey, code_key
from dmslab.errors import IngestError, UnknownUnitError
from dmslab.ingest._header import header_text, parse_da_tm, sequence_items, study_header_values
from dmslab.ingest.rdsr._extract import DOSE_FIELDS, Extractor
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import SourceRecord, StudyRecord
from dmslab.units import convert

__all__ = ["code_of", "derived_uid", "numbers", "put", "raw_text", "source_for", "study_for"]

logger = logging.getLogger(__name__)

_SPLIT = re.compile(r"[\\,]")
#: VRs whose raw bytes are text; binary ones (FD, US, ...) are read through pydicom.
_TEXT_VRS = frozenset({"DS", "IS", "CS", "LO", "SH", "ST", "LT", "UT", "UI", "DA", "TM", "DT", "AS", "PN", "UC"})
#: Namespace of the deterministic event UIDs dmslab derives when an object carries none (uuid5 names).
_NAMESPACE = uuid.UUID("5b0c4a8e-3f0e-5d2b-9d53-6d6d736c6162")


def raw_text(ds: Dataset, keyword: str) -> str | None:
    """The stored text of a header attribute, without pydicom's value conversion; ``None`` when empty.

    Multi-values are joined with ``\\``. Works for raw (file-read) and converted (built) elements.
    """
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement) and (elem.VR or _dictionary_vr(tag)) in _TEXT_VRS:
        value = elem.value
        text = value.decode("latin-1", "replace") if isinstance(value, bytes) else str(value or "")
    else:
        return header_text(ds, keyword)
    text = text.replace("\x00", "").strip()
    return text or None


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def numbers(ds: Dataset, keyword: str) -> tuple[float, ...]:
    """Every number of a numeric attribute, splitting on ``\\`` and on illegal commas (Kodak/Carestream).

    Unreadable parts are skipped (logged at DEBUG); an absent attribute gives ``()``.
    """
    text = raw_text(ds, keyword)
    if text is None:
        return ()
    out: list[float] = []
    for part in _SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(float(part))
        except ValueError:
            logger.debug("%s: unreadable number %r skipped", keyword, part)
    return tuple(out)


def number(ds: Dataset, keyword: str) -> float | None:
    """The first number of a numeric attribute, or ``None``."""
    values = numbers(ds, keyword)
    return values[0] if values else None


def put(ex: Extractor, field: str, value: float | None, unit: str | None, quantity: str, *,
        fixed: str | None = None) -> None:
    """Convert ``value`` from ``unit`` to the canonical unit of ``quantity`` and store it as ``field``.

    Parameters
    ----------
    ex
        The record being built.
    field, quantity
        Record field and quantity class of ``units_map.csv``.
    value, unit
        The number as stored and the unit the attribute is defined in (or a vendor quirk's unit).
    fixed
        Why the unit is not the attribute's defined unit (a named quirk); recorded in ``unit_fixes``.

    Raises
    ------
    UnknownUnitError
        For a dose field whose unit is not in the units map (other fields are flagged and skipped).
    """
    if value is None:
        return
    try:
        conv = convert(value, unit, quantity)
    except UnknownUnitError:
        if field in DOSE_FIELDS:
            raise
        ex.flags.append(f"{field}: unknown unit {unit!r}, value {value!r} not stored")
        return
    if fixed is not None:
        ex.fixes.append(f"{field}: {unit} ({fixed})")
    elif conv.fixed_from is not None:
        ex.fixes.append(f"{field}: {conv.fixed_from}")
    ex.values[field] = int(round(conv.value)) if field == "phantom_cm" else conv.value


def code_of(item: Dataset | None) -> tuple[CodeKey, str | None] | None:
    """Key (SRT mapped to SCT) and meaning of the first item of a code sequence."""
    if item is None:
        return None
    value = item.get("CodeValue") or item.get("LongCodeValue")
    if not value:
        return None
    return code_key(item.get("CodingSchemeDesignator"), value), header_text(item, "CodeMeaning")


def first(ds: Dataset, keyword: str) -> Dataset | None:
    """First item of a sequence attribute, or ``None`` (also when a damaged file gives it another VR)."""
    items = sequence_items(ds, keyword)
    return items[0] if items else None


def derived_uid(*parts: str | None) -> str:
    """A deterministic DICOM UID (``2.25.`` + the integer of a uuid5) from identifying values.

    >>> derived_uid("1.2.3", "20130412", "132223") == derived_uid("1.2.3", "20130412", "132223")
    True
    >>> derived_uid("1.2.3").startswith("2.25.")
    True
    """
    name = "|".join(p or "" for p in parts)
    return "2.25." + str(uuid.uuid5(_NAMESPACE, name).int)


def study_uid_of(ds: Dataset) -> str:
    """Study Instance UID, or ``missing_required_concept``."""
    uid = header_text(ds, "StudyInstanceUID")
    if not uid:
        raise IngestError("missing_required_concept", "image has no Study Instance UID; it cannot be filed")
    return uid


def study_for(ds: Dataset, pseudonymise: Pseudonymiser, modality: str, *, source_kind: str = "header",
              totals: dict[str, float] | None = None) -> StudyRecord:
    """The study record from the header (patient values via ``patient_from``, date via ``parse_da_tm``).

    ``totals`` (e.g. ``total_dap_gym2``, ``agd_left_mgy``) are the object's own sums in canonical units.
    """
    ex = Extractor("study", "study")
    when = parse_da_tm(header_text(ds, "StudyDate"), header_text(ds, "StudyTime"))
    ex.values.update(study_header_values(ds, pseudonymise, when))
    ex.values.update(totals or {})
    proc = code_of(first(ds, "ProcedureCodeSequence"))
    if proc is not None:
        ex.values["procedure_code"] = f"{proc[0].scheme}:{proc[0].value}"
    ex.values = {k: v for k, v in ex.values.items() if v is not None}
    record: StudyRecord = ex.build(StudyRecord, study_uid=study_uid_of(ds), modality=modality,
                                   source_kind=source_kind)
    return record


def source_for(source: SourceRecord, ds: Dataset, importer: str, template: str | None = None) -> SourceRecord:
    """The source record completed with the object's identity and the importer's name."""
    return SourceRecord(sha256=source.sha256, path=source.path, importer=importer, template=template,
                        sop_instance_uid=header_text(ds, "SOPInstanceUID"),
                        sop_class_uid=header_text(ds, "SOPClassUID"),
                        study_uid=header_text(ds, "StudyInstanceUID"))
