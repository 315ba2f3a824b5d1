"""Read a bitmap CT dose summary screen into a :class:`~dmslab.records.DoseReport`, flagging doubtful values.

The page is prepared twice (greyscale upscaled; Otsu-binarised at another scale) and each image is read by
tesseract as a whole (which finds the table, its rows and where each cell lies); then every numeric cell of
both reads is cropped and re-read with only the characters it can hold (:mod:`dmslab.ingest.ocr._cells`).
On fixed-width pages (GE) the character count of each scan position is measured on the image and checks
its readings (:mod:`dmslab.ingest.ocr._mono`). That gives up to four reads of every field. A number is
stored as fact only when

* at least two reads give the same value, in the number format the vendor prints, and no read gives another
  (:func:`~dmslab.ingest.ocr._vote.vote`),
* the most confident of them reaches ``min_conf`` (0-100),
* the row is physically consistent: the irradiated length DLP / CTDIvol is at least the scan length and at
  most 5 % plus 6 cm more (:func:`_consistent`),
* the rows' DLPs add up to the printed total DLP within rounding,
* and a number that no such relation could check is one that reads cannot get wrong alike: see
  :func:`_cross_checked`.

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
from dmslab.ingest.ocr._common import event_uid, study_record
from dmslab.ingest.ocr._engine import Line, ocr_lines, pixels_to_grey, prepare, require_tesseract
from dmslab.ingest.ocr._glyph import fix_totals, resolve, shape_fix
from dmslab.ingest.ocr._layouts import LAYOUTS, RowReading, ScreenReading, detect_vendor, read_layout, type_of
from dmslab.ingest.ocr._mono import check_ranges
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
    vendor, readings, _ = _read_pages(ds)
    return vendor, readings


def _read_pages(ds: Dataset) -> tuple[str, tuple[ScreenReading, ...], list[Any]]:
    """OCR the page twice (in two threads), cut both reads into the vendor's layout and re-read their cells.

    Returns
    -------
    tuple
        The vendor; four readings: the two full-page reads, then the cell re-reads of each
        (:func:`~dmslab.ingest.ocr._cells.reread_cells`; same row indices as the full read they come from);
        and the two prepared images the full-page reads' boxes refer to.

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
    return vendor, full + cells, images


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
    """The irradiated length DLP / CTDIvol (cm) is at least the scan length and at most 5 % plus 6 cm more.

    An irradiated length cannot be shorter than the range scanned; the 6 cm cover over-ranging of helical
    scans and the beam width of axial scans. The check is tight on purpose: it is what catches a digit misread
    the same way in every read (``159.749`` as ``165.749``, ``309.89`` as ``369.89``). Both ends allow for
    the printed rounding of DLP and CTDIvol (up to 0.05 each). Axial series with gaps between rotations and
    wide-detector volume scans fail it and go to review.
    """
    ctdi, dlp, length = values.get("ctdivol_mgy"), values.get("dlp_mgycm"), values.get("scan_length_mm")
    if ctdi is None or dlp is None or length is None or ctdi <= 0:
        return True
    length_cm = length / 10.0
    longest = (dlp + 0.05) / ctdi if ctdi <= 0.05 else (dlp + 0.05) / (ctdi - 0.05)
    shortest = (dlp - 0.05) / (ctdi + 0.05)
    return longest >= length_cm - 0.1 and shortest <= 1.05 * length_cm + 6.0


Reads = tuple[RowReading | None, ...]


def _row_reads(readings: tuple[ScreenReading, ...]) -> list[Reads]:
    """Each table row as (full read 1, full read 2, cell re-read 1, cell re-read 2); missing reads are ``None``."""
    cells = [{r.index: r for r in c.rows} for c in readings[2:]]
    out: list[Reads] = []
    for ra, rb in _pair_rows(readings):
        extra = [c.get(r.index) if r is not None else None for c, r in zip(cells, (ra, rb), strict=False)]
        out.append((ra, rb, *extra))
    return out


def _scan_length(vals: list[dict[str, Value]], min_conf: float) -> tuple[float | None, str | None, bool, str]:
    """The scan length (mm) from the two ends of the range, each voted on over all reads.

    The third item tells whether both ends were read alike on both prepared images (reads 0 and 2 are of the
    first image, 1 and 3 of the second): a misread shared by two reads of one image is common, by both images
    rare. The fourth gives the two ends as text.
    """
    ends, flags, both_images = [], [], True
    for end, word in (("r0", "start"), ("r1", "end")):
        reads = [v.get(end) for v in vals]
        value, flag = vote(f"scan_length_mm {word}", reads, min_conf)
        ends.append(value)
        both_images &= len({k % 2 for k, r in enumerate(reads) if r is not None and r.value == value}) == 2
        if flag:
            flags.append(flag)
    if ends[0] is None or ends[1] is None:
        return None, "; ".join(flags), False, ""
    return round(abs(ends[1] - ends[0]), 3), None, both_images, f"{ends[0]} {ends[1]}"


