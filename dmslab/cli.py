"""The ``dmslab`` command line: init, ingest, synth, audit, demo.

Importing this module is cheap (``dmslab --version`` and ``--help`` load no pandas, SQLAlchemy, pydicom or
pynetdicom): each command imports what it needs when it runs, and the subcommands of other packages are
registered only when one of them is asked for (:data:`_LAZY_COMMANDS`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import dmslab
from dmslab.errors import DmslabError

if TYPE_CHECKING:
    from dmslab.config import Settings

__all__ = ["EXIT_ERROR", "EXIT_INCOMPLETE", "EXIT_OK", "main"]

logger = logging.getLogger(__name__)

#: Exit codes (README "Exit codes", ``dmslab --help``).
EXIT_OK = 0
#: An unexpected error (a bug: ``-v`` shows the traceback).
EXIT_BUG = 1
#: The command could not run: bad arguments, settings, database URL, database unreachable or missing, key.
EXIT_ERROR = 2
#: ``dmslab ingest`` ran, but some files were rejected (quarantined, or unreadable) or a folder could not be read.
EXIT_INCOMPLETE = 3

_EXIT_CODES = """exit codes:
  0  done (ingest: every file ingested, duplicate or superseded; files skipped by name do not count)
  1  unexpected error (a bug: run again with -v for the traceback and report it)
  2  could not run: arguments, settings, database URL, database unreachable or not initialised, key
  3  ingest: some files were rejected (see the summary and the quarantine folder) or a folder was unreadable"""


def _settings(args: argparse.Namespace) -> Settings:
    from dmslab.config import load_settings

    return load_settings(home=args.home, database_url=args.database_url, workers=getattr(args, "workers", None))


def _cmd_init(args: argparse.Namespace) -> int:
    from dmslab.jobs import init_site

    for line in init_site(_settings(args)):
        print(line)
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from dmslab.jobs import migrate_site

    print(migrate_site(_settings(args)))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dmslab.ingest import iter_files
    from dmslab.jobs import ingest_paths

    settings = _settings(args)
    total = sum(1 for _p, skip in iter_files(args.paths, onerror=lambda _exc: None) if not skip)
    with tqdm(total=total, unit="file", desc="ingest", disable=args.quiet or None, file=sys.stderr) as bar:
        summary = ingest_paths(args.paths, settings, progress=bar.update)
    for line in summary.lines():
        print(line)
    print(f"quarantine: {settings.quarantine_dir}" if summary.rejected else "nothing quarantined")
    return EXIT_OK if summary.complete else EXIT_INCOMPLETE


def _cmd_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dmslab.synth import DepartmentConfig, generate_department

    cfg = DepartmentConfig(ct_rooms=args.ct_rooms, dx_rooms=args.dx_rooms, mg_rooms=args.mg_rooms,
                           rf_rooms=args.rf_rooms, months=args.months, seed=args.seed,
                           studies_per_room_per_day=args.studies_per_day)
    with tqdm(unit="file", desc="synth", disable=args.quiet or None, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        truth = generate_department(args.out, cfg, progress=progress)
    n_files = sum(len(s.files) for s in truth.studies)
    print(f"wrote {n_files} dose reports of {len(truth.studies)} studies to {args.out} "
          f"(ground truth: {Path(args.out) / 'ground_truth.json'})")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from dmslab.analysis.drl import MIN_N, audit_text, drl_audit
    from dmslab.analysis.stats import Filters
    from dmslab.store import Store

    opt = vars(args)  # ``dmslab demo`` calls this with its own options: the filters then take their defaults
    filters = Filters(start=opt.get("period_start"), end=opt.get("period_end"), modality=opt.get("modality"),
                      rooms=tuple(opt.get("rooms") or ()) or None, patient_group=opt.get("patient_group", "adult"))
    drl_set, min_n = opt.get("drl_set", "UK"), opt.get("min_n") or MIN_N
    store = Store(_settings(args).database_url, read_only=True)
    try:
        audit = drl_audit(store, drl_set=drl_set, filters=filters, min_n=min_n)
    finally:
        store.close()
    print(audit_text(audit, drl_set=drl_set, filters=filters, min_n=min_n))
    return 0


def _iso_day(text: str) -> object:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date such as 2026-01-31") from exc


def _audit_options(aud: argparse.ArgumentParser) -> None:
    """The options of ``dmslab audit``: the filters of the notebooks (notebooks/README.md)."""
    aud.add_argument("--period-start", type=_iso_day, help="first day of the period (ISO date, inclusive)")
    aud.add_argument("--period-end", type=_iso_day, help="first day after the period (ISO date, exclusive)")
    aud.add_argument("--modality", choices=("CT", "DX", "MG", "RF"), help="one modality (default: every one)")
    aud.add_argument("--room", action="append", dest="rooms", help="one room (repeatable; default: every room)")
    aud.add_argument("--drl-set", default="UK", help="UK, DE, EU, US, INT or local (default UK)")
    aud.add_argument("--patient-group", default="adult", help="adult (default) or e.g. 'paediatric age 1-5 years'")
    aud.add_argument("--min-n", "--min-studies", type=int, dest="min_n", default=None,
                     help="fewest values a median needs to be judged (default 10; fewer: 'too few')")


def _cmd_correct(args: argparse.Namespace) -> int:
    from dmslab.ingest.manual import read_manual_csv
    from dmslab.store import Store

    reports = list(read_manual_csv(args.csv))
    store = Store(_settings(args).database_url, create=False)
    summary = store.write(reports)
    store.close()
    print(f"{len(reports)} study report(s) from {args.csv}: {summary.ingested} written, {summary.new_events} new "
          "event(s); events already stored were corrected with the values given")
    return 0


def _cmd_selftest(args: argparse.Namespace) -> int:
    from dmslab.selftest import run_selftest, write_expected_template

    settings = _settings(args)
    if args.write_template:
        Path(args.expected).parent.mkdir(parents=True, exist_ok=True)
        df = write_expected_template(args.dir, args.expected, settings=settings)
        print(f"wrote {len(df)} values to {args.expected}: check each against an independent source before use")
        return 0
    result = run_selftest(args.dir, args.expected, settings=settings)
    for line in result.lines():
        print(line)
    return 0 if result.passed else 1


def _compare_with_truth(settings: Settings, synth_dir: Path) -> tuple[bool, str]:
    """Whether the store's ingested objects are exactly the synthesised ones (by SOP Instance UID), and one line
    saying so."""
    from dmslab.store import Store
    from dmslab.synth import GroundTruth

    truth = GroundTruth.from_json(synth_dir / "ground_truth.json")
    expected = {uid for s in truth.studies for uid in s.sop_instance_uids}
    store = Store(settings.database_url)
    try:
        rows = store.table("source_object")
    finally:
        store.close()
    ingested = rows.loc[rows["status"] == "ingested", "sop_instance_uid"]
    missing, extra = expected - set(ingested), set(ingested) - expected
    twice = int(ingested.duplicated().sum())
    if not (missing or extra or twice):
        return True, (f"check: the store holds exactly the {len(expected)} synthesised objects "
                      "(by SOP Instance UID, each ingested once)")
    first = sorted(missing)[:1] or sorted(extra)[:1]
    return False, (f"check FAILED: {len(expected)} synthesised, {ingested.nunique()} ingested: {len(missing)} "
                   f"missing, {len(extra)} not synthesised, {twice} ingested twice"
                   f"{f' (e.g. {first[0]})' if first else ''}")


def _cmd_demo(args: argparse.Namespace) -> int:
    home = Path(args.home or "demo-data")
    synth_dir = home / "synthetic-department"
    args.home = str(home)
    if not (synth_dir / "ground_truth.json").exists():
        args.out, args.seed = str(synth_dir), 20260105
        _cmd_synth(args)
    _cmd_init(args)
    from dmslab.net import send_and_ingest_over_dicom

    # over DICOM: receiver on 127.0.0.1 (free port) -> inbox -> ingest worker; stopped once the inbox is drained
    print("sending the department over DICOM to a receiver on 127.0.0.1 ...", flush=True)
    summary = send_and_ingest_over_dicom(synth_dir, _settings(args))
    for line in summary.lines():
        print(line)
    same, line = _compare_with_truth(_settings(args), synth_dir)
    print(line)
    if not (summary.all_stored and same):
        print("dmslab: error: not every synthesised object was stored and ingested exactly once (see above)",
              file=sys.stderr)
        return 1
    print()
    from dmslab.analysis.naming import apply_names
    from dmslab.store import Store

    names_store = Store(_settings(args).database_url)  # until ingest applies the standard names (issue 12 item 2)
    try:
        apply_names(names_store)
    finally:
        names_store.close()
    rc = _cmd_audit(args)
    from dmslab.reporting import write_drl_report

    settings = _settings(args)
    print("\nwriting the DRL audit report (papermill + nbconvert)...", flush=True)
    path = write_drl_report(settings, settings.home / "reports")
    print(f"DRL audit report: {path.resolve()}")
    return rc


#: Packages that add subcommands: each has ``register(add, settings_from)`` where ``add(name, help)`` returns
#: a subparser (with the global options) and the handler set with ``set_defaults(func=...)`` returns an exit code.
_COMMAND_MODULES = ("dmslab.net.commands", "dmslab.analysis.commands", "dmslab.reporting.commands")

#: The subcommands each of :data:`_COMMAND_MODULES` registers, with their one-line help, so that ``--help``
#: and ``--version`` need not import them (they import pandas, SQLAlchemy, pynetdicom...). The module is
#: imported only when one of its commands is asked for. A test checks this table against the modules.
_LAZY_COMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "dmslab.net.commands": (
        ("receive", "DICOM Storage SCP: receive dose objects into the inbox and ingest them"),
        ("status", "receiver status: inbox depth, last received, last ingest, errors"),
        ("qr", "back-fill dose objects from a PACS (C-FIND, then C-GET or C-MOVE of the best dose source)"),
        ("mpps", "run an MPPS SCP (N-CREATE/N-SET) that stores the dose content of performed procedure steps"),
    ),
    "dmslab.analysis.commands": (
        ("names", "standard exam names: classify studies, list unmapped names, share rules as CSV"),
        ("drl", "DRL audit: room or facility medians against national or local DRLs"),
        ("alerts", "dose alerts: evaluate rules, e-mail, list, acknowledge"),
    ),
    "dmslab.reporting.commands": (
        ("pipelines", "run scheduled notebook reports (papermill), list pipelines, show recorded runs"),
    ),
}

#: Global options that take a value (skipped when looking for the subcommand's name).
_VALUE_OPTIONS = ("--home", "--database-url")


def _register(module: str, add: object) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return  # that feature is not in this version
        raise
    mod.register(add, _settings)


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option or an option's value)."""
    it = iter(argv)
    for word in it:
        if word == "--":
            return next(it, None)
        if word in _VALUE_OPTIONS:
            next(it, None)
        elif not word.startswith("-"):
            return word
    return None


