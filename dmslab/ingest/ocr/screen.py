"""Read a bitmap CT dose summary screen into a :class:`~dmslab.records.DoseReport`, flagging doubtful values.

The page is prepared twice (greyscale upscaled; Otsu-binarised at another scale) and each image is read by
tesseract as a whole (which finds the table, its rows and where each cell lies); then every numeric cell of
both reads is cropped and re-read with only the characters it can hold (:mod:`dmslab.ingest.ocr._cells`).
On fixed-width pages (GE) the character count of each scan position is measured on the image and checks
its readings (:mod:`dmslab.ingest.ocr._mono`). That gives up to four tesseract reads of every field.

A second reader that works differently reads each number by its shape in the page's font
(:mod:`dmslab.ingest.ocr._font`, :mod:`dmslab.ingest.ocr._shapes`): tesseract's reads give the layout, and
each digit is drawn in place and the best-fitting kept. A number is stored as fact when

* the shape reading fits the page and a tesseract read gives the same digits, or every digit of the shape
  reading leads its runner-up clearly (:func:`~dmslab.ingest.ocr._shapes.decide`); without the font, at
  least two tesseract reads give the same value in the number format the vendor prints, no read gives
  another, and the most confident reaches ``min_conf`` (:func:`~dmslab.ingest.ocr._vote.vote`);
* the row is physically consistent: the irradiated length DLP / CTDIvol is at least the scan length and at
  most 5 % plus 6 cm more (:func:`~dmslab.ingest.ocr._checks.consistent`);
* the rows' DLPs add up to the printed total DLP within rounding;
* and a number that no such relation could check was confirmed by both readers, or is one that reads cannot
  get wrong alike: see :func:`~dmslab.ingest.ocr._checks.cross_checked`.

Scan types and phantom words that the reads do not agree on are chosen by shape among the layout's words.
Anything else is stored as ``None`` with an ``"ocr_review: ..."`` flag giving the text read, its confidence
and the reason, so a person can correct it (:mod:`dmslab.ingest.manual`). A wrong number is never stored
without a flag.
"""

from __future__ import annotations

import difflib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydicom.dataset import Dataset

from dmslab.contracts import check_values
from dmslab.errors import IngestError
from dmslab.ingest._header import equipment_from, header_text
from dmslab.ingest.ocr._cells import reread_cells
from dmslab.ingest.ocr._checks import agreed_total, consistent, cross_checked, total_confirmed
from dmslab.ingest.ocr._common import event_uid, study_record
from dmslab.ingest.ocr._engine import Line, ocr_lines, pixels_to_grey, prepare, require_tesseract
from dmslab.ingest.ocr._layouts import LAYOUTS, Reading, RowReading, ScreenReading, detect_vendor, read_layout, type_of
from dmslab.ingest.ocr._mono import check_ranges
from dmslab.ingest.ocr._shapes import FIT_MIN, SURE, PageShapes, ShapeRead, decide
from dmslab.ingest.ocr._vote import Value, vote
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import CtEventRecord, DoseReport, SourceRecord
from dmslab.units import convert

__all__ = ["DEFAULT_MIN_CONF", "Value", "read_passes", "screen_report"]

logger = logging.getLogger(__name__)

#: Lowest tesseract word confidence (0-100) at which a number is stored as fact.
DEFAULT_MIN_CONF = 80.0
#: (target width in pixels, binarise) of the two reads.
_PASSES = ((1400, False), (1900, True))
#: Per-field scale of ``min_conf``: the phantom is one of two words, and Siemens prints its letter right after
#: CTDIvol (tesseract gives the pair one, often low, confidence), so two agreeing reads suffice. (Scan positions
#: such as ``S12.500`` are rated by their digits' confidence in the cell re-reads, :mod:`dmslab.ingest.ocr._cells`.)
_CONF_SCALE = {"phantom_cm": 0.0}
_PHANTOM_WORDS = {"head": 16, "body": 32, "s": 16, "5": 16, "l": 32, "|": 32, "i": 32, "1": 32}
#: record field -> (quantity of units_map.csv, canonical unit string)
_QUANTITY = {"ctdivol_mgy": ("dose_mgy", "mGy"), "dlp_mgycm": ("dlp", "mGy.cm"), "scan_length_mm": ("length_mm", "mm")}


def read_passes(ds: Dataset) -> tuple[str, tuple[ScreenReading, ...]]:
    """OCR the page twice (in two threads), cut both reads into the vendor's layout and re-read their cells.

    Same as :func:`_read_pages` without the prepared images.
    """
    vendor, readings, _, _ = _read_pages(ds)
    return vendor, readings


