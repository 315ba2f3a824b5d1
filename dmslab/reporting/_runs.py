"""The ``pipeline_run`` table: one row per run of a pipeline for a period (running, ok or failed)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, fields
from typing import Any

from dmslab.reporting.pipelines import Period, Pipeline
from dmslab.store import Store, insert_pipeline_run, pipeline_runs, update_pipeline_run

__all__ = ["PipelineRun", "RunLog"]

logger = logging.getLogger(__name__)

STATUSES = ("running", "ok", "failed")


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One row of ``pipeline_run`` (see ``data_contracts/pipeline_run.toml``); times are naive UTC."""

    id: int
    pipeline: str
    notebook: str
    schedule: str
    period: str
    period_start: dt.datetime
    period_end: dt.datetime
    started_at: dt.datetime
    status: str
    finished_at: dt.datetime | None = None
    error: str | None = None
    parameters: str | None = None
    notebook_path: str | None = None
    report_path: str | None = None
    pdf_path: str | None = None
    emailed_to: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} not in {STATUSES}")


def utcnow() -> dt.datetime:
    """The current time as naive UTC (how the store keeps times)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


class RunLog:
    """Record and query pipeline runs in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def start(self, pipeline: Pipeline, period: Period, *, parameters_json: str) -> PipelineRun:
        """Insert a ``running`` row for ``pipeline`` and ``period`` and return it."""
        values: dict[str, Any] = {
            "pipeline": pipeline.name, "notebook": str(pipeline.notebook), "schedule": pipeline.schedule.value,
            "period": period.label, "period_start": _midnight(period.start), "period_end": _midnight(period.end),
            "started_at": utcnow(), "status": "running", "parameters": parameters_json}
        run_id = insert_pipeline_run(self.store, values)
        return PipelineRun(id=int(run_id), **values)

    def update(self, run_id: int, **values: Any) -> PipelineRun:
        """Set columns of run ``run_id`` (e.g. ``status``, ``finished_at``, ``error``) and return the new row."""
        if "status" in values and values["status"] not in STATUSES:
            raise ValueError(f"status {values['status']!r} not in {STATUSES}")
        update_pipeline_run(self.store, run_id, values)
        return self.get(run_id)

    def get(self, run_id: int) -> PipelineRun:
        """The run with id ``run_id`` (KeyError if there is none)."""
        runs = _runs(pipeline_runs(self.store, run_id=run_id))
        if not runs:
            raise KeyError(f"no pipeline run {run_id}")
        return runs[0]

    def succeeded(self, pipeline: str, period: Period) -> PipelineRun | None:
        """The newest successful run of ``pipeline`` for ``period``, if any."""
        runs = _runs(pipeline_runs(self.store, pipeline=pipeline, period=period.label, status="ok", limit=1,
                                   by_start=False))
        return runs[0] if runs else None

    def runs(self, *, pipeline: str | None = None, limit: int | None = None) -> list[PipelineRun]:
        """Runs, newest first (by start time, then id), optionally of one pipeline only."""
        return _runs(pipeline_runs(self.store, pipeline=pipeline, limit=limit))


def _runs(rows: list[dict[str, Any]]) -> list[PipelineRun]:
    names = [f.name for f in fields(PipelineRun)]
    return [PipelineRun(**{n: row[n] for n in names}) for row in rows]
