"""Reporting: scheduled notebook runs (papermill), HTML reports with the code hidden, an index page, e-mail.

Pipelines (``pipelines/*.yml``) say which notebook runs with which parameters, how often and who receives the
report; :class:`Runner` executes what is due and records every run in the store's ``pipeline_run`` table.
"""

from dmslab.reporting._format import Html, metric_label, viewer_link
from dmslab.reporting._i18n import format_number, languages
from dmslab.reporting._lock import RunInProgressError, RunLock
from dmslab.reporting._mail import send_report
from dmslab.reporting._page import Report
from dmslab.reporting._runs import PipelineRun, RunLog
from dmslab.reporting.pipelines import Period, Pipeline, Schedule, load_pipelines
from dmslab.reporting.report import NotebookFailed, execute_notebook, notebook_to_html, write_index
from dmslab.reporting.runner import Runner, RunResult, write_drl_report

__all__ = [
    "Html",
    "NotebookFailed",
    "Period",
    "Pipeline",
    "PipelineRun",
    "Report",
    "RunInProgressError",
    "RunLock",
    "RunLog",
    "RunResult",
    "Runner",
    "Schedule",
    "execute_notebook",
    "format_number",
    "languages",
    "load_pipelines",
    "metric_label",
    "notebook_to_html",
    "send_report",
    "viewer_link",
    "write_drl_report",
    "write_index",
]