def _read_pages(ds: Dataset) -> tuple[str, tuple[ScreenReading, ...], list[Any], Any]:
    """OCR the page twice (in two threads), cut both reads into the vendor's layout and re-read their cells.

    Returns
    -------
    tuple
        The vendor; four readings: the two full-page reads, then the cell re-reads of each
        (:func:`~dmslab.ingest.ocr._cells.reread_cells`; same row indices as the full read they come from);
        the two prepared images the full-page reads' boxes refer to; and the page in greyscale.

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
            raise IngestError("not_a_dose_report", "no known CT dose summary page (GE, Siemens, Toshiba/Canon) "
                                                   "found in the image text")
        full = tuple(read_layout(r, vendor) for r in reads)
        if not any(r.rows for r in full):
            raise IngestError("not_a_dose_report", f"{vendor} dose page recognised but no dose table rows were read")
        if LAYOUTS[vendor].monospace:
            full = tuple(check_ranges(img, r) for img, r in zip(images, full, strict=True))
    cells = tuple(reread_cells(list(zip(images, full, strict=True))))
    return vendor, full + cells, images, grey


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
    for end in ("r0", "r1"):  # the ends of the scan range are voted on one by one (a cell read may see one)
        if end in f:
            out[end] = Value(_number(f[end].text, vendor, end), f[end].text, f[end].conf)
    if "ph" in f:
        word = f["ph"].text.lower()
        close = difflib.get_close_matches(word, ["head", "body"], n=1, cutoff=0.7)  # "Heed", "B0dy"
        cm = _PHANTOM_WORDS.get(close[0] if close else word)
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
    """Two reads: the value when both agree with enough confidence, else ``None`` and the review flag."""
    return vote(field, [a, b], min_conf)


def _same_numbers(a: RowReading | None, b: RowReading) -> bool:
    """Whether two reads of rows show the same CTDIvol and DLP text (both read): the same row."""
    if a is None:
        return False
    return all(n in a.fields and n in b.fields and a.fields[n].text == b.fields[n].text for n in ("ctdi", "dlp"))


def _pair_rows(readings: tuple[ScreenReading, ...]) -> list[tuple[RowReading | None, RowReading | None]]:
    """Rows of the two reads paired by position when both read the same number of rows, else by series text."""
    a, b = readings[0].rows, readings[1].rows
    if len(a) == len(b):
        return list(zip(a, b, strict=True))
    key_b = {r.fields["series"].text: r for r in b if "series" in r.fields}
    pairs: list[tuple[RowReading | None, RowReading | None]] = []
    for r in a:
        pairs.append((r, key_b.pop(r.fields["series"].text, None) if "series" in r.fields else None))
    for k, (first, other) in enumerate(pairs):  # a series number misread in one read: the same numbers pair rows
        match = next((key for key, rb in key_b.items() if other is None and _same_numbers(first, rb)), None)
        if match is not None:
            pairs[k] = (first, key_b.pop(match))
    pairs.extend((None, r) for r in key_b.values())

    def order(pair: tuple[RowReading | None, RowReading | None]) -> tuple[int, int]:
        row = pair[0] if pair[0] is not None else pair[1]
        assert row is not None
        series = row.fields.get("series")
        return (int(series.text) if series is not None else 10**6, row.index)

    return sorted(pairs, key=order)


Reads = tuple[RowReading | None, ...]


def _row_reads(readings: tuple[ScreenReading, ...]) -> list[Reads]:
    """Each table row as (full read 1, full read 2, cell re-read 1, cell re-read 2); missing reads are ``None``."""
    cells = [{r.index: r for r in c.rows} for c in readings[2:]]
    out: list[Reads] = []
    for ra, rb in _pair_rows(readings):
        extra = [c.get(r.index) if r is not None else None for c, r in zip(cells, (ra, rb), strict=False)]
        out.append((ra, rb, *extra))
    return out


def _shape(shapes: PageShapes | None, reads: Reads, name: str, vendor: str) -> ShapeRead | None:
    """Field ``name`` of a row read by the font's shapes (``None`` without a calibrated font)."""
    if shapes is None:
        return None
    found: list[tuple[int, Reading]] = []
    for k, r in enumerate(reads):
        if r is None:
            continue
        image = k if k < 2 else -1  # cell re-reads (reads 2 and 3) give text only
        found += [(image, got) for key in (name, f"{name}_raw", f"{name}_num") if (got := r.fields.get(key))]
        if name in ("r0", "r1") and (cell := r.fields.get("range_raw")) is not None and "-" in cell.text:
            part = cell.text.split("-", 1)[name == "r1"].strip()  # a range not understood: its two ends
            found.append((-1, Reading(part, 0.0)))
    found.sort(key=lambda kr: kr[0] < 0)  # the full-page reads, whose boxes place the word, first
    return shapes.read(found, name, lambda text: _number(text, vendor, name))