def _global_options(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0 if default is None else default,
                   help="log to stderr (-v info, -vv debug) and show tracebacks of errors")
    p.add_argument("--home", default=default, help="dmslab home folder (default $DMSLAB_HOME or ~/.dmslab)")
    p.add_argument("--database-url", default=default, help="SQLAlchemy URL (default SQLite file in the home folder)")
    p.add_argument("-q", "--quiet", action="store_true", default=False if default is None else default,
                   help="no progress bars")


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the module of ``command`` (if it is another package's) is imported."""
    p = argparse.ArgumentParser(prog="dmslab", description="Radiation dose management: ingest, store, audit.",
                                epilog=_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"dmslab {dmslab.__version__}")
    _global_options(p, None)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)  # the same options also after the subcommand
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, parents=[common])

    add("init", "create the pseudonymisation key and the database").set_defaults(func=_cmd_init)
    add("migrate", "bring the database's schema to this dmslab's (after an upgrade)").set_defaults(func=_cmd_migrate)
    ing = sub.add_parser("ingest", help="ingest DICOM files or folders (recursive)", parents=[common],
                         epilog=_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ing.add_argument("paths", nargs="+")
    ing.add_argument("--workers", type=int, help="parser processes (default: CPUs)")
    ing.set_defaults(func=_cmd_ingest)
    syn = add("synth", "write a synthetic department of RDSRs with ground truth")
    syn.add_argument("out")
    syn.add_argument("--months", type=int, default=3)
    syn.add_argument("--seed", type=int, default=20260105)
    syn.add_argument("--ct-rooms", type=int, default=2)
    syn.add_argument("--dx-rooms", type=int, default=1)
    syn.add_argument("--mg-rooms", type=int, default=1)
    syn.add_argument("--rf-rooms", type=int, default=1)
    syn.add_argument("--studies-per-day", type=float, default=6.0, help="CT studies per room per working day")
    syn.set_defaults(func=_cmd_synth)
    aud = add("audit", "DRL audit: room medians per standard name against the DRL (read-only)")
    _audit_options(aud)
    aud.set_defaults(func=_cmd_audit)
    cor = add("correct", "enter or correct dose values from a CSV (manual entry, OCR review)")
    cor.add_argument("csv")
    cor.set_defaults(func=_cmd_correct)
    st = add("selftest", "acceptance test: compare what dmslab reads from a folder with expected values")
    st.add_argument("dir")
    st.add_argument("--expected", required=True, help="CSV/JSON with file, scope, field, value[, tolerance]")
    st.add_argument("--write-template", action="store_true", help="write what dmslab reads now to --expected")
    st.set_defaults(func=_cmd_selftest)
    for module in _COMMAND_MODULES:
        names = _LAZY_COMMANDS.get(module, ())
        if command is not None and any(command == name for name, _help in names):
            _register(module, add)
        else:
            for name, help_ in names:  # a placeholder: listed in --help, replaced when the command is asked for
                add(name, help_)
    demo = add("demo", "synthesise a department, send it over DICOM to the receiver, ingest it into SQLite, "
                       "print the audit, write the HTML report")
    demo.add_argument("--months", type=int, default=3)
    demo.add_argument("--ct-rooms", type=int, default=2)
    demo.add_argument("--dx-rooms", type=int, default=1)
    demo.add_argument("--mg-rooms", type=int, default=1)
    demo.add_argument("--rf-rooms", type=int, default=1)
    demo.add_argument("--studies-per-day", type=float, default=6.0)
    demo.add_argument("--min-n", "--min-studies", type=int, dest="min_n", default=None,
                      help="fewest values a median of the audit needs to be judged (default 10)")
    demo.set_defaults(func=_cmd_demo)
    return p


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    """Show a warning as one line for a person (no file name, no source line; ``-v`` logs where it came from)."""
    logger.debug("%s from %s:%d", category.__name__, filename, lineno)
    print(f"dmslab: warning: {message}", file=file or sys.stderr)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _report(exc: Exception) -> int:
    """Print one line saying what went wrong and what to do; return the exit code."""
    if isinstance(exc, DmslabError):
        print(f"dmslab: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(exc, OSError) and exc.filename is not None:
        print(f"dmslab: error: {exc.strerror or _first_line(exc)}: {exc.filename}", file=sys.stderr)
        return EXIT_ERROR
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        print(f"dmslab: error: the database failed: {_first_line(getattr(exc, 'orig', None) or exc)}; check that "
              "the server is running and the URL (--database-url, DMSLAB_DATABASE_URL)", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(exc, OSError):
        print(f"dmslab: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    print(f"dmslab: error: unexpected {type(exc).__name__}: {_first_line(exc)} (this is a bug: run the command "
          "again with -v for the traceback and report it)", file=sys.stderr)
    return EXIT_BUG


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dmslab`` command; returns the exit code (see :data:`EXIT_INCOMPLETE` ...)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(_command_name(argv)).parse_args(argv)
    if not hasattr(args, "func"):  # a placeholder: its module is not in this version
        print(f"dmslab: error: the {args.command!r} command is not available in this installation", file=sys.stderr)
        return EXIT_ERROR
    if args.verbose:
        dmslab.debug_logger(logging.DEBUG if args.verbose > 1 else logging.INFO)
    with warnings.catch_warnings():  # restored on return: this is the CLI's own display, not the library's
        warnings.showwarning = _one_line_warning
        try:
            return int(args.func(args))
        except KeyboardInterrupt:
            print("dmslab: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if args.verbose:
                raise
            return _report(exc)


if __name__ == "__main__":
    raise SystemExit(main())
