"""``dmslab mpps``: a standalone MPPS SCP (N-CREATE / N-SET), or ``--link`` to link stored steps to studies."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from dmslab.cli._common import Builder, SettingsFrom

__all__ = ["BUILDERS"]

logger = logging.getLogger(__name__)


def _cmd_mpps(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    import signal
    import threading

    from dmslab.net.mpps import link_mpps, start_mpps_scp

    url = settings_from(args).database_url
    if args.link:
        print(f"linked {link_mpps(url)} MPPS step(s) to their studies")
        return 0
    server = start_mpps_scp(url, ae_title=args.ae_title, host=args.bind, port=args.port)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping the MPPS SCP", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    host, port = server.server_address[:2]
    print(f"MPPS SCP {args.ae_title} on {host}:{port} (Ctrl-C to stop)")
    try:
        while not stop.wait(60.0):
            link_mpps(url)  # steps whose study arrived meanwhile
    finally:
        server.shutdown()
    return 0


def _mpps(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ae-title", default="DMSLAB", help="our AE title (default DMSLAB)")
    p.add_argument("--port", type=int, default=11113, help="TCP port (default 11113)")
    p.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all interfaces)")
    p.add_argument("--link", action="store_true", help="only link stored steps to studies that arrived since; exit")
    p.set_defaults(func=_cmd_mpps)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "mpps": _mpps,
}
