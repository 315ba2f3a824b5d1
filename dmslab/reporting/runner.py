"""Run pipelines: execute the notebook for a period, write the HTML report, its PDF and the index, e-mail, record
the run.

A run for a pipeline and period that succeeded is not repeated (unless forced); a failed run is recorded with
its error and runs again the next time it is due or is asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmslab.config import Settings, SmtpSettings
from dmslab.errors import ConfigError, DmslabError
from dmslab.reporting._mail import send_report
from dmslab.reporting._pdf import html_to_pdf
from dmslab.reporting._runs import PipelineRun, RunLog, utcnow
from dmslab.reporting.pipelines import Period, Pipeline, Schedule
from dmslab.reporting.report import (
    NotebookFailed,
    execute_notebook,
    notebook_parameters,
    notebook_to_html,
    write_index,
)
from dmslab.store import Store, absolute_url, masked_url, study_span

__all__ = ["NOTEBOOKS_DIR", "RunResult", "Runner", "period_parameters", "write_drl_report"]

logger = logging.getLogger(__name__)

#: The notebooks shipped with dmslab (in the repository, next to the package).
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True, slots=True)
class RunResult:
    """What happened to one pipeline: the run recorded (or the earlier successful one, when ``skipped``)."""

    run: PipelineRun
    skipped: bool = False

    def line(self) -> str:
        """One human-readable line."""
        r = self.run
        if self.skipped:
            return f"{r.pipeline} {r.period}: already done (run {r.id}): {r.report_path}"
        if r.status == "ok":
            sent = f", e-mailed to {r.emailed_to}" if r.emailed_to else ""
            return f"{r.pipeline} {r.period}: ok (run {r.id}): {r.report_path}{sent}"
        return f"{r.pipeline} {r.period}: FAILED (run {r.id}): {r.error}"


@dataclass(frozen=True, slots=True)
class Runner:
    """Runs pipelines against the store of ``settings`` and writes reports under ``reports_dir``.

    Parameters
    ----------
    settings
        dmslab settings; ``database_url`` is passed to every notebook and records the runs.
    reports_dir
        Folder of the reports: ``<pipeline>/<period>_run<id>/`` per run (the executed notebook, the HTML report
        and its PDF), plus ``index.html``.
    smtp
        E-mail settings instead of ``settings.smtp``; reports are not e-mailed when the host is unset.
    timeout_s
        Longest time one notebook cell may run [s].
    """

    settings: Settings
    reports_dir: Path
    smtp: SmtpSettings | None = None
    timeout_s: float = 600.0

    def run_due(self, pipelines: Iterable[Pipeline], *, as_of: dt.date, names: Sequence[str] = (),
                force: bool = False) -> list[RunResult]:
        """Run every enabled pipeline (or those in ``names``) for its last complete period before ``as_of``."""
        chosen = list(pipelines)
        if names:
            unknown = sorted(set(names) - {p.name for p in chosen})
            if unknown:
                raise ConfigError(f"unknown pipeline(s) {unknown}; known: {sorted(p.name for p in chosen)}")
            chosen = [p for p in chosen if p.name in names]
        else:
            chosen = [p for p in chosen if p.enabled]
        return [self.run(p, Period.due(p.schedule, as_of), force=force) for p in chosen]

    def run(self, pipeline: Pipeline, period: Period, *, force: bool = False) -> RunResult:
        """Run ``pipeline`` for ``period`` unless it already succeeded for it (``force`` runs it anyway)."""
        store = Store(self.settings.database_url)
        try:
            log = RunLog(store)
            done = None if force else log.succeeded(pipeline.name, period)
            if done is not None:
                logger.info("pipeline %s %s already succeeded (run %d)", pipeline.name, period.label, done.id)
                return RunResult(done, skipped=True)
            run = self._execute(log, pipeline, period)
            write_index(self.reports_dir, log.runs())
            return RunResult(run)
        finally:
            store.close()

    def _parameters(self, period: Period, pipeline: Pipeline) -> dict[str, Any]:
        """The notebook's parameters; the database URL with its password masked (``***``): the executed notebook
        is a report people read, and the kernel takes the password from ``DMSLAB_DATABASE_URL``. The report's
        language (the pipeline's), the site's name and viewer URL template (the settings') go to the notebooks
        that take them."""
        url = masked_url(absolute_url(self.settings.database_url))
        site = {"language": pipeline.language, "site_name": self.settings.site_name,
                "viewer_url": self.settings.viewer_url}
        declared = set(notebook_parameters(pipeline.notebook)) if pipeline.notebook.is_file() else set()
        return {"database_url": url, **period_parameters(pipeline.notebook, period),
                **{k: v for k, v in site.items() if k in declared}, **pipeline.parameters}

    def _execute(self, log: RunLog, pipeline: Pipeline, period: Period) -> PipelineRun:
        params = self._parameters(period, pipeline)
        run = log.start(pipeline, period, parameters_json=json.dumps(params, sort_keys=True, default=str))
        folder = self.reports_dir / pipeline.name / f"{period.label}_run{run.id}"
        stem = f"{pipeline.name}_{period.label}"
        executed, html, pdf = folder / f"{stem}.ipynb", folder / f"{stem}.html", folder / f"{stem}.pdf"
        logger.info("pipeline %s %s: running %s (run %d)", pipeline.name, period.label, pipeline.notebook, run.id)
        try:
            execute_notebook(pipeline.notebook, executed, params, timeout_s=self.timeout_s,
                             environment={"DMSLAB_DATABASE_URL": absolute_url(self.settings.database_url)})
            notebook_to_html(executed, html, title=f"{pipeline.title} {period.label}")
            html_to_pdf(html, pdf, timeout_s=self.timeout_s)
        except NotebookFailed as exc:
            return self._failed(log, run, str(exc), executed)
        except Exception as exc:  # any other failure (missing notebook, dead kernel, timeout) is recorded too
            logger.exception("pipeline %s %s failed", pipeline.name, period.label)
            return self._failed(log, run, f"{type(exc).__name__}: {exc}", executed)
        try:
            sent = send_report(self.smtp or self.settings.smtp, pipeline.recipients,
                               subject=f"[dmslab] {pipeline.title} {period.label}", report=html,
                               reports_dir=self.reports_dir, pdf=pdf)
        except OSError as exc:  # smtplib.SMTPException is an OSError
            return self._failed(log, run, f"report written but not e-mailed: {type(exc).__name__}: {exc}",
                                executed, html, pdf)
        return log.update(run.id, status="ok", finished_at=utcnow(), notebook_path=str(executed.resolve()),
                          report_path=str(html.resolve()), pdf_path=str(pdf.resolve()),
                          emailed_to="; ".join(sent) or None)

    @staticmethod
    def _failed(log: RunLog, run: PipelineRun, error: str, executed: Path, html: Path | None = None,
                pdf: Path | None = None) -> PipelineRun:
        logger.error("pipeline %s %s failed (run %d): %s", run.pipeline, run.period, run.id, error)
        return log.update(run.id, status="failed", finished_at=utcnow(), error=error[:2000],
                          notebook_path=str(executed.resolve()) if executed.is_file() else None,
                          report_path=str(html.resolve()) if html is not None else None,
                          pdf_path=str(pdf.resolve()) if pdf is not None else None)


def period_parameters(notebook: Path, period: Period) -> dict[str, str]:
    """The period as every notebook names it (``notebooks/README.md``): ``period_start``/``period_end``, ISO
    dates, end exclusive. ``notebook`` is kept for callers; the vocabulary is the same for every notebook."""
    del notebook
    return {"period_start": period.start.isoformat(), "period_end": period.end.isoformat()}


def _data_period(store: Store) -> Period:
    """The whole days spanned by the studies in ``store`` (today when it is empty)."""
    span = study_span(store)
    if span is None:
        today = dt.date.today()
        return Period(today.isoformat(), today, today + dt.timedelta(days=1))
    first, last = span
    start, end = first.date(), last.date() + dt.timedelta(days=1)
    return Period(f"{start.isoformat()}_{(end - dt.timedelta(days=1)).isoformat()}", start, end)


def write_drl_report(settings: Settings, out_dir: str | os.PathLike[str]) -> Path:
    """Write the DRL audit HTML report of everything in the store (``make demo``) and return its path.

    Runs ``notebooks/drl_audit.ipynb`` (``department_overview.ipynb`` while it does not exist) through the
    pipeline runner for the period spanned by the stored studies; the run is recorded like any other.

    Raises
    ------
    DmslabError
        When the notebook fails; the message carries the notebook's error.
    """
    notebook = NOTEBOOKS_DIR / "drl_audit.ipynb"
    if not notebook.is_file():
        notebook = NOTEBOOKS_DIR / "department_overview.ipynb"
    pipeline = Pipeline(name="drl_audit", notebook=notebook, schedule=Schedule.MONTHLY, title="CT DRL audit",
                        parameters={"modality": "CT", "rooms": [], "drl_set": "UK"})
    store = Store(settings.database_url, read_only=True)  # only reads: the span of the stored studies
    try:
        period = _data_period(store)
    finally:
        store.close()
    result = Runner(settings, Path(out_dir)).run(pipeline, period, force=True)
    if result.run.status != "ok" or result.run.report_path is None:
        raise DmslabError(f"DRL audit report failed: {result.run.error} (see {result.run.notebook_path})")
    return Path(result.run.report_path)
