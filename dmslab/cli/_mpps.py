"""``dmslab mpps``: a standalone MPPS SCP (N-CREATE / N-SET) on the receiver's inbox, or ``--link`` to link stored
steps to studies."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from dmslab.cli._common import Builder, SettingsFrom

if TYPE_CHECKING:
    import threading

    from dmslab.net.worker import IngestWorker

__all__ = ["BUILDERS"]

logger = logging.getLogger(__name__)


def _start_worker(worker: IngestWorker, stop: threading.Event) -> threading.Thread | None:
    """Drain the inbox in a thread, unless another worker (a running ``dmslab receive``) already does."""
    import threading

    from dmslab.net.worker import WorkerBusyError

    try:
        worker.lock()
    except WorkerBusyError:
        logger.info("another ingest worker drains %s: it stores the MPPS steps", worker.inbox.root)
        return None
    thread = threading.Thread(target=worker.run, args=(stop,), name="dmslab-ingest", daemon=True)
    thread.start()
    return thread


def _cmd_mpps(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    import signal
    import threading

    from dmslab.config import override
    from dmslab.net.inbox import Inbox
    from dmslab.net.mpps import link_mpps, start_mpps_scp
    from dmslab.net.worker import IngestWorker

    settings = settings_from(args)
    if args.link:
        print(f"linked {link_mpps(settings.database_url)} MPPS step(s) to their studies")
        return 0
    rs = override(settings.receiver, inbox_dir=args.inbox)
    inbox = Inbox(rs.inbox_dir, min_free_bytes=rs.min_free_bytes)
    stop = threading.Event()
    worker = IngestWorker(inbox, settings, rs)
    thread = _start_worker(worker, stop)
    server = start_mpps_scp(inbox, ae_title=args.ae_title, host=args.bind, port=args.port)

    def _on_signal(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping the MPPS SCP", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    host, port = server.server_address[:2]
    print(f"MPPS SCP {args.ae_title} on {host}:{port}, inbox {inbox.root} (Ctrl-C to stop)", flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        stop.set()
        if thread is not None:
            thread.join()
        worker.close()
    return 0


def _mpps(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ae-title", default="DMSLAB", help="our AE title (default DMSLAB)")
    p.add_argument("--port", type=int, default=11113, help="TCP port (default 11113)")
    p.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all interfaces)")
    p.add_argument("--inbox", help="inbox folder the requests are kept in until stored (default <home>/inbox)")
    p.add_argument("--link", action="store_true", help="only link stored steps to studies that arrived since; exit")
    p.set_defaults(func=_cmd_mpps)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "mpps": _mpps,
}
