"""``dmslab audit``, ``dmslab names …`` (standard exam names) and ``dmslab drl …`` (DRL audit, local DRLs,
exceedances)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dmslab.cli._common import Builder, SettingsFrom, iso_datetime, print_frame

if TYPE_CHECKING:
    from dmslab.store import Store

__all__ = ["BUILDERS", "cmd_audit"]


def cmd_audit(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    """The one DRL audit (:func:`dmslab.analysis.drl.drl_audit`) as text, on a read-only store."""
    from dmslab.analysis.drl import MIN_N, audit_text, drl_audit
    from dmslab.analysis.stats import Filters
    from dmslab.store import Store

    opt = vars(args)  # ``dmslab demo`` calls this with its own options: the filters then take their defaults
    filters = Filters(start=opt.get("period_start"), end=opt.get("period_end"), modality=opt.get("modality"),
                      rooms=tuple(opt.get("rooms") or ()) or None, patient_group=opt.get("patient_group", "adult"))
    drl_set, min_n = opt.get("drl_set", "UK"), opt.get("min_n") or MIN_N
    store = Store(settings_from(args).database_url, read_only=True)
    try:
        audit = drl_audit(store, drl_set=drl_set, filters=filters, min_n=min_n)
    finally:
        store.close()
    print(audit_text(audit, drl_set=drl_set, filters=filters, min_n=min_n))
    return 0


def _store(args: argparse.Namespace, settings_from: SettingsFrom, *, read_only: bool = False) -> Store:
    from dmslab.store import Store

    return Store(settings_from(args).database_url, read_only=read_only)


def _names_apply(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.analysis.naming import apply_names

    s = apply_names(_store(args, settings_from))
    print(f"{s.studies} studies: {s.mapped} with a standard name, {s.changed} changed, {s.unmapped} unmapped")
    return 0


def _names_unmapped(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.analysis.naming import unmapped

    store = _store(args, settings_from, read_only=True)  # names are set at ingest and by `names apply`
    print_frame(unmapped(store, n_suggestions=args.suggestions).drop(columns=["best"]),
                "every study has a standard name", max_colwidth=80)
    return 0


def _names_import(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.analysis.naming import apply_names, import_rules

    store = _store(args, settings_from)
    n = import_rules(store, args.csv, replace=not args.append)
    s = apply_names(store)
    print(f"imported {n} rules from {args.csv}; re-classified {s.studies} studies ({s.changed} changed, "
          f"{s.unmapped} unmapped)")
    return 0


def _names_export(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.analysis.naming import export_rules

    print(f"wrote {export_rules(_store(args, settings_from), args.csv)} rules to {args.csv}")
    return 0


def _drl(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.analysis import drl
    from dmslab.analysis.stats import Filters

    store = _store(args, settings_from, read_only=True)  # names are set at ingest and by `names apply`
    flt = Filters(start=args.start, end=args.end, modality=args.modality,
                  rooms=tuple(args.rooms) if args.rooms else None, patient_group=args.patient_group,
                  include_non_patient=args.include_non_patient)
    if args.action == "references":
        print_frame(drl.drl_references(args.drl_set, patient_group=args.patient_group, store=store), "no DRL rows",
                    max_colwidth=80)
    elif args.action == "exceedances":
        metric = "total_dap_gym2" if args.modality == "RF" else "dlp_mgycm"
        print_frame(drl.study_exceedances(store, drl_set=args.drl_set, metric=metric, filters=flt),
                    "no exam above the per-exam DRL", max_colwidth=80)
    elif args.action == "derive":
        print_frame(drl.derive_local_drls(store, filters=flt, by=args.by, min_n=args.min_n), "too few data",
                    max_colwidth=80)
    else:
        print(f"DRL audit ({args.drl_set}): {args.by} medians, minimum {args.min_n} values per median")
        print_frame(drl.drl_audit(store, drl_set=args.drl_set, filters=flt, by=args.by, min_n=args.min_n)
                    .drop(columns=["source"]), "no studies in the store", max_colwidth=80)
    return 0


def _audit(p: argparse.ArgumentParser) -> None:
    """The options of ``dmslab audit``: the filters of the notebooks (notebooks/README.md)."""
    p.add_argument("--period-start", type=iso_datetime, help="first day of the period (ISO date, inclusive)")
    p.add_argument("--period-end", type=iso_datetime, help="first day after the period (ISO date, exclusive)")
    p.add_argument("--modality", choices=("CT", "DX", "MG", "RF"), help="one modality (default: every one)")
    p.add_argument("--room", action="append", dest="rooms", help="one room (repeatable; default: every room)")
    p.add_argument("--drl-set", default="UK", help="UK, DE, EU, US, INT or local (default UK)")
    p.add_argument("--patient-group", default="adult", help="adult (default) or e.g. 'paediatric age 1-5 years'")
    p.add_argument("--min-n", "--min-studies", type=int, dest="min_n", default=None,
                   help="fewest values a median needs to be judged (default 10; fewer: 'too few')")
    p.set_defaults(func=cmd_audit)


def _names(names: argparse.ArgumentParser) -> None:
    sub = names.add_subparsers(dest="names_command", required=True)
    sub.add_parser("apply", help="(re)classify every study with the current rules").set_defaults(func=_names_apply)
    p = sub.add_parser("unmapped", help="local names without a standard name, with ranked suggestions")
    p.add_argument("--suggestions", type=int, default=3, help="suggestions per name (default 3)")
    p.set_defaults(func=_names_unmapped)
    p = sub.add_parser("import", help="replace the site's rules by a CSV file (columns of naming_rule)")
    p.add_argument("csv")
    p.add_argument("--append", action="store_true", help="add to the current rules instead of replacing them")
    p.set_defaults(func=_names_import)
    p = sub.add_parser("export", help="write the active rules (site rules, else dmslab's seed rules) to CSV")
    p.add_argument("csv")
    p.set_defaults(func=_names_export)


def _drl_command(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("audit", "exceedances", "derive", "references"),
                   help="audit: medians vs DRL; exceedances: single exams above the per-exam DRL; derive: "
                        "local DRLs = 75th percentile of room medians; references: the DRL rows used")
    p.add_argument("--drl-set", default="UK", help="UK, DE, EU, US, INT or local (default UK)")
    p.add_argument("--modality", choices=("CT", "DX", "MG", "RF"))
    p.add_argument("--room", action="append", dest="rooms", help="restrict to a room (repeatable)")
    p.add_argument("--from", dest="start", type=iso_datetime, help="first day (inclusive)")
    p.add_argument("--to", dest="end", type=iso_datetime, help="end day (exclusive)")
    p.add_argument("--by", choices=("room", "facility"), default="room")
    p.add_argument("--min-n", type=int, default=10, help="minimum sample size per median (default 10)")
    p.add_argument("--patient-group", default="adult", help="adult or e.g. 'paediatric age 1-5 years'")
    p.add_argument("--include-non-patient", action="store_true",
                   help="also QA and phantom studies (study.exclusion_reason; left out by default)")
    p.set_defaults(func=_drl)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "audit": _audit,
    "names": _names,
    "drl": _drl_command,
}
