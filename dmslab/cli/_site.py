"""``dmslab init``, ``migrate``, ``ingest``, ``correct`` and ``selftest``: set up a site, feed its store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmslab.cli._common import EXIT_INCOMPLETE, EXIT_OK, Builder, SettingsFrom

__all__ = ["BUILDERS", "cmd_init"]


def cmd_init(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.jobs import init_site

    for line in init_site(settings_from(args)):
        print(line)
    return 0


def _cmd_migrate(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.jobs import migrate_site

    print(migrate_site(settings_from(args)))
    return 0


def _cmd_ingest(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from tqdm import tqdm

    from dmslab.ingest import iter_files
    from dmslab.jobs import ingest_paths

    settings = settings_from(args)
    total = sum(1 for _p, skip in iter_files(args.paths, onerror=lambda _exc: None) if not skip)
    with tqdm(total=total, unit="file", desc="ingest", disable=args.quiet or None, file=sys.stderr) as bar:
        summary = ingest_paths(args.paths, settings, progress=bar.update)
    for line in summary.lines():
        print(line)
    print(f"quarantine: {settings.quarantine_dir}" if summary.rejected else "nothing quarantined")
    return EXIT_OK if summary.complete else EXIT_INCOMPLETE


def _cmd_correct(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.ingest.manual import read_manual_csv
    from dmslab.store import Store

    reports = list(read_manual_csv(args.csv))
    store = Store(settings_from(args).database_url, create=False)
    summary = store.write(reports)
    store.close()
    print(f"{len(reports)} study report(s) from {args.csv}: {summary.ingested} written, {summary.new_events} new "
          "event(s); events already stored were corrected with the values given")
    return 0


def _cmd_selftest(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.selftest import run_selftest, write_expected_template

    settings = settings_from(args)
    if args.write_template:
        Path(args.expected).parent.mkdir(parents=True, exist_ok=True)
        df = write_expected_template(args.dir, args.expected, settings=settings)
        print(f"wrote {len(df)} values to {args.expected}: check each against an independent source before use")
        return 0
    result = run_selftest(args.dir, args.expected, settings=settings)
    for line in result.lines():
        print(line)
    return 0 if result.passed else 1


def _init(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=cmd_init)


def _migrate(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=_cmd_migrate)


def _ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+")
    p.add_argument("--workers", type=int, help="parser processes (default: CPUs)")
    p.set_defaults(func=_cmd_ingest)


def _correct(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv")
    p.set_defaults(func=_cmd_correct)


def _selftest(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir")
    p.add_argument("--expected", required=True, help="CSV/JSON with file, scope, field, value[, tolerance]")
    p.add_argument("--write-template", action="store_true", help="write what dmslab reads now to --expected")
    p.set_defaults(func=_cmd_selftest)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "init": _init,
    "migrate": _migrate,
    "ingest": _ingest,
    "correct": _correct,
    "selftest": _selftest,
}
