"""``dmslab export``: dose data as CSV, XLSX or Parquet with the analysis filters, anonymised unless the site's
settings grant identifiers (``export_identifiers``)."""

from __future__ import annotations

import argparse

from dmslab.cli._common import Builder, SettingsFrom, iso_datetime

__all__ = ["BUILDERS", "cmd_export"]


def _bands(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give lower bounds in years, e.g. 0,1,5,10,15,18") from None


def cmd_export(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    """Write one export file; a progress bar on stderr; one summary line."""
    from tqdm import tqdm

    from dmslab.errors import ConfigError
    from dmslab.export import export
    from dmslab.store import Store, StudyFilter

    settings = settings_from(args)
    if args.identifiers and not settings.export_identifiers:
        raise ConfigError("--with-identifiers needs the setting export_identifiers = true "
                          "(DMSLAB_EXPORT_IDENTIFIERS): a site decides who may take identifiers out")
    where = StudyFilter(start=args.start, end=args.end, rooms=tuple(args.rooms) if args.rooms else None,
                        standard_names=tuple(args.standard_names) if args.standard_names else None,
                        patient_group=args.patient_group, include_non_patient=args.include_non_patient)
    store = Store(settings.database_url, read_only=True)
    try:
        with tqdm(total=0, unit=" events", disable=bool(getattr(args, "quiet", False)), leave=False) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            summary = export(store, args.path, modality=args.modality, where=where, fmt=args.format,
                             identifiers=args.identifiers, age_bands=args.age_bands, progress=progress)
    finally:
        store.close()
    print(summary)
    return 0


def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="the file to write (.csv, .xlsx or .parquet; never overwritten)")
    p.add_argument("--modality", required=True, choices=("CT", "DX", "MG", "RF", "NM"))
    p.add_argument("--format", choices=("csv", "xlsx", "parquet"), help="default: from the file's suffix")
    p.add_argument("--from", dest="start", type=iso_datetime, help="first day (inclusive)")
    p.add_argument("--to", dest="end", type=iso_datetime, help="end day (exclusive)")
    p.add_argument("--room", action="append", dest="rooms", help="restrict to a room (repeatable)")
    p.add_argument("--standard-name", action="append", dest="standard_names", help="restrict to a standard name "
                                                                                  "(repeatable)")
    p.add_argument("--patient-group", default=None, help="adult or e.g. 'paediatric age 1-5 years' (default: all)")
    p.add_argument("--include-non-patient", action="store_true", help="also QA and phantom studies")
    p.add_argument("--age-bands", type=_bands, default=(), help="ages as bands from these lower bounds in years, "
                                                                 "e.g. 0,1,5,10,15,18 (default: years)")
    p.add_argument("--with-identifiers", dest="identifiers", action="store_true",
                   help="also UIDs and keyed pseudonyms (only when the settings grant export_identifiers)")
    p.set_defaults(func=cmd_export)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {"export": _export}
