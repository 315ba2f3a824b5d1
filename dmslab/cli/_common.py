"""What every command group of the ``dmslab`` command line shares: the :class:`Command` entry, the global options,
the settings of a parsed command line and the table printer.

Importing this module is cheap (standard library only): a command group imports its heavy modules inside the
function that runs the command, so that ``dmslab --version`` and ``--help`` load none of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import datetime as dt
    from types import ModuleType

    from dmslab.config import Settings

__all__ = ["EXIT_BUG", "EXIT_CODES", "EXIT_ERROR", "EXIT_INCOMPLETE", "EXIT_LOCKED", "EXIT_OK", "Builder", "Command",
           "Handler", "SettingsFrom", "global_options", "iso_datetime", "print_frame", "require_extra", "settings"]

#: Exit codes (README "Exit codes", ``dmslab --help``): done.
EXIT_OK = 0
#: An unexpected error (a bug: ``-v`` shows the traceback).
EXIT_BUG = 1
#: The command could not run: bad arguments, settings, database URL, database unreachable or missing, key.
EXIT_ERROR = 2
#: ``dmslab ingest`` ran, but some files were rejected (quarantined, or unreadable) or a folder could not be read.
EXIT_INCOMPLETE = 3
#: ``dmslab pipelines run`` refused because another run holds the lock (EX_TEMPFAIL: try again later).
EXIT_LOCKED = 75
#: The exit codes, shown after ``dmslab --help`` and ``dmslab ingest --help``.
EXIT_CODES = """exit codes:
  0  done (ingest: every file ingested, duplicate or superseded; files skipped by name do not count)
  1  unexpected error (a bug: run again with -v for the traceback and report it)
  2  could not run: arguments, settings, database URL, database unreachable or not initialised, key
  3  ingest: some files were rejected (see the summary and the quarantine folder) or a folder was unreadable"""

#: Reads the site's settings for a parsed command line (injected, so that tests can hand in their own).
SettingsFrom = Callable[[argparse.Namespace], "Settings"]
#: Runs a command: ``handler(args, settings_from)`` returns the exit code.
Handler = Callable[[argparse.Namespace, SettingsFrom], int]
#: Adds a command's arguments to its subparser and sets ``func`` (a :data:`Handler`) with ``set_defaults``.
Builder = Callable[[argparse.ArgumentParser], None]


class Command(NamedTuple):  # not a dataclass: importing dataclasses costs ``dmslab --version`` 5 ms
    """One ``dmslab`` subcommand of the table in :mod:`dmslab.cli._app`.

    Attributes
    ----------
    name, help
        The subcommand's name and its one line in ``dmslab --help``.
    group
        Returns the command group's module (imported then, by a plain ``from dmslab.cli import _x``), whose
        ``BUILDERS[name]`` is the command's :data:`Builder`; called only for the command that runs (or whose
        ``--help`` is asked for), so that ``dmslab --version`` imports no command group.
    epilog
        Text shown after the command's own ``--help`` (kept as written).
    """

    name: str
    help: str
    group: Callable[[], ModuleType]
    epilog: str | None = None

    def builder(self) -> Builder:
        """The function that builds this command's subparser."""
        found: Builder = self.group().BUILDERS[self.name]
        return found


def settings(args: argparse.Namespace) -> Settings:
    """The site's settings: TOML file, then ``DMSLAB_*`` variables, then ``--home`` / ``--database-url``."""
    from dmslab.config import load_settings

    return load_settings(home=args.home, database_url=args.database_url, workers=getattr(args, "workers", None))


def global_options(p: argparse.ArgumentParser, default: object) -> argparse.ArgumentParser:
    """Add ``-v``, ``--home``, ``--database-url`` and ``-q`` to ``p``.

    ``default=None`` for the main parser; ``argparse.SUPPRESS`` for a subcommand's parser, so that the options
    may come after the subcommand too without overriding values given before it.
    """
    p.add_argument("-v", "--verbose", action="count", default=0 if default is None else default,
                   help="log to stderr (-v info, -vv debug) and show tracebacks of errors")
    p.add_argument("--home", default=default, help="dmslab home folder (default $DMSLAB_HOME or ~/.dmslab)")
    p.add_argument("--database-url", default=default, help="SQLAlchemy URL (default SQLite file in the home folder)")
    p.add_argument("-q", "--quiet", action="store_true", default=False if default is None else default,
                   help="no progress bars")
    return p


def iso_datetime(text: str) -> dt.datetime:
    """An argparse type: an ISO date or date-time (``2026-01-31``, ``2026-01-31T08:00``), parsed by
    :func:`dmslab.store.period_bound` like every other period bound."""
    from dmslab.errors import FilterError
    from dmslab.store import period_bound

    try:
        when = period_bound(text, "date")
    except FilterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if when is None:
        raise argparse.ArgumentTypeError("an empty date: give one such as 2026-01-31")
    return when


def print_frame(df: Any, empty: str, *, max_rows: int = 1000, width: int = 220, **options: Any) -> None:
    """Print a DataFrame as a plain table without its index, or ``empty`` when it has no rows.

    ``options`` are further pandas display options, e.g. ``max_colwidth=80``.
    """
    import pandas as pd

    extra = [x for key, value in options.items() for x in (f"display.{key}", value)]
    with pd.option_context("display.max_rows", max_rows, "display.width", width, *extra):
        print(df.to_string(index=False) if len(df) else empty)


def require_extra(extra: str, feature: str, *modules: str) -> None:
    """Check, before a command starts its work, that the optional ``modules`` of ``extra`` are installed.

    Raises
    ------
    dmslab.errors.MissingExtraError
        Naming the first missing module and ``pip install 'dmslab[EXTRA]'``; any other import error propagates.
    """
    from dmslab.errors import import_optional

    for module in modules:
        import_optional(module, feature=feature, extra=extra)