def _scan_length(vals: list[dict[str, Value]], min_conf: float,
                 shapes: tuple[ShapeRead | None, ShapeRead | None]) -> tuple[float | None, str | None, bool, str, bool]:
    """The scan length (mm) from the two ends of the range, each decided on over all reads and its shape.

    The third item tells whether both ends were read alike on both prepared images (reads 0 and 2 are of the
    first image, 1 and 3 of the second): a misread shared by two reads of one image is common, by both images
    rare. The fourth gives the two ends as text; the fifth whether both ends were confirmed by shape
    (:func:`~dmslab.ingest.ocr._shapes.decide`).
    """
    ends, flags, both_images, confirmed = [], [], True, True
    for end, word, shape in (("r0", "start", shapes[0]), ("r1", "end", shapes[1])):
        reads = [v.get(end) for v in vals]
        value, flag, ok = decide(f"scan_length_mm {word}", reads, shape, min_conf)
        ends.append(value)
        confirmed &= ok
        both_images &= len({k % 2 for k, r in enumerate(reads) if r is not None and r.value == value}) == 2
        if flag:
            flags.append(flag)
    if ends[0] is None or ends[1] is None:
        return None, "; ".join(flags), False, "", False
    return round(abs(ends[1] - ends[0]), 3), None, both_images, f"{ends[0]} {ends[1]}", confirmed


def _series_and_type(vals: list[dict[str, Value]], vendor: str, min_conf: float, reads: Reads,
                     shapes: PageShapes | None) -> tuple[Any, Any, str | None]:
    """The row's series number and acquisition type from the two full-page reads, and the type's review flag.

    A type word the reads do not agree on is settled by its shape when the word drawn fits and one read
    spelt it close enough to name the same type (:func:`_word_by_shape`); series numbers read differently, by
    their shapes (:func:`~dmslab.ingest.ocr._shapes.decide`), else the row is keyed by its place.
    """
    sa, sb = vals[0].get("series"), vals[1].get("series")
    if (sa is None) != (sb is None) and (sa or sb).conf >= min_conf:  # type: ignore[union-attr]
        sa = sb = sa or sb  # the series number only keys the event; one clear read is enough
    series, flag = vote("series", [sa, sb], 0.0)
    if flag and shapes is not None and sa is not None and sb is not None:  # two different numbers: their shapes
        series, _, _ = decide("series", [sa, sb], _shape(shapes, reads, "series", vendor), 0.0)
        series = None if series is None else int(series)
    ta, tb = vals[0].get("acquisition_type"), vals[1].get("acquisition_type")
    one = ta or tb
    if (ta is None) != (tb is None) and one is not None and (one.conf >= min_conf
                                                               or one.text.lower() in LAYOUTS[vendor].types):
        ta = tb = one  # a categorical word read once is enough when clear or spelt exactly as the vendor prints it
    acq_type, type_flag = vote("acquisition_type", [ta, tb], 0.0)
    if type_flag and shapes is not None:
        types = LAYOUTS[vendor].types  # printed word (lower case) -> acquisition type
        found = _word_by_shape(shapes, reads, "type", [w.capitalize() for w in types],
                               [v.get("acquisition_type") for v in vals[:2]], list(types.values()))
        if found is not None:
            acq_type, type_flag = found, None
    return series, acq_type, type_flag


def _word_by_shape(shapes: PageShapes, reads: Reads, name: str, printed: list[str], seen: list[Value | None],
                   meanings: list[Any]) -> Any:
    """The meaning of the word of field ``name`` chosen by shape among ``printed`` (``meanings`` alike), when
    the drawing fits, leads the others by :data:`~dmslab.ingest.ocr._shapes.SURE`, and a read (``seen``) gave
    the same meaning; else ``None``."""
    located = [(k, f) for k, r in enumerate(reads[:2]) if r is not None and (f := r.fields.get(name)) is not None]
    got = shapes.choose(located, printed)
    if got is None or got.fit < FIT_MIN or got.margin < SURE:
        return None
    meaning = meanings[int(got.value)]
    return meaning if any(v is not None and v.value == meaning for v in seen) else None


