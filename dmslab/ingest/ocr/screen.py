"""Read a bitmap CT dose summary screen into a :class:`~dmslab.records.DoseReport`, flagging doubtful values.

The page is read twice by tesseract, from two differently prepared images (greyscale upscaled; Otsu
binarised at another scale). A number is stored as fact only when

* both reads give the same value, in the number format the vendor prints (decimals included),
* the lower of the two word confidences reaches ``min_conf`` (0-100),
* the row is physically consistent (DLP / CTDIvol between 0.5 and 1.5 times the scan length plus 10 cm),
* and the rows' DLPs add up to the printed total DLP within rounding.

Anything else is stored as ``None`` with an ``"ocr_review: ..."`` flag giving the text read, its confidence
and the reason, so a person can correct it (:mod:`dmslab.ingest.manual`). A wrong number is never stored
without a flag.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from dmslab.contracts import check_values
from dmslab.errors import IngestError
from dmslab.ingest._header import equipment_from, header_text
from dmslab.ingest.ocr._common import event_uid, study_record
from dmslab.ingest.ocr._engine import Line, ocr_lines, pixels_to_grey, prepare, require_tesseract
from dmslab.ingest.ocr._layouts import LAYOUTS, RowReading, ScreenReading, detect_vendor, read_layout, type_of
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import CtEventRecord, DoseReport, SourceRecord
from dmslab.units import convert

__all__ = ["DEFAULT_MIN_CONF", "read_passes", "screen_report"]

logger = logging.getLogger(__name__)

#: Lowest tesseract word confidence (0-100) at which a number is stored as fact.
DEFAULT_MIN_CONF = 80.0
#: (target width in pixels, binarise) of the two reads.
_PASSES = ((1400, False), (1900, True))
#: Per-field scale of ``min_conf``: tesseract rates mixed letter-digit words such as ``S12.500-I450.750`` low even
#: when read right, so scan ranges need two agreeing reads (and the DLP/CTDIvol length check) but less confidence.
_CONF_SCALE = {"scan_length_mm": 0.25}
_PHANTOM_WORDS = {"head": 16, "body": 32, "s": 16, "5": 16, "l": 32, "|": 32, "i": 32, "1": 32}
#: record field -> (quantity of units_map.csv, canonical unit string)
_QUANTITY = {"ctdivol_mgy": ("dose_mgy", "mGy"), "dlp_mgycm": ("dlp", "mGy.cm"), "scan_length_mm": ("length_mm", "mm")}


@dataclass(frozen=True, slots=True)
class Value:
    """A field value interpreted from one read, with the text it came from and its confidence."""

    value: Any
    text: str
    conf: float


def read_passes(ds: Dataset) -> tuple[str, tuple[ScreenReading, ...]]:
    """OCR the page twice (in two threads) and cut both reads into the vendor's table layout.

    Raises
    ------
    IngestError
        ``no_importer`` without tesseract; ``not_a_dose_report`` when no known dose page is recognised.
    """
    require_tesseract()
    grey = pixels_to_grey(ds)
    images = [prepare(grey, target_width=w, binarize=b) for w, b in _PASSES]
    with ThreadPoolExecutor(max_workers=len(images)) as pool:
        reads: list[list[Line]] = list(pool.map(ocr_lines, images))
    vendor = detect_vendor(reads[0], header_text(ds, "Manufacturer")) or detect_vendor(reads[1], None)
    if vendor is None:
        raise IngestError("not_a_dose_report", "no known CT dose summary page (GE, Siemens, Toshiba/Canon) found "
                                               "in the image text")
    readings = tuple(read_layout(r, vendor) for r in reads)
    if not any(r.rows for r in readings):
        raise IngestError("not_a_dose_report", f"{vendor} dose page recognised but no dose table rows were read")
    return vendor, readings


def _number(text: str, vendor: str, name: str) -> float:
    if vendor == "ge" and name in ("r0", "r1"):
        sign = 1.0 if text[0] in "S5$" else -1.0
        return sign * float(text[1:])
    return float(text)


def _interpret(row: RowReading, vendor: str) -> dict[str, Value]:
    """Field values of one read row (only the fields that were read)."""
    f = row.fields
    out: dict[str, Value] = {}
    if "series" in f:
        out["series"] = Value(int(f["series"].text), f["series"].text, f["series"].conf)
    if "type" in f:
        out["acquisition_type"] = Value(type_of(LAYOUTS[vendor], f["type"].text), f["type"].text, f["type"].conf)
    if not row.complete:
        return out
    for name, field in (("ctdi", "ctdivol_mgy"), ("dlp", "dlp_mgycm")):
        if name in f:
            out[field] = Value(_number(f[name].text, vendor, name), f[name].text, f[name].conf)
    if "r0" in f and "r1" in f:
        r0, r1 = f["r0"], f["r1"]
        length = round(abs(_number(r1.text, vendor, "r1") - _number(r0.text, vendor, "r0")), 3)
        out["scan_length_mm"] = Value(length, f"{r0.text}-{r1.text}", min(r0.conf, r1.conf))
    if "ph" in f:
        word = f["ph"].text.lower()
        cm = _PHANTOM_WORDS.get(word)
        text, conf = f["ph"].text, f["ph"].conf
        if "phcm" in f:
            text, conf = f"{text} {f['phcm'].text}", min(conf, f["phcm"].conf)
            cm = cm if cm == int(f["phcm"].text) else None
        out["phantom_cm"] = Value(cm, text, conf)
    return out


def _expected(acq_type: str | None, vendor: str) -> tuple[str, ...]:
    if acq_type == "constant_angle":
        return ("ctdivol_mgy", "dlp_mgycm", "scan_length_mm") if vendor == "siemens" else ()
    return ("ctdivol_mgy", "dlp_mgycm", "scan_length_mm", "phantom_cm")


def _agree(field: str, a: Value | None, b: Value | None, min_conf: float) -> tuple[Any, str | None]:
    """The value when both reads agree with enough confidence, else ``None`` and the review flag."""
    if a is None and b is None:
        return None, f"ocr_review: {field} not read"
    if a is None or b is None:
        one = a or b
        assert one is not None
        return None, f"ocr_review: {field} read '{one.text}' (conf {one.conf:.0f}) in one read only"
    if a.value is None or a.value != b.value:
        return None, f"ocr_review: {field} read '{a.text}' / '{b.text}' (reads disagree or not understood)"
    conf = max(a.conf, b.conf)
    if conf < min_conf:
        return None, f"ocr_review: {field} read '{a.text}' (conf {conf:.0f} < {min_conf:.0f})"
    return a.value, None


def _pair_rows(readings: tuple[ScreenReading, ...]) -> list[tuple[RowReading | None, RowReading | None]]:
    """Rows of the two reads paired by position when both read the same number of rows, else by series text."""
    a, b = readings[0].rows, readings[1].rows
    if len(a) == len(b):
        return list(zip(a, b, strict=True))
    key_b = {r.fields["series"].text: r for r in b if "series" in r.fields}
    pairs: list[tuple[RowReading | None, RowReading | None]] = []
    for r in a:
        pairs.append((r, key_b.pop(r.fields["series"].text, None) if "series" in r.fields else None))
    pairs.extend((None, r) for r in key_b.values())

    def order(pair: tuple[RowReading | None, RowReading | None]) -> tuple[int, int]:
        row = pair[0] if pair[0] is not None else pair[1]
        assert row is not None
        series = row.fields.get("series")
        return (int(series.text) if series is not None else 10**6, row.index)

    return sorted(pairs, key=order)


def _consistent(values: dict[str, Any]) -> bool:
    """DLP / CTDIvol (cm) within 0.5-1.5 times the scan length (cm) plus 10 cm of over-ranging."""
    ctdi, dlp, length = values.get("ctdivol_mgy"), values.get("dlp_mgycm"), values.get("scan_length_mm")
    if ctdi is None or dlp is None or length is None or ctdi <= 0:
        return True
    ratio_cm, length_cm = dlp / ctdi, length / 10.0
    return 0.5 * length_cm <= ratio_cm <= 1.5 * length_cm + 10.0


def _row_values(pair: tuple[RowReading | None, RowReading | None], vendor: str,
                min_conf: float) -> tuple[dict[str, Any], list[str], str]:
    """Agreed field values of one row, its review flags and its key for the event UID."""
    ra, rb = pair
    va = _interpret(ra, vendor) if ra else {}
    vb = _interpret(rb, vendor) if rb else {}
    flags: list[str] = []
    series, _ = _agree("series", va.get("series"), vb.get("series"), 0.0)
    ta, tb = va.get("acquisition_type"), vb.get("acquisition_type")
    if (ta is None) != (tb is None) and (ta or tb).conf >= min_conf:  # type: ignore[union-attr]
        ta = tb = ta or tb  # a categorical word read clearly once is enough (fuzzy-matched to the vendor's words)
    acq_type, type_flag = _agree("acquisition_type", ta, tb, 0.0)
    values: dict[str, Any] = {"acquisition_type": acq_type}
    if type_flag:
        flags.append(type_flag)
    for field in _expected(acq_type, vendor):
        value, flag = _agree(field, va.get(field), vb.get(field), min_conf * _CONF_SCALE.get(field, 1.0))
        values[field] = value
        if flag:
            flags.append(flag)
    if flags:
        seen = "' / '".join(r.text for r in (ra, rb) if r is not None)
        flags.append(f"ocr_review: row read as '{seen}'")
    if not _consistent(values):
        flags.append(f"ocr_review: DLP {values['dlp_mgycm']} / CTDIvol {values['ctdivol_mgy']} does not fit scan "
                     f"length {values['scan_length_mm']} mm; values not stored")
        values.update(ctdivol_mgy=None, dlp_mgycm=None, scan_length_mm=None)
    first = ra if ra is not None else rb
    key = str(series) if series is not None else f"row{first.index if first is not None else 0}"
    return values, flags, key


def _canonical(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out, fixes = dict(values), []
    for field, (quantity, unit) in _QUANTITY.items():
        if out.get(field) is not None:
            conv = convert(float(out[field]), unit, quantity)
            out[field] = conv.value
            if conv.fixed_from:
                fixes.append(f"{field}: {conv.fixed_from}")
    return out, fixes


def _total(readings: tuple[ScreenReading, ...], dlps: list[float | None],
           min_conf: float) -> tuple[float | None, list[str], bool]:
    """The agreed total DLP, study flags, and whether the rows' DLPs must be withdrawn (sum mismatch)."""
    ta, tb = readings[0].total, readings[1].total
    va = Value(float(ta.text), ta.text, ta.conf) if ta else None
    vb = Value(float(tb.text), tb.text, tb.conf) if tb else None
    total, flag = _agree("total_dlp_mgycm", va, vb, min_conf)
    flags = [flag] if flag else []
    if total is None or not dlps:
        return total, flags, False
    if any(d is None for d in dlps):
        flags.append("ocr_review: total DLP not checked against the rows (some row DLPs not read)")
        return total, flags, False
    read = ta if ta is not None else tb
    text = read.text if read is not None else ""
    decimals = len(text.partition(".")[2])
    tolerance = 0.5 * 10.0 ** -decimals * (len(dlps) + 1) + 1e-9
    row_sum = sum(d for d in dlps if d is not None)
    if abs(row_sum - total) > tolerance:
        flags.append(f"ocr_review: total DLP {total:.{decimals}f} != sum of rows {row_sum:.{decimals}f}; "
                     "total and row DLPs not stored")
        return None, flags, True
    return total, flags, False


