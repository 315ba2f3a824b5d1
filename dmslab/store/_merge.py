"""How several dose objects of one study combine into one study row.

Rule (documented for MPEs in the README): let E_old be the events already stored for the study and
E_new the events of the incoming object.
- E_new ⊇ E_old (first object, or a cumulative report such as Siemens "Multi"): the incoming totals replace.
- E_new ∩ E_old = ∅ (a continuation, such as Siemens "Continued"): totals add up.
- E_new ⊆ E_old (an older partial report arriving late): stored totals stay.
- partial overlap: additive totals are recomputed as stored + the new events' own sums, and the study is
  flagged so an MPE can look.

Precedence comes first (an MPE's rule: the best dose source per study and modality wins). Each object is
of a kind ranked RDSR (incl. Enhanced SR, vendor summaries, RRDSR) > dose screen (Philips Dose Info, OCR)
> image headers. The rule above only combines objects of the study's best kind:
- an object of a worse kind than the study's best is recorded (``source_object.status = "superseded"``,
  with the winning SOP Instance UID in ``detail``) and adds nothing;
- an object of a better kind supersedes what is stored: the study's events (and planes) are removed, their
  source objects become ``superseded``, and the study's totals become the new object's own.
Manual entries (``dmslab correct``) belong to the study's current source and go with it when superseded.
A PET/CT exam has a CT and an NM study row, so a CT RDSR never supersedes the NM image headers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ADDITIVE_TOTALS", "SOURCE_LABEL", "SOURCE_RANK", "merge_totals", "report_kind", "source_label",
           "source_rank"]

ADDITIVE_TOTALS = ("total_dlp_mgycm", "total_dap_gym2", "total_rp_dose_gy", "fluoro_time_s", "agd_left_mgy",
                   "agd_right_mgy", "n_events_reported")


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def merge_totals(old: dict[str, Any], new: dict[str, Any], old_events: set[str], new_events: set[str],
                 new_event_sums: dict[str, float], *, keys: tuple[str, ...] = ADDITIVE_TOTALS,
                 ) -> tuple[dict[str, Any], str | None]:
    """Totals (``keys``) of the merged study or plane and, for a partial overlap, a flag explaining the merge."""
    if new_events >= old_events:
        return {k: new.get(k) for k in keys}, None
    if not (new_events & old_events):
        return {k: _add(old.get(k), new.get(k)) for k in keys}, None
    if new_events <= old_events:
        return {k: old.get(k) for k in keys}, None
    merged = {k: old.get(k) for k in keys}
    for k, v in new_event_sums.items():
        merged[k] = _add(merged.get(k), v)
    return merged, "totals: objects overlap partially; additive totals = stored + new events"


# ---- precedence between dose sources ------------------------------------------------------------------
#: Rank of each kind of dose source: per study (Study Instance UID and modality) only the best one counts.
SOURCE_RANK = {"rdsr": 3, "ocr": 2, "header": 1}
#: How a kind of source is named in ``source_object.detail``.
SOURCE_LABEL = {"rdsr": "RDSR", "ocr": "dose screen", "header": "image header", "manual": "manual entry"}


def report_kind(importer: str | None, study_kind: str) -> str:
    """The kind of dose source an object is: ``rdsr``, ``ocr`` (a dose screen), ``header`` or ``manual``.

    The Philips "Dose Info" screen says ``source_kind="header"`` on its study record but is a dose screen
    (importer ``ocr``); every other object is what its study record says.

    >>> report_kind("ocr", "header"), report_kind("rrdsr", "rdsr"), report_kind("header", "header")
    ('ocr', 'rdsr', 'header')
    """
    return "ocr" if importer == "ocr" else study_kind


def source_rank(kind: str | None) -> int | None:
    """Rank of a source kind: RDSR (incl. Enhanced SR, vendor summaries, RRDSR) 3 > dose screen 2 > image
    header 1; a kind a third-party importer invents ranks with image headers. ``None`` for manual entries,
    which correct or complete the study's current source and never outrank it.

    >>> [source_rank(k) for k in ("rdsr", "ocr", "header", "vendor_x", "manual")]
    [3, 2, 1, 1, None]
    """
    if kind == "manual":
        return None
    return SOURCE_RANK.get(kind or "", 1)


def source_label(kind: str | None) -> str:
    """Readable name of a source kind for ``source_object.detail``."""
    return SOURCE_LABEL.get(kind or "", kind or "unknown source")
