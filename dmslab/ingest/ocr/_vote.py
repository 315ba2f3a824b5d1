"""Voting between several reads of one field: a value is stored only when the reads clearly agree on it.

Each read (full page greyscale, full page binarised, and the cell re-reads of both) gives at most one
:class:`Value`. :func:`vote` keeps the most frequent value when

* at least two reads give it and no read gives a different value (reads are not independent: the same blur
  that turns ``6.03`` into ``6.63`` in one read often does so in two others, so a majority is not enough),
* and the most confident of its reads reaches ``min_conf`` (several reads agreeing is not enough on its own:
  a blurred ``309.89`` is read ``369.89`` by all four reads, with confidences 70-91).

Otherwise the field is ``None`` and a review flag says what was read. Reads that gave nothing, or text not
understood (``value`` ``None``), neither vote for nor against.

Examples
--------
>>> vote("dlp_mgycm", [Value(12.5, "12.5", 95), Value(12.5, "12.5", 60), Value(17.5, "17.5", 40)], 80)
(None, "ocr_review: dlp_mgycm read '12.5' / '12.5' / '17.5' (reads disagree or not understood)")
>>> vote("dlp_mgycm", [Value(12.5, "12.5", 95), Value(12.5, "12.5", 60), None], 80)
(12.5, None)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Value", "vote"]


@dataclass(frozen=True, slots=True)
class Value:
    """A field value interpreted from one read, with the text it came from and its confidence (0-100)."""

    value: Any
    text: str
    conf: float


def vote(field: str, values: Sequence[Value | None], min_conf: float) -> tuple[Any, str | None]:
    """The value the reads agree on, else ``None`` and an ``"ocr_review: ..."`` flag saying why.

    Parameters
    ----------
    field
        Name used in the flag.
    values
        One entry per read; ``None`` when that read did not see the field.
    min_conf
        Confidence (0-100) the most confident agreeing read must reach.
    """
    seen = [v for v in values if v is not None]
    if not seen:
        return None, f"ocr_review: {field} not read"
    valid = [v for v in seen if v.value is not None]
    texts = "' / '".join(v.text for v in seen)
    if len(seen) == 1:
        one = seen[0]
        return None, f"ocr_review: {field} read '{one.text}' (conf {one.conf:.0f}) in one read only"
    counts = Counter(v.value for v in valid)
    if not counts:
        return None, f"ocr_review: {field} read '{texts}' (reads disagree or not understood)"
    best, n_best = counts.most_common(1)[0]
    n_other = len(valid) - n_best
    if n_best < 2 or n_other:
        if len(valid) == 1:
            one = valid[0]
            return None, f"ocr_review: {field} read '{one.text}' (conf {one.conf:.0f}) in one read only"
        return None, f"ocr_review: {field} read '{texts}' (reads disagree or not understood)"
    support = [v for v in valid if v.value == best]
    conf = max(v.conf for v in support)
    if conf < min_conf:
        return None, f"ocr_review: {field} read '{support[0].text}' (conf {conf:.0f} < {min_conf:.0f})"
    return best, None