def screen_report(ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord,
                  min_conf: float = DEFAULT_MIN_CONF) -> DoseReport:
    """Read a dose summary screen (Secondary Capture) into a report with ``source_kind="ocr"``.

    Parameters
    ----------
    min_conf
        Lowest tesseract confidence (0-100) of a number stored as fact; below it the number is flagged.

    Raises
    ------
    IngestError
        ``no_importer`` when tesseract is not installed, ``not_a_dose_report`` when no dose table is found,
        ``corrupt`` when the pixels cannot be decoded.
    """
    vendor, readings = read_passes(ds)
    study_uid = str(ds.StudyInstanceUID)
    rows = [_row_values(pair, vendor, min_conf) for pair in _pair_rows(readings)]
    total, study_flags, withdraw = _total(readings, [v.get("dlp_mgycm") for v, _, _ in rows
                                                     if v.get("acquisition_type") != "constant_angle"
                                                     or "dlp_mgycm" in v], min_conf)
    events, seen = [], set()
    for k, (values, flags, key) in enumerate(rows):
        if withdraw and values.get("dlp_mgycm") is not None:
            flags = [*flags, f"ocr_review: dlp_mgycm read {values['dlp_mgycm']} withdrawn (rows do not add up to "
                             "the total)"]
            values = {**values, "dlp_mgycm": None}
        uid = event_uid(study_uid, "ocr", vendor, key if key not in seen else f"{key}#{k}")
        seen.add(key)
        canon, fixes = _canonical({f: v for f, v in values.items() if v is not None})
        events.append(CtEventRecord(event_uid=uid, flags=tuple(flags) + check_values("ct_event", canon),
                                    unit_fixes=tuple(fixes), **canon))
    study, patient = study_record(ds, pseudonymise, source_kind="ocr", flags=study_flags,
                                  values={"total_dlp_mgycm": total, "n_events_reported": len(events)})
    n_flags = sum(len(e.flags) for e in events) + len(study.flags)
    logger.info("%s: OCR of %s dose screen: %d events, %d review flags", source.sop_instance_uid, vendor,
                len(events), n_flags)
    return DoseReport(source=SourceRecord(**{**_fields(source), "importer": "ocr", "template": f"screen:{vendor}"}),
                      equipment=equipment_from(ds), patient=patient, study=study, ct_events=tuple(events))


def _fields(source: SourceRecord) -> dict[str, Any]:
    return {f: getattr(source, f) for f in SourceRecord.__slots__}
