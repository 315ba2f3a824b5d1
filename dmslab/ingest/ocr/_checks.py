"""Relations between the values read from a dose page that confirm a value, or withdraw it.

A number read alike by several reads may still be wrong alike (blur turns ``6.03`` into ``6.63`` in every
read): what stores it as fact is a relation it must satisfy. The irradiated length DLP / CTDIvol must fit the
scan length (:func:`consistent`), the rows' DLPs must add up to the total (:func:`agreed_total`), and a number no
relation checks must have been confirmed by both readers, tesseract and the font's shapes
(:func:`cross_checked`).
"""

from __future__ import annotations

from typing import Any

from dmslab.ingest.ocr._layouts import ScreenReading
from dmslab.ingest.ocr._shapes import FIT_MIN, PageShapes, decide
from dmslab.ingest.ocr._vote import Value
from dmslab.records import CtEventRecord

__all__ = ["agreed_total", "consistent", "cross_checked", "total_confirmed"]


def consistent(values: dict[str, Any]) -> bool:
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


def agreed_total(readings: tuple[ScreenReading, ...], dlps: list[float | None], min_conf: float,
                 shapes: PageShapes | None = None) -> tuple[float | None, list[str], bool, bool]:
    """The agreed total DLP, study flags, whether the rows' DLPs must be withdrawn (sum mismatch), and whether
    the total was confirmed by the font's shapes (:func:`~dmslab.ingest.ocr._shapes.decide`)."""
    totals = [r.total for r in readings]
    shape = shapes.read([(k if k < 2 else -1, t) for k, t in enumerate(totals) if t is not None], "total",
                        float) if shapes is not None else None
    total, flag, by_shape = decide("total_dlp_mgycm", [Value(float(t.text), t.text, t.conf) if t else None
                                                       for t in totals], shape, min_conf)
    flags = [flag] if flag else []
    row_sum = sum(d for d in dlps if d is not None) if dlps and all(d is not None for d in dlps) else None
    if (total is None and shape is not None and shape.fit >= FIT_MIN and row_sum is not None
            and abs(row_sum - shape.value) < 0.5 * 10.0 ** -_decimals(shape.text)):
        # read by shape, not by tesseract, but the rows' DLPs add up to it: a second relation confirms it
        total, flags, by_shape = shape.value, [], True
    if total is None or not dlps:
        return total, flags, False, by_shape
    if row_sum is None:
        flags.append("ocr_review: total DLP not checked against the rows (some row DLPs not read)")
        return total, flags, False, by_shape
    text = shape.text if by_shape and shape is not None else next((t.text for t in totals if t is not None), "")
    decimals = _decimals(text)
    tolerance = 0.5 * 10.0 ** -decimals * (len(dlps) + 1) + 1e-9
    if abs(row_sum - total) > tolerance:
        flags.append(f"ocr_review: total DLP {total:.{decimals}f} != sum of rows {row_sum:.{decimals}f}; "
                     "total and row DLPs not stored")
        return None, flags, True, by_shape
    return total, flags, False, by_shape


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def cross_checked(values: dict[str, Any], flags: list[str], summed: bool,
                  confusable: str) -> tuple[dict[str, Any], list[str]]:
    """Withdraw a row's numbers that the reads agree on but no second relation confirms.

    All are kept when the row's length check ran (CTDIvol, DLP and scan length all agreed,
    :func:`consistent`). Failing that, a DLP is kept only when the rows add up to the agreed total, a scan
    length only when both ends were read alike on both prepared images, and on pages whose font makes some
    digits come out wrong alike in every read (``confusable``; GE's dotted zero read ``6``: ``6.08`` as
    ``6.68``, ``309.89`` as ``369.89`` in the row and the total alike) a number showing such a digit is not
    kept either. A number the font's shapes and a tesseract read agree on (``_shape_ok``) is kept: two
    readers that work differently do not err alike.
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
    for field in shape_ok:
        risky[field] = False
    for field, drop in risky.items():
        if drop and out.get(field) is not None:
            new.append(f"ocr_review: {field} read {out[field]} not stored: the DLP / CTDIvol length check could "
                       "not run and nothing else confirms it")
            out[field] = None
    return out, new


def total_confirmed(total: float | None, flags: list[str], summed: bool, events: list[CtEventRecord],
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
