"""Helpers for the receiver tests: free ports, receiver subprocesses, a raw C-STORE, store look-ups."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE

from dmslab.config import ReceiverSettings, Settings, load_settings
from dmslab.net.handlers import handle_conn_open

ROOT = Path(__file__).resolve().parents[2]
VERIFICATION = "1.2.840.10008.1.1"
RDSR = "1.2.840.10008.5.1.4.1.1.88.67"


def dcmtk(tool: str) -> str | None:
    """Path of dcmtk's ``tool`` (storescu, echoscu, storescp) on PATH, skipping pynetdicom's apps of the same name
    (a virtual environment's bin folder, first on PATH, has them); ``None`` when dcmtk is not installed."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / tool
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        try:
            out = subprocess.run([str(candidate), "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "dcmtk" in (out.stdout + out.stderr).lower():
            return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s} s")


def echo(port: int, *, calling: str = "TESTSCU", called: str = "DMSLAB", ssl_context: object = None) -> int | None:
    """C-ECHO; the status, or None when the association was refused."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(VERIFICATION)
    tls = (ssl_context, "localhost") if ssl_context is not None else None
    assoc = ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls)  # type: ignore[arg-type]
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if "Status" in status else None
    finally:
        assoc.release()


def raw_store(port: int, payload: bytes, *, sop_instance: str = "1.2.3.4.5", calling: str = "TESTSCU") -> int | None:
    """C-STORE an arbitrary byte string as the data set of an RDSR; the status, or None without response."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(RDSR, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="DMSLAB",
                         evt_handlers=[(evt.EVT_CONN_OPEN, handle_conn_open)])
    assert assoc.is_established
    try:
        req = C_STORE()
        req.MessageID = 1
        req.Priority = 2
        req.AffectedSOPClassUID = RDSR
        req.AffectedSOPInstanceUID = sop_instance
        req.DataSet = io.BytesIO(payload)
        cx = assoc.accepted_contexts[0].context_id
        assoc._reactor_checkpoint.clear()
        while not assoc._is_paused:
            time.sleep(0.0001)
        assoc.dimse.send_msg(req, cx)
        _cx, rsp = assoc.dimse.get_msg(block=True)
        assoc._reactor_checkpoint.set()
        return None if rsp is None else int(rsp.Status)
    finally:
        assoc.release()


class ReceiverProcess:
    """``dmslab receive`` in a subprocess (so that it can be killed with SIGKILL)."""

    def __init__(self, home: Path, db_url: str, *extra: str) -> None:
        self.home, self.db_url, self.extra = home, db_url, extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / f"receive-{'-'.join(a.strip('-') for a in extra[:1]) or 'main'}.log"

    def start(self) -> ReceiverProcess:
        cmd = [sys.executable, "-m", "dmslab.cli", "--home", str(self.home), "--database-url", self.db_url,
               "receive", "--bind", "127.0.0.1", *self.extra]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def ingested_counts(db_url: str) -> Counter[str]:
    """How many ``ingested`` source_object rows each SOP Instance UID has."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT sop_instance_uid FROM source_object WHERE status = 'ingested'"))
            return Counter(r[0] for r in rows)
    finally:
        engine.dispose()


def make_dataset(sop_instance: str, sop_class: str = RDSR) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    return ds


def make_settings(tmp_path: Path, db_url: str | None = None) -> Settings:
    """Site settings in ``tmp_path/home`` with the test key (SQLite unless ``db_url``)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "pseudonym.key").write_text(bytes(range(32)).hex() + "\n")
    (home / "pseudonym.key").chmod(0o600)  # dmslab refuses a key other users can read
    return load_settings(home=str(home), database_url=db_url or f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)


def receiver_settings(settings: Settings, **kw: object) -> ReceiverSettings:
    base: dict[str, object] = {"port": 0, "bind_address": "127.0.0.1", "allowed_aets": ("TESTSCU", "STORESCU"),
                               "min_free_bytes": 0, "poll_s": 0.1, "max_backoff_s": 1.0}
    return replace(settings.receiver, **{**base, **kw})  # type: ignore[arg-type]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} after {timeout_s} s")
