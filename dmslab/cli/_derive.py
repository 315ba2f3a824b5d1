"""``dmslab derive``: compute and store SSDE and effective dose (with their method records) for the history."""

from __future__ import annotations

import argparse
import sys

from dmslab.cli._common import Builder, SettingsFrom, iso_datetime

__all__ = ["BUILDERS"]


def _cmd_derive(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from tqdm import tqdm

    from dmslab.analysis.derive import derive_ct
    from dmslab.store import Store, StudyFilter, ct_dose_events

    settings = settings_from(args)
    store = Store(settings.database_url, create=False)
    try:
        where = StudyFilter(start=args.start, end=args.end)
        total = int(ct_dose_events(store, where)["study_id"].nunique())
        with tqdm(total=total, unit="study", desc="derive", disable=args.quiet or None, file=sys.stderr) as bar:
            summary = derive_ct(store, where, recompute=args.recompute, k_table=args.k_table, progress=bar.update)
    finally:
        store.close()
    print("\n".join(summary.lines()))
    return 0


def _derive(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=iso_datetime, help="only studies from this date/time (ISO)")
    p.add_argument("--end", type=iso_datetime, help="only studies before this date/time (ISO)")
    p.add_argument("--recompute", action="store_true",
                   help="compute again studies that already have values of the current method versions")
    p.add_argument("--k-table", help="CT DLP->E k-factor CSV instead of the shipped one (same columns; e.g. a site's "
                                     "ICRP 103 table beside ICRP 60: see docs/derived.md)")
    p.set_defaults(func=_cmd_derive)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "derive": _derive,
}
