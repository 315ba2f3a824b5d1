"""``dmslab names …`` (standard names) and ``dmslab drl …`` (DRL audit, local DRLs, exceedances) subcommands."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd

from dmslab.config import Settings

__all__ = ["register"]

_Add = Callable[[str, str], argparse.ArgumentParser]
_SettingsFrom = Callable[[argparse.Namespace], Settings]


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date such as 2026-01-31") from exc


def _print(df: pd.DataFrame, empty: str) -> None:
    with pd.option_context("display.max_rows", 1000, "display.width", 220, "display.max_colwidth", 80):
        print(df.to_string(index=False) if len(df) else empty)


def register(add: _Add, settings_from: _SettingsFrom) -> None:
    """Add the ``names`` and ``drl`` subcommands (called by :mod:`dmslab.cli`)."""
    def store(args: argparse.Namespace) -> Any:
        from dmslab.store import Store

        return Store(settings_from(args).database_url)

    names = add("names", "standard exam names: classify studies, list unmapped names, share rules as CSV")
    sub = names.add_subparsers(dest="names_command", required=True)
    p = sub.add_parser("apply", help="(re)classify every study with the current rules")
    p.set_defaults(func=lambda a: _names_apply(store(a)))
    p = sub.add_parser("unmapped", help="local names without a standard name, with ranked suggestions")
    p.add_argument("--suggestions", type=int, default=3, help="suggestions per name (default 3)")
    p.set_defaults(func=lambda a: _names_unmapped(store(a), a.suggestions))
    p = sub.add_parser("import", help="replace the site's rules by a CSV file (columns of naming_rule)")
    p.add_argument("csv")
    p.add_argument("--append", action="store_true", help="add to the current rules instead of replacing them")
    p.set_defaults(func=lambda a: _names_import(store(a), a.csv, a.append))
    p = sub.add_parser("export", help="write the active rules (site rules, else dmslab's seed rules) to CSV")
    p.add_argument("csv")
    p.set_defaults(func=lambda a: _names_export(store(a), a.csv))

    drl = add("drl", "DRL audit: room or facility medians against national or local DRLs")
    drl.add_argument("action", choices=("audit", "exceedances", "derive", "references"),
                     help="audit: medians vs DRL; exceedances: single exams above the per-exam DRL; derive: "
                          "local DRLs = 75th percentile of room medians; references: the DRL rows used")
    drl.add_argument("--drl-set", default="UK", help="UK, DE, EU, US, INT or local (default UK)")
    drl.add_argument("--modality", choices=("CT", "DX", "MG", "RF"))
    drl.add_argument("--room", action="append", dest="rooms", help="restrict to a room (repeatable)")
    drl.add_argument("--from", dest="start", type=_date, help="first day (inclusive)")
    drl.add_argument("--to", dest="end", type=_date, help="end day (exclusive)")
    drl.add_argument("--by", choices=("room", "facility"), default="room")
    drl.add_argument("--min-n", type=int, default=10, help="minimum sample size per median (default 10)")
    drl.add_argument("--patient-group", default="adult", help="adult or e.g. 'paediatric age 1-5 years'")
    drl.add_argument("--include-non-patient", action="store_true",
                     help="also QA and phantom studies (study.exclusion_reason; left out by default)")
    drl.set_defaults(func=lambda a: _drl(a, store(a)))
    from dmslab.analysis.alerts import add_alert_commands

    add_alert_commands(add, settings_from)


def _names_apply(store: Any) -> int:
    from dmslab.analysis.naming import apply_names

    s = apply_names(store)
    print(f"{s.studies} studies: {s.mapped} with a standard name, {s.changed} changed, {s.unmapped} unmapped")
    return 0


def _names_unmapped(store: Any, n: int) -> int:
    from dmslab.analysis.naming import apply_names, unmapped

    apply_names(store)
    _print(unmapped(store, n_suggestions=n).drop(columns=["best"]), "every study has a standard name")
    return 0


def _names_import(store: Any, path: str, append: bool) -> int:
    from dmslab.analysis.naming import apply_names, import_rules

    n = import_rules(store, path, replace=not append)
    s = apply_names(store)
    print(f"imported {n} rules from {path}; re-classified {s.studies} studies ({s.changed} changed, "
          f"{s.unmapped} unmapped)")
    return 0


def _names_export(store: Any, path: str) -> int:
    from dmslab.analysis.naming import export_rules

    print(f"wrote {export_rules(store, path)} rules to {path}")
    return 0


def _drl(args: argparse.Namespace, store: Any) -> int:
    from dmslab.analysis import drl
    from dmslab.analysis.naming import apply_names
    from dmslab.analysis.stats import Filters

    apply_names(store)
    flt = Filters(start=args.start, end=args.end, modality=args.modality,
                  rooms=tuple(args.rooms) if args.rooms else None, patient_group=args.patient_group,
                  include_non_patient=args.include_non_patient)
    if args.action == "references":
        _print(drl.drl_references(args.drl_set, patient_group=args.patient_group, store=store), "no DRL rows")
    elif args.action == "exceedances":
        metric = "total_dap_gym2" if args.modality == "RF" else "dlp_mgycm"
        _print(drl.study_exceedances(store, drl_set=args.drl_set, metric=metric, filters=flt),
               "no exam above the per-exam DRL")
    elif args.action == "derive":
        _print(drl.derive_local_drls(store, filters=flt, by=args.by, min_n=args.min_n), "too few data")
    else:
        print(f"DRL audit ({args.drl_set}): {args.by} medians, minimum {args.min_n} values per median")
        _print(drl.drl_audit(store, drl_set=args.drl_set, filters=flt, by=args.by, min_n=args.min_n)
               .drop(columns=["source"]), "no studies in the store")
    return 0
