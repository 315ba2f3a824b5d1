"""``dmslab pipelines run|list|status``: scheduled notebook reports from the command line (cron, systemd timers)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dmslab.cli._common import EXIT_LOCKED, Builder, SettingsFrom, global_options, require_extra
from dmslab.errors import ConfigError

if TYPE_CHECKING:
    import datetime as dt

    from dmslab.config import Settings
    from dmslab.reporting import Pipeline, Runner, RunResult

__all__ = ["BUILDERS"]



def _pipelines_dir(args: argparse.Namespace) -> Path:
    return Path(args.pipelines_dir or os.environ.get("DMSLAB_PIPELINES_DIR") or "pipelines")


def _reports_dir(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(args.reports_dir or os.environ.get("DMSLAB_REPORTS_DIR") or settings.home / "reports")


def _date(text: str) -> dt.date:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _cmd_run(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    require_extra("notebooks", "dmslab pipelines run", "yaml", "papermill", "nbconvert")
    from dmslab.config import override
    from dmslab.reporting import RunInProgressError, RunLock, Runner, load_pipelines

    settings = settings_from(args)
    pipelines = load_pipelines(_pipelines_dir(args))
    smtp = override(settings.smtp, host=args.smtp_host, port=args.smtp_port, user=args.smtp_user,
                    security=args.smtp_security, sender=args.smtp_from, reports_url=args.reports_url)
    runner = Runner(settings, _reports_dir(args, settings), smtp=smtp)
    try:
        with RunLock(runner.reports_dir):
            results = _run_chosen(args, runner, pipelines)
    except RunInProgressError as exc:
        print(f"dmslab pipelines run: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    for r in results:
        print(r.line())
    print(f"index: {runner.reports_dir / 'index.html'}")
    return 1 if any(r.run.status == "failed" for r in results) else 0


def _run_chosen(args: argparse.Namespace, runner: Runner, pipelines: list[Pipeline]) -> list[RunResult]:
    """The runs asked for: the named pipelines for ``--period``, else every due one."""
    from dmslab.reporting import Period

    if args.period:
        if not args.names:
            raise ConfigError("--period needs the pipeline name(s) to run for it")
        period = Period.parse(args.period)
        chosen = [p for p in pipelines if p.name in args.names]
        missing = sorted(set(args.names) - {p.name for p in chosen})
        if missing:
            raise ConfigError(f"unknown pipeline(s) {missing}; known: {[p.name for p in pipelines]}")
        return [runner.run(p, period, force=args.force) for p in chosen]
    import datetime as dt

    return runner.run_due(pipelines, as_of=args.as_of or dt.date.today(), names=args.names, force=args.force)


def _cmd_list(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    require_extra("notebooks", "dmslab pipelines list", "yaml")
    import datetime as dt

    from dmslab.reporting import Period, load_pipelines

    as_of = args.as_of or dt.date.today()
    for p in load_pipelines(_pipelines_dir(args)):
        state = "" if p.enabled else " (disabled)"
        print(f"{p.name}{state}: {p.schedule.value}, due period {Period.due(p.schedule, as_of).label}, "
              f"notebook {p.notebook}, recipients {', '.join(p.recipients) or '-'}")
    return 0


def _cmd_status(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.reporting import RunLog
    from dmslab.store import Store

    store = Store(settings_from(args).database_url)
    try:
        runs = RunLog(store).runs(pipeline=args.pipeline, limit=args.limit)
    finally:
        store.close()
    if not runs:
        print("no pipeline runs recorded")
    for r in runs:
        took = f" in {(r.finished_at - r.started_at).total_seconds():.1f} s" if r.finished_at else ""
        what = r.report_path if r.status == "ok" else (r.error or "")
        print(f"{r.id:>5}  {r.started_at:%Y-%m-%d %H:%M}  {r.pipeline}  {r.period}  {r.status}{took}  {what}")
    return 0


def _pipelines(parser: argparse.ArgumentParser) -> None:
    """``dmslab pipelines`` with its ``run``, ``list`` and ``status`` subcommands."""
    common = global_options(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    common.add_argument("--pipelines-dir",
                        help="folder of *.yml pipelines (default $DMSLAB_PIPELINES_DIR or ./pipelines)")
    common.add_argument("--as-of", type=_date, help="run as if today were this date (YYYY-MM-DD)")
    sub = parser.add_subparsers(dest="pipelines_command", required=True)
    run = sub.add_parser("run", parents=[common], help="run the pipelines that are due (idempotent per period)")
    run.add_argument("names", nargs="*", help="pipelines to run (default: every enabled one); refused with exit "
                     f"code {EXIT_LOCKED} while another run holds <reports-dir>/.pipelines-run.lock")
    run.add_argument("--period", help="run the named pipelines for this period (YYYY-MM-DD, YYYY-Www, YYYY-MM)")
    run.add_argument("--force", action="store_true", help="run again even if the period already succeeded")
    run.add_argument("--reports-dir", help="where reports go (default $DMSLAB_REPORTS_DIR or <home>/reports)")
    run.add_argument("--smtp-host", help="SMTP server (default $DMSLAB_SMTP_HOST; unset: no e-mail)")
    run.add_argument("--smtp-port", type=int, help="SMTP port (default $DMSLAB_SMTP_PORT or 25/587/465)")
    run.add_argument("--smtp-user", help="SMTP login; the password only from $DMSLAB_SMTP_PASSWORD")
    run.add_argument("--smtp-security", choices=["none", "starttls", "ssl"], help="default $DMSLAB_SMTP_SECURITY")
    run.add_argument("--smtp-from", help="sender address (default $DMSLAB_SMTP_FROM or dmslab@<host>)")
    run.add_argument("--reports-url", help="base URL where the reports folder is published, for e-mail links")
    run.set_defaults(func=_cmd_run)
    lst = sub.add_parser("list", parents=[common], help="list pipelines and the period each would run for")
    lst.set_defaults(func=_cmd_list)
    plain = global_options(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    st = sub.add_parser("status", parents=[plain],
                        help="recorded runs, newest first, with errors of failed runs")
    st.add_argument("--pipeline", help="only this pipeline")
    st.add_argument("--limit", type=int, default=30, help="show at most this many runs (default 30)")
    st.set_defaults(func=_cmd_status)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "pipelines": _pipelines,
}