def _row_values(reads: Reads, vendor: str, min_conf: float,
                shapes: PageShapes | None = None) -> tuple[dict[str, Any], list[str], str]:
    """Voted field values of one row, its review flags and its key for the event UID.

    ``shapes``: the page's font reader (:mod:`dmslab.ingest.ocr._shapes`), ``None`` without the font.
    """
    vals = [_interpret(r, vendor) if r is not None else {} for r in reads]
    ra, rb = reads[0], reads[1]
    series, acq_type, type_flag = _series_and_type(vals, vendor, min_conf, reads, shapes)
    flags: list[str] = [type_flag] if type_flag else []
    values: dict[str, Any] = {"acquisition_type": acq_type}
    confirmed: set[str] = set()  # fields the font's shapes and a tesseract read agree on
    complete = any(r is not None and r.complete for r in reads)
    for field in _expected(acq_type, vendor):
        conf = min_conf * _CONF_SCALE.get(field, 1.0)
        ok = False
        if field == "scan_length_mm":
            ends = ((_shape(shapes, reads, "r0", vendor), _shape(shapes, reads, "r1", vendor)) if complete
                    else (None, None))
            value, flag, both_images, text, ok = _scan_length(vals, conf, ends)
            values["_length_on_both_images"], values["_length_ends"] = both_images, text
        elif field in ("ctdivol_mgy", "dlp_mgycm"):
            name = "ctdi" if field == "ctdivol_mgy" else "dlp"
            shape = _shape(shapes, reads, name, vendor) if complete else None
            value, flag, ok = decide(field, [v.get(field) for v in vals], shape, conf)
        else:  # the phantom: a word of the layout's vocabulary
            value, flag = vote(field, [v.get(field) for v in vals], conf)
            if flag and shapes is not None and complete:
                phantoms = LAYOUTS[vendor].phantoms
                found = _word_by_shape(shapes, reads, "ph", [w for w, _ in phantoms], [v.get(field) for v in vals],
                                       [cm for _, cm in phantoms])
                if found is not None:
                    value, flag = found, None
        if ok:
            confirmed.add(field)
        values[field] = value
        if flag:
            flags.append(flag)
    if flags:
        seen = "' / '".join(r.text for r in (ra, rb) if r is not None)
        flags.append(f"ocr_review: row read as '{seen}'")
    values["_shape_ok"] = confirmed
    if not consistent(values):
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
    vendor, readings, images, grey = _read_pages(ds)
    study_uid = str(ds.StudyInstanceUID)
    shapes = PageShapes.build(vendor, grey, readings, images)
    rows = [_row_values(reads, vendor, min_conf, shapes) for reads in _row_reads(readings)]
    dosed = [v for v, _, _ in rows if v.get("acquisition_type") != "constant_angle" or "dlp_mgycm" in v]
    total, study_flags, withdraw, total_by_shape = agreed_total(readings, [v.get("dlp_mgycm") for v in dosed],
                                                                min_conf, shapes)
    # GE's dotted zero misread alike in a row and the total needs the length checks, unless shapes confirmed all
    confusable = "" if total_by_shape and all("dlp_mgycm" in v["_shape_ok"] for v in dosed) else \
        LAYOUTS[vendor].confusable
    summed = total is not None and not withdraw and not any("not checked" in f for f in study_flags)
    events, seen = [], set()
    for k, (values, flags, key) in enumerate(rows):
        if withdraw and values.get("dlp_mgycm") is not None:
            flags = [*flags, f"ocr_review: dlp_mgycm read {values['dlp_mgycm']} withdrawn (rows do not add up to "
                             "the total)"]
            values = {**values, "dlp_mgycm": None}
        values, flags = cross_checked(values, flags, summed, LAYOUTS[vendor].confusable)
        uid = event_uid(study_uid, "ocr", vendor, key if key not in seen else f"{key}#{k}")
        seen.add(key)
        canon, fixes = _canonical({f: v for f, v in values.items() if v is not None})
        events.append(CtEventRecord(event_uid=uid, flags=tuple(flags) + check_values("ct_event", canon),
                                    unit_fixes=tuple(fixes), **canon))
    total, study_flags = total_confirmed(total, study_flags, summed, events, confusable)
    study, patient = study_record(ds, pseudonymise, source_kind="ocr", flags=study_flags,
                                  values={"total_dlp_mgycm": total, "n_events_reported": len(events)})
    n_flags = sum(len(e.flags) for e in events) + len(study.flags)
    logger.info("%s: OCR of %s dose screen: %d events, %d review flags", source.sop_instance_uid, vendor,
                len(events), n_flags)
    return DoseReport(source=SourceRecord(**{**_fields(source), "importer": "ocr", "template": f"screen:{vendor}"}),
                      equipment=equipment_from(ds), patient=patient, study=study, ct_events=tuple(events))


def _fields(source: SourceRecord) -> dict[str, Any]:
    return {f: getattr(source, f) for f in SourceRecord.__slots__}
