"""``dmslab receive`` (the Storage SCP, its inbox and ingest worker) and ``dmslab status``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dmslab.cli._common import Builder, SettingsFrom

if TYPE_CHECKING:
    import threading

    from dmslab.config import ReceiverSettings, Settings

__all__ = ["BUILDERS", "receiver_settings"]

logger = logging.getLogger(__name__)


def receiver_settings(args: argparse.Namespace, settings: Settings) -> ReceiverSettings:
    from dmslab.config import override

    return override(
        settings.receiver, ae_title=args.ae_title, port=args.port, bind_address=args.bind, allowed_aets=args.allow,
        inbox_dir=args.inbox, min_free_bytes=args.min_free_bytes, after_ingest=args.after_ingest,
        archive_dir=args.archive_dir, tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca,
        mpps=getattr(args, "mpps", None), allow_any=args.allow_any)


def _wait_for_signal(stop: threading.Event, tick: Callable[[], None], *, child: bool = False) -> None:
    import signal

    def _on_signal(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN if child else _on_signal)
    while not stop.wait(1.0):
        tick()


def _child_of(parent_pid: int, stop: threading.Event) -> None:
    """Worker started by a receiver: yield the CPU to its network threads, ignore Ctrl-C (the receiver stops us with
    SIGTERM) and stop when the receiver is gone (killed), so that a restarted receiver can start its own worker."""
    import threading

    os.nice(5)

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent_pid:
                logger.warning("receiver process %d is gone: stopping", parent_pid)
                stop.set()

    threading.Thread(target=watch, daemon=True).start()


def _run_worker_only(worker: Any, stop: threading.Event, *, parent_pid: int | None) -> int:
    """Drain the inbox until a signal, or until the worker fails: then exit 1, so that whoever started us (the
    receiver, systemd) restarts us — a worker thread that died must not leave a process that looks alive."""
    import threading

    worker.lock()
    if parent_pid:
        _child_of(parent_pid, stop)
    failed = threading.Event()

    def run() -> None:
        try:
            worker.run(stop)
        except Exception as exc:  # logged and in the status file (IngestWorker.run): end the process
            print(f"dmslab: error: ingest worker stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            failed.set()
            stop.set()

    thread = threading.Thread(target=run, name="dmslab-ingest")
    thread.start()
    print(f"ingest worker draining {worker.inbox.root} into {worker.settings.masked()['database_url']}", flush=True)
    try:
        _wait_for_signal(stop, worker.status.flush, child=bool(parent_pid))
    finally:
        stop.set()
        thread.join()
        worker.close()
    return 1 if failed.is_set() else 0


def _cmd_receive(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    import threading
    from dataclasses import replace

    from dmslab.net.inbox import Inbox
    from dmslab.net.scp import Receiver
    from dmslab.net.worker import IngestWorker

    settings = settings_from(args)
    if args.workers is None:
        settings = replace(settings, workers=1)  # one batch is parsed faster in-process than by a new pool
    rs = receiver_settings(args, settings)
    logger.info("settings: %s; receiver: %s", settings.masked(), rs)
    stop = threading.Event()
    if args.worker_only:
        return _run_worker_only(IngestWorker(Inbox(rs.inbox_dir, min_free_bytes=rs.min_free_bytes), settings, rs),
                                stop, parent_pid=args.parent_pid)
    receiver = Receiver(settings, rs, worker="none" if args.no_worker else args.worker)
    receiver.start()
    print(f"dmslab receiving as {rs.ae_title} on {rs.bind_address}:{receiver.port}"
          f"{' (TLS)' if rs.tls_cert else ''}; inbox {rs.inbox_dir}", flush=True)
    try:
        _wait_for_signal(stop, receiver.tick)
    finally:
        receiver.stop()
    return 0


def _receive(p: argparse.ArgumentParser) -> None:
    """``dmslab receive``: the Storage SCP and its ingest worker."""
    p.add_argument("--ae-title", help="our AE title (default DMSLAB)")
    p.add_argument("--port", type=int, help="TCP port (default 11112)")
    p.add_argument("--bind", help="listen address (default 127.0.0.1, this machine only; 0.0.0.0: all interfaces)")
    p.add_argument("--allow", action="append",
                   help="calling AE title allowed to connect (repeat); required on a non-loopback --bind")
    p.add_argument("--allow-any", action="store_true", default=None,
                   help="accept any calling AE title on a non-loopback --bind (no allow-list), on purpose")
    p.add_argument("--inbox", help="inbox folder (default <home>/inbox)")
    p.add_argument("--min-free-bytes", type=int, help="refuse objects below this free disk space (bytes)")
    p.add_argument("--after-ingest", choices=["delete", "archive"], help="what to do with ingested files")
    p.add_argument("--archive-dir", help="where --after-ingest archive keeps files (default <home>/archive)")
    p.add_argument("--tls-cert", help="PEM certificate chain: TLS only when given with --tls-key")
    p.add_argument("--tls-key", help="PEM private key")
    p.add_argument("--tls-ca", help="PEM CA bundle: require client certificates signed by these CAs")
    p.add_argument("--no-mpps", dest="mpps", action="store_false", default=None,
                   help="do not accept MPPS N-CREATE/N-SET on the receiver's port (default: accept)")
    p.add_argument("--workers", type=int, help="parser processes per ingest batch (default 1)")
    p.add_argument("--worker", choices=["process", "thread"], default="process",
                   help="run the ingest worker in a child process (default) or a thread of the receiver")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--no-worker", action="store_true", help="receive only; run a --worker-only process as well")
    mode.add_argument("--worker-only", action="store_true", help="only drain the inbox into the database")
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # set by a receiver for its worker
    p.set_defaults(func=_cmd_receive)


def _cmd_status(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.config import override
    from dmslab.net.status import status_lines

    settings = settings_from(args)
    rs = override(settings.receiver, inbox_dir=args.inbox)
    for line in status_lines(rs.inbox_dir, None if args.no_database else settings.database_url):
        print(line)
    return 0


def _status(p: argparse.ArgumentParser) -> None:
    """``dmslab status``: inbox depth, receiver and worker status, source objects in the store."""
    p.add_argument("--inbox", help="inbox folder (default <home>/inbox)")
    p.add_argument("--no-database", action="store_true", help="do not query the store")
    p.set_defaults(func=_cmd_status)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "receive": _receive,
    "status": _status,
}
