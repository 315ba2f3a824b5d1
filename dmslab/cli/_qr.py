"""``dmslab qr``: back-fill dose objects from a PACS (:func:`dmslab.net.qr.run_qr`)."""

from __future__ import annotations

import argparse

from dmslab.cli._common import Builder, SettingsFrom

__all__ = ["BUILDERS"]


def _cmd_qr(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from tqdm import tqdm

    from dmslab.config import override
    from dmslab.net.qr import Peer, QrError, QrFilter, QrOptions, parse_date, run_qr

    settings = settings_from(args)
    qs = override(settings.qr, pacs_host=args.host, pacs_port=args.port, pacs_aet=args.aec, calling_aet=args.aet,
                  timeout_s=args.timeout, chunk_days=args.chunk_days, move_aet=args.move_aet,
                  listen_port=args.listen_port, inbox_dir=args.inbox)
    host, port, aec = qs.pacs_host, qs.pacs_port, qs.pacs_aet
    if host is None or port is None or aec is None:
        missing = [flag for flag, value in (("HOST", host), ("PORT", port), ("--aec", aec)) if value is None]
        raise QrError(f"no PACS {', '.join(missing)}: give them on the command line or set pacs_host, pacs_port, "
                      "pacs_aet in the [qr] section of dmslab.toml (or DMSLAB_QR_PACS_HOST/_PORT/_AET)")
    try:
        peer = Peer(host, port, aec, qs.calling_aet, timeout_s=qs.timeout_s)
        qf = QrFilter(date_from=parse_date(args.date_from) if args.date_from else None,
                      date_to=parse_date(args.date_to) if args.date_to else None,
                      modalities=tuple(m.upper() for m in args.modality), station_names=tuple(args.station),
                      include=tuple(args.include), exclude=tuple(args.exclude), chunk_days=qs.chunk_days)
    except ValueError as exc:
        raise QrError(str(exc)) from exc
    with tqdm(unit="study", desc="qr", disable=args.quiet or None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        opts = QrOptions(qs.inbox_dir, qs.move_aet, qs.listen_port, args.dry_run)
        summary = run_qr(peer, qf, settings, options=opts, progress=progress)
    for line in summary.lines():
        print(line)
    return 1 if summary.failed else 0


def _qr(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", nargs="?", help="PACS host name or address (default: [qr] pacs_host)")
    p.add_argument("port", nargs="?", type=int, help="PACS DICOM port (default: [qr] pacs_port)")
    p.add_argument("--aec", help="the PACS's AE title, called AE (default: [qr] pacs_aet)")
    p.add_argument("--aet", help="our AE title, calling AE (default: [qr] calling_aet, DMSLAB)")
    p.add_argument("--from", dest="date_from", help="first Study Date, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", help="last Study Date, YYYY-MM-DD")
    p.add_argument("--modality", action="append", default=[], help="keep studies with this modality (repeatable)")
    p.add_argument("--station", action="append", default=[], help="Station Name pattern, e.g. 'CT*' (repeatable)")
    p.add_argument("--include", action="append", default=[], help="Study Description pattern to keep (repeatable)")
    p.add_argument("--exclude", action="append", default=[], help="Study Description pattern to drop (repeatable)")
    p.add_argument("--chunk-days", type=int, help="days per study-level C-FIND (default: [qr] chunk_days, 7)")
    p.add_argument("--move-aet", help="retrieve by C-MOVE to this AE title instead of C-GET")
    p.add_argument("--listen-port", type=int, help="with --move-aet: receive the moved objects on this port")
    p.add_argument("--inbox", help="folder for retrieved objects before ingest (default <home>/qr-inbox)")
    p.add_argument("--timeout", type=float, help="network and DIMSE timeout, s (default: [qr] timeout_s, 30)")
    p.add_argument("--dry-run", action="store_true", help="query and plan only; retrieve nothing")
    p.set_defaults(func=_cmd_qr)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "qr": _qr,
}
