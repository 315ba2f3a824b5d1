"""DICOM receive throughput, side by side in one run (run by hand: `make bench`).

Same objects, same machine, same client (dcmtk ``storescu``, one association, ``TCP_NODELAY=1``):

1. dcmtk ``storescp`` only writing files (``TCP_NODELAY=1``): the baseline;
2. ``dmslab receive``: each object fsync'ed into the inbox before Success, and ingested into SQLite by the
   worker process — the clock stops when the last object is in the database.

Prints objects/s for both and their ratio (target >= 0.5x), plus the cost of Nagle's algorithm on the client
side (storescu without ``TCP_NODELAY``) on a small subset.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dmslab.pseudonym import create_key
from dmslab.synth import DepartmentConfig, generate_department

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data" / "net-department"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def _storescu(port: int, called: str, folder: Path, *, nodelay: bool = True) -> float:
    env = {**os.environ, "TCP_NODELAY": "1"} if nodelay else {k: v for k, v in os.environ.items() if k != "TCP_NODELAY"}
    t0 = time.perf_counter()
    subprocess.run(["storescu", "-aet", "STORESCU", "-aec", called, "+sd", "+r", "+sp", "*.dcm", "127.0.0.1",
                    str(port), str(folder)], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def department() -> list[Path]:
    """~1 000 CT and DX RDSRs (~12 kB each), made once."""
    if not (DATA / "ground_truth.json").exists():
        generate_department(DATA, DepartmentConfig(ct_rooms=2, dx_rooms=1, mg_rooms=0, rf_rooms=0, months=4,
                                                   studies_per_room_per_day=3.5, multi_rdsr_fraction=0.0))
    return sorted(DATA.rglob("*.dcm"))


def run_storescp(folder: Path, n: int, *, nodelay: bool = True) -> float:
    """Seconds for storescu -> storescp (files written) of the objects in ``folder``."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "TCP_NODELAY": "1"} if nodelay else dict(os.environ)
        scp = subprocess.Popen(["storescp", "-aet", "STORESCP", "-od", out, str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(port)
            seconds = _storescu(port, "STORESCP", folder, nodelay=nodelay)
            assert len(os.listdir(out)) == n, f"storescp wrote {len(os.listdir(out))} of {n} files"
        finally:
            scp.terminate()
            scp.wait()
    return seconds


def run_dmslab(folder: Path, n: int, *, nodelay: bool = True) -> tuple[float, float]:
    """Seconds until all were received (Success) and until all were ingested into SQLite."""
    home = Path(tempfile.mkdtemp(prefix="dmslab-bench-net-"))
    create_key(home / "pseudonym.key")
    port = _free_port()
    cmd = [sys.executable, "-m", "dmslab.cli", "--home", str(home), "receive", "--bind", "127.0.0.1", "--port",
           str(port), "--allow", "STORESCU"]
    rec = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    pending = home / "inbox" / "pending"
    try:
        _wait_port(port)
        time.sleep(2.0)  # let the worker process finish importing
        t0 = time.perf_counter()
        received = _storescu(port, "DMSLAB", folder, nodelay=nodelay)
        while any(pending.iterdir()):
            time.sleep(0.02)
        ingested = time.perf_counter() - t0
    finally:
        rec.terminate()
        rec.wait()
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{home / 'dmslab.sqlite'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM source_object WHERE status='ingested'")).scalar_one()
    engine.dispose()
    shutil.rmtree(home, ignore_errors=True)
    assert stored == n, f"dmslab ingested {stored} of {n}"
    return received, ingested


def main() -> None:
    if shutil.which("storescu") is None or shutil.which("storescp") is None:
        print("bench_net: dcmtk (storescu, storescp) not found; skipped")
        return
    files = department()
    n = len(files)
    size_kb = sum(p.stat().st_size for p in files) / n / 1024
    print(f"{n} objects (mean {size_kb:.1f} kB), storescu -> SCP on loopback, one association, TCP_NODELAY=1; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rounds = []
    for _ in range(2):  # alternate, so that both see the same machine load; keep the better of the two
        base = run_storescp(DATA, n)
        received, ingested = run_dmslab(DATA, n)
        rounds.append((base, received, ingested))
        print(f"  round: storescp {n / base:.1f}, dmslab received {n / received:.1f}, "
              f"received+ingested {n / ingested:.1f} objects/s")
    base = min(r[0] for r in rounds)
    received = min(r[1] for r in rounds)
    ingested = min(r[2] for r in rounds)
    print(f"  dcmtk storescp, files written:         {n / base:7.1f} objects/s ({base:.2f} s)")
    print(f"  dmslab receive, received (inbox fsync): {n / received:7.1f} objects/s ({received:.2f} s)")
    print(f"  dmslab receive, received and ingested:  {n / ingested:7.1f} objects/s ({ingested:.2f} s)")
    print(f"  ratio received+ingested / storescp:     {base / ingested:7.2f}x (target >= 0.5x); "
          f"load average now {os.getloadavg()[0]:.1f}")
    sub = DATA / "CT1"
    m = len(list(sub.rglob("*.dcm")))
    slow = run_dmslab(sub, m, nodelay=False)[0]
    fast = run_dmslab(sub, m)[0]
    print(f"Nagle on the client ({m} objects to dmslab): storescu without TCP_NODELAY {m / slow:.1f} objects/s, "
          f"with TCP_NODELAY=1 {m / fast:.1f} objects/s (dmslab's SCP always sets TCP_NODELAY)")


if __name__ == "__main__":
    main()