def _vote_number(field: str, vals: list[dict[str, Value]], min_conf: float, vendor: str, first: RowReading | None,
                 img: Any) -> tuple[Any, str | None, set[str]]:
    """:func:`~dmslab.ingest.ocr._vote.vote` on a field, with reads that disagree only on ``0``, ``6`` and ``8``
    settled by the glyphs' shapes in ``img``, the image of the ``first`` full-page read (fixed-width pages).
    The third item is ``{field}`` when so settled, else empty."""
    value, flag = vote(field, [v.get(field) for v in vals], min_conf)
    name = {"ctdivol_mgy": "ctdi", "dlp_mgycm": "dlp"}.get(field)
    if flag is None or first is None or name is None:
        return value, flag, set()
    settled = resolve(img, first.fields.get(name), [v.get(field) for v in vals], min_conf,
                      lambda text: _number(text, vendor, name))
    return (settled, None, {field}) if settled is not None else (value, flag, set())


def _row_values(reads: Reads, vendor: str, min_conf: float,
                img: Any = None) -> tuple[dict[str, Any], list[str], str]:
    """Voted field values of one row, its review flags and its key for the event UID.

    ``img``: the image of the first full-page read, on fixed-width pages, for the shape check of its 6s and 8s
    (:func:`~dmslab.ingest.ocr._glyph.shape_fix`).
    """
    vals = [_interpret(r, vendor) if r is not None else {} for r in reads]
    ra, rb = reads[0], reads[1]
    flags: list[str] = []
    sa, sb = vals[0].get("series"), vals[1].get("series")
    if (sa is None) != (sb is None) and (sa or sb).conf >= min_conf:  # type: ignore[union-attr]
        sa = sb = sa or sb  # the series number only keys the event; one clear read is enough
    series, _ = vote("series", [sa, sb], 0.0)
    ta, tb = vals[0].get("acquisition_type"), vals[1].get("acquisition_type")
    one = ta or tb
    if (ta is None) != (tb is None) and one is not None and (one.conf >= min_conf
                                                               or one.text.lower() in LAYOUTS[vendor].types):
        ta = tb = one  # a categorical word read once is enough when clear or spelt exactly as the vendor prints it
    acq_type, type_flag = vote("acquisition_type", [ta, tb], 0.0)
    values: dict[str, Any] = {"acquisition_type": acq_type}
    resolved: set[str] = set()  # fields whose reads disagreed only on 0, 6 and 8, settled by the glyphs' shapes
    if type_flag:
        flags.append(type_flag)
    for field in _expected(acq_type, vendor):
        conf = min_conf * _CONF_SCALE.get(field, 1.0)
        if field == "scan_length_mm":
            value, flag, both_images, ends = _scan_length(vals, conf)
            values["_length_on_both_images"], values["_length_ends"] = both_images, ends
        else:
            value, flag, settled = _vote_number(field, vals, conf, vendor, ra if img is not None else None, img)
            resolved |= settled
        values[field] = value
        if flag:
            flags.append(flag)
    if flags:
        seen = "' / '".join(r.text for r in (ra, rb) if r is not None)
        flags.append(f"ocr_review: row read as '{seen}'")
    shape_fix(values, ra, lambda t, n: _number(t, vendor, n), img, resolved)
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
    totals = [r.total for r in readings]
    total, flag = vote("total_dlp_mgycm", [Value(float(t.text), t.text, t.conf) if t else None for t in totals],
                       min_conf)
    flags = [flag] if flag else []
    if total is None or not dlps:
        return total, flags, False
    if any(d is None for d in dlps):
        flags.append("ocr_review: total DLP not checked against the rows (some row DLPs not read)")
        return total, flags, False
    text = next((t.text for t in totals if t is not None), "")
    decimals = len(text.partition(".")[2])
    tolerance = 0.5 * 10.0 ** -decimals * (len(dlps) + 1) + 1e-9
    row_sum = sum(d for d in dlps if d is not None)
    if abs(row_sum - total) > tolerance:
        flags.append(f"ocr_review: total DLP {total:.{decimals}f} != sum of rows {row_sum:.{decimals}f}; "
                     "total and row DLPs not stored")
        return None, flags, True
    return total, flags, False


