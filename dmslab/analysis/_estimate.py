"""The result type of every derived number: the value never travels without its method record.

An :class:`Estimate` has no arithmetic and no ``float()``: a caller who wants to add effective doses or
compare SSDEs has to go through the value *and* sees the method it came with (``dmslab.analysis.
effective_dose.sum_effective_doses`` is the one way to add effective doses, and it refuses mixed methods).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from dmslab.store import DerivedValue

__all__ = ["Estimate"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A derived value with its method record (see :class:`dmslab.store.DerivedValue` for the fields).

    ``value`` is ``None`` when the method refused (outside its fit domain, wrong phantom, no size): ``flags``
    then say why, and :attr:`note` says it in a sentence.
    """

    quantity: str
    value: float | None
    method: str
    method_version: str
    basis: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    assumptions: Sequence[str] = ()
    uncertainty: str | None = None
    flags: Sequence[str] = ()
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Whether there is a value."""
        return self.value is not None

    @property
    def note(self) -> str:
        """One line: value (or why none), method, basis and flags."""
        head = (f"{self.quantity} = {self.value:.3g}" if self.value is not None
                else f"{self.quantity}: not computed ({self.reason or ', '.join(self.flags)})")
        flags = f"; flags: {', '.join(self.flags)}" if self.flags else ""
        return f"{head} [{self.method} v{self.method_version}; {self.basis}{flags}]"

    def to_derived(self, study_id: int, event_uid: str | None, *,
                   computed_at: dt.datetime | None = None) -> DerivedValue:
        """The store record of this estimate for ``study_id`` / ``event_uid``."""
        assumptions = list(self.assumptions) + ([self.reason] if self.reason and self.value is None else [])
        return DerivedValue(study_id=study_id, event_uid=event_uid, quantity=self.quantity, value=self.value,
                            method=self.method, method_version=self.method_version, basis=self.basis,
                            inputs=dict(self.inputs), assumptions=tuple(assumptions), uncertainty=self.uncertainty,
                            flags=tuple(self.flags), computed_at=computed_at or dt.datetime.now())

    def __add__(self, other: object) -> NoReturn:
        raise TypeError(f"an Estimate ({self.method}) cannot be added with '+': the method would be lost; use "
                        "dmslab.analysis.effective_dose.sum_effective_doses, which checks and states it")

    __radd__ = __add__

    def _repr_html_(self) -> str:
        return f"<p><code>{html.escape(self.note)}</code></p>"
