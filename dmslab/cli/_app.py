"""The ``dmslab`` parser and entry point: the command table, exit codes and the one-line error report.

Only the parser of the command that runs is built (:func:`build_parser`): the others appear in ``--help`` with their
one line from :data:`COMMANDS`, and only the command group of the one that runs is imported (a plain ``from
dmslab.cli import _x``, inside a function). A group imports its heavy modules (pandas, SQLAlchemy, pydicom,
pynetdicom...) inside the function that runs the command.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

import dmslab
from dmslab.cli._common import (
    EXIT_BUG,
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_OK,
    Command,
    global_options,
    settings,
)
from dmslab.errors import DmslabError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["COMMANDS", "EXIT_BUG", "EXIT_ERROR", "EXIT_INCOMPLETE", "EXIT_OK", "build_parser", "main"]

logger = logging.getLogger(__name__)


# The command groups, each imported (statically) only when one of its commands runs.
def _site() -> ModuleType:
    from dmslab.cli import _site as group

    return group


def _analysis() -> ModuleType:
    from dmslab.cli import _analysis as group

    return group


def _skin() -> ModuleType:
    from dmslab.cli import _skin as group

    return group


def _demo() -> ModuleType:
    from dmslab.cli import _demo as group

    return group


def _receive() -> ModuleType:
    from dmslab.cli import _receive as group

    return group


def _qr() -> ModuleType:
    from dmslab.cli import _qr as group

    return group


def _mpps() -> ModuleType:
    from dmslab.cli import _mpps as group

    return group


def _alerts() -> ModuleType:
    from dmslab.cli import _alerts as group

    return group


def _lab() -> ModuleType:
    from dmslab.cli import _lab as group

    return group


def _pipelines() -> ModuleType:
    from dmslab.cli import _pipelines as group

    return group


def _export() -> ModuleType:
    from dmslab.cli import _export as group

    return group


def _derive() -> ModuleType:
    from dmslab.cli import _derive as group

    return group


def _dashboard() -> ModuleType:
    from dmslab.cli import _dashboard as group

    return group


#: Every subcommand, in the order ``dmslab --help`` lists them (a test checks it against the groups' BUILDERS).
COMMANDS: tuple[Command, ...] = (
    Command("init", "create the pseudonymisation key and the database", _site),
    Command("migrate", "bring the database's schema to this dmslab's (after an upgrade)", _site),
    Command("ingest", "ingest DICOM files or folders (recursive)", _site, epilog=EXIT_CODES),
    Command("synth", "write a synthetic department of RDSRs with ground truth", _demo),
    Command("audit", "DRL audit: room medians per standard name against the DRL (read-only)", _analysis),
    Command("correct", "enter or correct dose values from a CSV (manual entry, OCR review)", _site),
    Command("selftest", "acceptance test: compare what dmslab reads from a folder with expected values", _site),
    Command("receive", "DICOM Storage SCP: receive dose objects into the inbox and ingest them", _receive),
    Command("status", "receiver status: inbox depth, last received, last ingest, errors", _receive),
    Command("qr", "back-fill dose objects from a PACS (C-FIND, then C-GET or C-MOVE of the best dose source)", _qr),
    Command("mpps", "run an MPPS SCP (N-CREATE/N-SET) that stores the dose content of performed procedure steps",
            _mpps),
    Command("names", "standard exam names: classify studies, list unmapped names, share rules as CSV", _analysis),
    Command("drl", "DRL audit: room or facility medians against national or local DRLs", _analysis),
    Command("alerts", "dose alerts: evaluate rules, e-mail, list, acknowledge", _alerts),
    Command("export", "dose data as CSV, XLSX or Parquet with the analysis filters (anonymised by default)",
            _export),
    Command("skin", "skin-dose map of projection RDSR files: PSD and where, areas over 2/3/5 Gy, method (read-only)",
            _skin),
    Command("derive", "compute and store SSDE and effective dose of CT studies, each with its method record",
            _derive),
    Command("pipelines", "run scheduled notebook reports (papermill), list pipelines, show recorded runs",
            _pipelines),
    Command("lab", "JupyterLab on the site's store (loopback, token) with the starter notebook prototype.ipynb",
            _lab),
    Command("dashboard", "serve the Voila dashboards (dashboards/*.ipynb) on the store: loopback, token, offline",
            _dashboard),
    Command("demo", "synthesise a department, send it over DICOM to the receiver, ingest it into SQLite, print the "
                    "audit, write the HTML report", _demo),
)

#: Global options that take a value (skipped when looking for the subcommand's name).
_VALUE_OPTIONS = ("--home", "--database-url")


def command_name(argv: Sequence[str]) -> str | None:
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with the arguments of ``command`` only (the other subcommands have just their help)."""
    p = argparse.ArgumentParser(prog="dmslab", description="Radiation dose management: ingest, store, audit.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"dmslab {dmslab.__version__}")
    global_options(p, None)
    common = global_options(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)  # also after the command
    sub = p.add_subparsers(dest="command", required=True)
    for c in COMMANDS:
        extra = {"epilog": c.epilog, "formatter_class": argparse.RawDescriptionHelpFormatter} if c.epilog else {}
        parser = sub.add_parser(c.name, help=c.help, parents=[common], **extra)  # type: ignore[arg-type]
        if c.name == command:
            c.builder()(parser)
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
    parser = build_parser(command_name(argv))
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):  # the command was not where command_name looked for it
        parser.error(f"put the global options before or after {args.command!r}, not between their values")
    if args.verbose:
        dmslab.debug_logger(logging.DEBUG if args.verbose > 1 else logging.INFO)
    with warnings.catch_warnings():  # restored on return: this is the CLI's own display, not the library's
        warnings.showwarning = _one_line_warning
        try:
            return int(args.func(args, settings))
        except KeyboardInterrupt:
            print("dmslab: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if args.verbose:
                raise
            return _report(exc)