def _cross_checked(values: dict[str, Any], flags: list[str], summed: bool,
                   confusable: str) -> tuple[dict[str, Any], list[str]]:
    """Withdraw a row's numbers that the reads agree on but no second relation confirms.

    All are kept when the row's length check ran (CTDIvol, DLP and scan length all agreed,
    :func:`_consistent`). Failing that, a DLP is kept only when the rows add up to the agreed total, a scan
    length only when both ends were read alike on both prepared images, and on pages whose font makes some
    digits come out wrong alike in every read (``confusable``; GE's dotted zero read ``6``: ``6.08`` as
    ``6.68``, ``309.89`` as ``369.89`` in the row and the total alike) a number showing such a digit is not
    kept either.
    """
    out, new = dict(values), list(flags)
    both_images = out.pop("_length_on_both_images", False)
    ends = out.pop("_length_ends", "")
    shape_ok: set[str] = out.pop("_shape_ok", set())
    if all(out.get(f) is not None for f in ("ctdivol_mgy", "dlp_mgycm", "scan_length_mm")):
        return out, new
    risky = {"ctdivol_mgy": any(c in f"{out.get('ctdivol_mgy')}" for c in confusable),
             "dlp_mgycm": not summed or any(c in f"{out.get('dlp_mgycm')}" for c in confusable),
             "scan_length_mm": not both_images or any(c in ends for c in confusable)}
    for field in shape_ok:  # every 6 and 8 in it has the shape of that digit (:mod:`dmslab.ingest.ocr._glyph`)
        risky[field] = field == "dlp_mgycm" and not summed or field == "scan_length_mm" and not both_images
    for field, drop in risky.items():
        if drop and out.get(field) is not None:
            new.append(f"ocr_review: {field} read {out[field]} not stored: the DLP / CTDIvol length check could "
                       "not run and nothing else confirms it")
            out[field] = None
    return out, new


def _total_confirmed(total: float | None, flags: list[str], summed: bool, events: list[CtEventRecord],
                     confusable: str) -> tuple[float | None, list[str]]:
    """The total DLP only when the rows add up to it (on fonts with ``confusable`` digits, rows whose DLPs
    their length checks confirmed: else a ``459.00`` read ``453.00`` in the total and the row alike passes)."""
    if total is None:
        return None, flags
    if not summed:
        why = "the rows' DLPs could not all be read to check it"
    elif confusable and not all(e.dlp_mgycm is not None and e.ctdivol_mgy is not None
                                and e.scan_length_mm is not None
                                for e in events if e.acquisition_type != "constant_angle"):
        why = "not every row's DLP is confirmed by its length check"
    else:
        return total, flags
    return None, [*flags, f"ocr_review: total_dlp_mgycm read {total} not stored: {why}"]


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
    vendor, readings, images = _read_pages(ds)
    study_uid = str(ds.StudyInstanceUID)
    img = images[0] if LAYOUTS[vendor].monospace else None
    if img is not None:
        readings = fix_totals(readings, img)
    rows = [_row_values(reads, vendor, min_conf, img) for reads in _row_reads(readings)]
    total, study_flags, withdraw = _total(readings, [v.get("dlp_mgycm") for v, _, _ in rows
                                                     if v.get("acquisition_type") != "constant_angle"
                                                     or "dlp_mgycm" in v], min_conf)
    summed = total is not None and not withdraw and not any("not checked" in f for f in study_flags)
    events, seen = [], set()
    for k, (values, flags, key) in enumerate(rows):
        if withdraw and values.get("dlp_mgycm") is not None:
            flags = [*flags, f"ocr_review: dlp_mgycm read {values['dlp_mgycm']} withdrawn (rows do not add up to "
                             "the total)"]
            values = {**values, "dlp_mgycm": None}
        values, flags = _cross_checked(values, flags, summed, LAYOUTS[vendor].confusable)
        uid = event_uid(study_uid, "ocr", vendor, key if key not in seen else f"{key}#{k}")
        seen.add(key)
        canon, fixes = _canonical({f: v for f, v in values.items() if v is not None})
        events.append(CtEventRecord(event_uid=uid, flags=tuple(flags) + check_values("ct_event", canon),
                                    unit_fixes=tuple(fixes), **canon))
    total, study_flags = _total_confirmed(total, study_flags, summed, events, LAYOUTS[vendor].confusable)
    study, patient = study_record(ds, pseudonymise, source_kind="ocr", flags=study_flags,
                                  values={"total_dlp_mgycm": total, "n_events_reported": len(events)})
    n_flags = sum(len(e.flags) for e in events) + len(study.flags)
    logger.info("%s: OCR of %s dose screen: %d events, %d review flags", source.sop_instance_uid, vendor,
                len(events), n_flags)
    return DoseReport(source=SourceRecord(**{**_fields(source), "importer": "ocr", "template": f"screen:{vendor}"}),
                      equipment=equipment_from(ds), patient=patient, study=study, ct_events=tuple(events))


def _fields(source: SourceRecord) -> dict[str, Any]:
    return {f: getattr(source, f) for f in SourceRecord.__slots__}
