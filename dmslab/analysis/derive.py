"""Compute and store the derived values of CT studies: SSDE per event, effective dose per event and per study.

What ``dmslab derive`` runs over the history (and what an ingest hook may run on the studies just written).
Each value goes to the store's ``derived_value`` table with its method record (:mod:`dmslab.store._derived`);
refusals (outside the fit domain, phantom mismatch, no size...) are stored too, value empty and flags saying why,
so a reader sees that a value was tried and why there is none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dmslab.analysis import effective_dose, ssde
from dmslab.analysis._estimate import Estimate
from dmslab.store import DerivedValue, Store, StudyFilter, ct_dose_events, derived_values, write_derived

__all__ = ["DeriveSummary", "derive_ct", "study_records"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class DeriveSummary:
    """What one run did: studies seen, skipped (already derived by these method versions), values written, and
    per quantity and method how many had a value and how many were refused."""

    studies: int = 0
    skipped: int = 0
    written: int = 0
    computed: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """A human-readable summary."""
        out = [f"{self.studies} CT stud(ies): {self.skipped} already derived, {self.written} value(s) written"]
        for key in sorted(set(self.computed) | set(self.refused)):
            out.append(f"  {key}: {self.computed[key]} computed, {self.refused[key]} refused")
        return out


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}


def study_records(events: pd.DataFrame, *, k_table: str | Path | None = None,
                  computed_at: dt.datetime | None = None) -> list[DerivedValue]:
    """The derived values of one study's CT events (rows of :func:`dmslab.store.ct_dose_events`): SSDE per event,
    E per event and table, and the study's E per table."""
    at = computed_at or dt.datetime.now()
    out: list[DerivedValue] = []
    per_method: dict[str, list[tuple[dict[str, Any], Estimate]]] = {}
    study_id = int(events["study_id"].iloc[0])
    for raw in events.to_dict("records"):
        row = _clean(raw)
        s = ssde.event_ssde(row)
        if s is not None:
            out.append(s.to_derived(study_id, row["event_uid"], computed_at=at))
        if row.get("dlp_mgycm") is None:
            continue
        phantom = row.get("phantom_cm")
        for e in effective_dose.ct_effective_doses(float(row["dlp_mgycm"]), region_code=row.get("target_region_code"),
                                                   phantom_cm=None if phantom is None else int(phantom),
                                                   age_years=row.get("age_years"), path=k_table):
            out.append(e.to_derived(study_id, row["event_uid"], computed_at=at))
            per_method.setdefault(e.method, []).append((row, e))
    for pairs in per_method.values():
        out.append(effective_dose.study_effective_dose(pairs).to_derived(study_id, None, computed_at=at))
    return out


def _done(store: Store, where: StudyFilter) -> set[int]:
    """Studies that have values of this version of both methods (SSDE and effective dose)."""
    df = derived_values(store, where, quantities=["ssde_mgy", "effective_dose_msv"], parse=False)
    current = df[((df["quantity"] == "ssde_mgy") & (df["method_version"] == ssde.METHOD_VERSION))
                 | ((df["quantity"] == "effective_dose_msv")
                    & (df["method_version"] == effective_dose.METHOD_VERSION))]
    return {int(i) for i in current["study_id"].unique()}


def derive_ct(store: Store, where: StudyFilter = StudyFilter(), *, study_ids: Sequence[int] | None = None,  # noqa: PLR0913
              recompute: bool = False, k_table: str | Path | None = None, batch: int = 200,
              progress: Callable[[int], None] | None = None) -> DeriveSummary:
    """Compute and store SSDE and effective dose of the CT studies ``where`` (and ``study_ids``) selects.

    Studies that already have values of the current method versions are skipped unless ``recompute``.
    Values are written ``batch`` studies per transaction; ``progress(n)`` is called with the number of studies
    done after each batch (the CLI draws a progress bar from it).
    """
    events = ct_dose_events(store, where, study_ids=study_ids)
    summary = DeriveSummary(studies=int(events["study_id"].nunique()))
    skip = set() if recompute else _done(store, where)
    todo = events[~events["study_id"].isin(skip)]
    summary.skipped = summary.studies - int(todo["study_id"].nunique())
    pending: list[DerivedValue] = []
    n_done = 0
    for _sid, group in todo.groupby("study_id", sort=True):
        records = study_records(group, k_table=k_table)
        for r in records:
            (summary.computed if r.value is not None else summary.refused)[f"{r.quantity} {r.method}"] += 1
        pending += records
        n_done += 1
        if n_done % batch == 0:
            summary.written += write_derived(store, pending)
            pending = []
            if progress:
                progress(batch)
    summary.written += write_derived(store, pending)
    if progress and n_done % batch:
        progress(n_done % batch)
    logger.info("derive: %d studies, %d skipped, %d values written", summary.studies, summary.skipped,
                summary.written)
    return summary
