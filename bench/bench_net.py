"""DICOM receive throughput and CPU per object, side by side, quiet and beside busy loops (run by hand: `make bench`).

Same objects (the demo's synthetic department, 1 873 RDSRs), same machine, same client (dcmtk ``storescu -R``, one
association, ``TCP_NODELAY=1``), in paired rounds whose order alternates (storescp first, then dmslab first):

1. dcmtk ``storescp`` only writing files (no fsync): the baseline;
2. ``dmslab receive``: each object fsync'ed into the inbox before Success and ingested into SQLite by the worker
   process — the clock stops when the last object is in the database;
3. ``send_and_ingest_over_dicom`` (what ``dmslab demo`` runs): dmslab's own sender and the receiver in one process.

Each round runs quiet and again beside 2 x nproc busy-loop processes (as ``shared/tools/under-load``). Prints
objects/s, the ratio dmslab / storescp per round (target >= 0.6x in every round) and the receiving side's CPU time
per object (receiver + ingest worker for dmslab; storescp), from /proc.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dmslab.config import load_settings
from dmslab.pseudonym import create_key
from dmslab.synth import DepartmentConfig, generate_department

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data" / "net-demo-department"
BUSY_MAX_S = 900  # each busy loop ends by itself after this, or as soon as this process is gone
DRAIN_MAX_S = 600.0  # liveness guard while waiting for the worker to empty the inbox
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Run:
    """One transfer: wall-clock seconds, the receiving side's CPU seconds (process tree) and, for dmslab, the part
    spent by the receiving process itself (the rest is the ingest worker's)."""

    seconds: float
    cpu_s: float
    receiver_cpu_s: float = float("nan")


def dcmtk(tool: str) -> str | None:
    """dcmtk's ``tool`` on PATH, past pynetdicom's apps of the same name (a venv's bin folder has them)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / tool
        if candidate.is_file() and os.access(candidate, os.X_OK):
            out = subprocess.run([str(candidate), "--version"], capture_output=True, text=True, check=False)
            if "dcmtk" in (out.stdout + out.stderr).lower():
                return str(candidate)
    return None


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


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (children of every thread, from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                todo.extend(int(c) for c in children.read_text().split())
    return found


def _cpu_s(pid: int, *, tree: bool = True) -> float:
    """CPU seconds (user + system) of ``pid`` and (``tree``) its descendants: each live process's own time plus that
    of the children it has reaped (the ingest worker's per-batch parser processes), from /proc/<pid>/stat."""
    total, end = 0, 15 if tree else 13  # fields utime stime [cutime cstime]
    for p in _tree(pid) if tree else [pid]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:end])
    return total / _TICK


def _storescu(storescu: str, port: int, called: str, folder: Path) -> None:
    subprocess.run([storescu, "-aet", "STORESCU", "-aec", called, "-R", "+sd", "+r", "+sp", "*.dcm", "127.0.0.1",
                    str(port), str(folder)], env={**os.environ, "TCP_NODELAY": "1"}, check=True,
                   capture_output=True)


def department(limit: int | None, into: Path) -> Path:
    """The demo's department (1 873 RDSRs, seed 20260105), made once; with ``limit``, a copy of every k-th file
    (all modalities kept) in ``into``."""
    if not (DATA / "ground_truth.json").exists():
        generate_department(DATA, DepartmentConfig(seed=20260105))
    files = sorted(DATA.rglob("*.dcm"))
    if limit is None or limit >= len(files):
        return DATA
    step = len(files) / limit
    for i in range(limit):
        src = files[int(i * step)]
        dst = into / src.relative_to(DATA)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return into


def run_storescp(tools: dict[str, str], data: Path, n: int) -> Run:
    """storescu -> storescp (files written)."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as out:
        scp = subprocess.Popen([tools["storescp"], "-aet", "STORESCP", "-od", out, str(port)],
                               env={**os.environ, "TCP_NODELAY": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            _wait_port(port)
            cpu0, t0 = _cpu_s(scp.pid), time.perf_counter()
            _storescu(tools["storescu"], port, "STORESCP", data)
            run = Run(time.perf_counter() - t0, _cpu_s(scp.pid) - cpu0)
            written = len(os.listdir(out))
        finally:
            scp.terminate()
            scp.wait()
    assert written == n, f"storescp wrote {written} of {n} files"
    return run


def _ingested(db: Path) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM source_object WHERE status='ingested'")).scalar_one()
    engine.dispose()
    return int(stored)


def run_dmslab(tools: dict[str, str], data: Path, n: int) -> Run:
    """storescu -> ``dmslab receive``, until every object is in the database."""
    home = Path(tempfile.mkdtemp(prefix="dmslab-bench-net-"))
    create_key(home / "pseudonym.key")
    port = _free_port()
    cmd = [sys.executable, "-m", "dmslab.cli", "--home", str(home), "receive", "--bind", "127.0.0.1", "--port",
           str(port), "--allow", "STORESCU"]
    rec = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    pending = home / "inbox" / "pending"
    try:
        _wait_port(port)
        ready = home / "inbox" / "status" / "worker.json"  # written when the worker process enters its loop
        deadline = time.monotonic() + 120
        while not ready.exists():
            if time.monotonic() > deadline or rec.poll() is not None:
                raise RuntimeError(f"the ingest worker of dmslab receive did not start (exit code {rec.poll()})")
            time.sleep(0.1)
        time.sleep(0.5)
        cpu0, own0, t0 = _cpu_s(rec.pid), _cpu_s(rec.pid, tree=False), time.perf_counter()
        _storescu(tools["storescu"], port, "DMSLAB", data)
        deadline = time.monotonic() + DRAIN_MAX_S
        while any(pending.iterdir()):
            if time.monotonic() > deadline or rec.poll() is not None:
                raise RuntimeError(f"dmslab receive did not drain its inbox (exit code {rec.poll()})")
            time.sleep(0.02)
        run = Run(time.perf_counter() - t0, _cpu_s(rec.pid) - cpu0, _cpu_s(rec.pid, tree=False) - own0)
    finally:
        rec.terminate()
        rec.wait()
    stored = _ingested(home / "dmslab.sqlite")
    shutil.rmtree(home, ignore_errors=True)
    assert stored == n, f"dmslab ingested {stored} of {n}"
    return run


def run_demo_path(data: Path, n: int) -> Run:
    """``send_and_ingest_over_dicom``: dmslab's sender and receiver in this process, worker in a child."""
    from dmslab.net.scp import send_and_ingest_over_dicom

    home = Path(tempfile.mkdtemp(prefix="dmslab-bench-demo-"))
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)
    t0 = time.perf_counter()
    summary = send_and_ingest_over_dicom(data, settings)
    seconds = time.perf_counter() - t0
    stored = _ingested(home / "dmslab.sqlite")
    shutil.rmtree(home, ignore_errors=True)
    assert summary.all_stored and stored == n, summary.lines()
    return Run(seconds, float("nan"))  # sender and receiver share the process: no receive-only CPU figure


_BUSY = """import os, time
parent, end = os.getppid(), time.monotonic() + {max_s}
while time.monotonic() < end and os.getppid() == parent:
    for _ in range(200_000):
        pass
"""


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` CPU-burning processes, stopped (by PID) on exit; each also ends by itself after ``BUSY_MAX_S`` or
    when this process is gone (its parent changes)."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", _BUSY.format(max_s=BUSY_MAX_S)]))
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _round(tools: dict[str, str], data: Path, n: int, dmslab_first: bool, demo: bool) -> tuple[Run, Run, Run | None]:
    if dmslab_first:
        dms = run_dmslab(tools, data, n)
        base = run_storescp(tools, data, n)
    else:
        base = run_storescp(tools, data, n)
        dms = run_dmslab(tools, data, n)
    return base, dms, run_demo_path(data, n) if demo else None


def _line(load: str, r: int, n: int, runs: tuple[Run, Run, Run | None]) -> str:
    base, dms, demo = runs
    order = "dmslab" if r % 2 else "storescp"
    text = (f"  {load:6} round {r + 1} ({order} first): storescp {n / base.seconds:6.1f}/s, "
            f"{1000 * base.cpu_s / n:5.2f} ms CPU/object | dmslab receive received+ingested {n / dms.seconds:6.1f}/s, "
            f"{1000 * dms.cpu_s / n:5.2f} ms CPU/object (receiver {1000 * dms.receiver_cpu_s / n:4.2f} + worker "
            f"{1000 * (dms.cpu_s - dms.receiver_cpu_s) / n:4.2f}) | ratio {base.seconds / dms.seconds:4.2f}x")
    if demo is not None:
        text += f" | demo path (dmslab sender, same process) {n / demo.seconds:6.1f}/s"
    return text


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="paired rounds per load (default 2: one of each order)")
    parser.add_argument("--objects", type=int, default=None, help="send every k-th file, this many (default all)")
    parser.add_argument("--no-demo-path", action="store_true", help="skip the in-process demo path")
    parser.add_argument("--load", choices=("quiet", "loaded", "both"), default="both")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    tools = {t: dcmtk(t) for t in ("storescu", "storescp")}
    if None in tools.values():
        print("bench_net: dcmtk (storescu, storescp) not found; skipped")
        return
    found = {t: str(p) for t, p in tools.items()}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the busy loops are stopped by `finally`
    with tempfile.TemporaryDirectory(prefix="dmslab-bench-net-subset-") as subset:
        data = department(args.objects, Path(subset))
        files = sorted(data.rglob("*.dcm"))
        n, n_busy = len(files), 2 * (os.cpu_count() or 1)
        size_kb = sum(p.stat().st_size for p in files) / n / 1024
        print(f"{n} objects (mean {size_kb:.1f} kB), storescu -R -> SCP on loopback, one association, "
              f"TCP_NODELAY=1; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
              f"loaded = beside {n_busy} busy-loop processes", flush=True)
        loads = ("quiet", "loaded") if args.load == "both" else (args.load,)
        ratios: dict[str, list[float]] = {load: [] for load in loads}
        for load in loads:
            for r in range(args.rounds):
                with busy_loops(n_busy if load == "loaded" else 0):
                    runs = _round(found, data, n, dmslab_first=bool(r % 2), demo=not args.no_demo_path)
                ratios[load].append(runs[0].seconds / runs[1].seconds)
                print(_line(load, r, n, runs), flush=True)
    for load, got in ratios.items():
        print(f"ratio dmslab received+ingested / storescp, {load}: min {min(got):.2f}x over {len(got)} round(s) "
              f"(target >= 0.6x in every round: {'met' if min(got) >= 0.6 else 'NOT met'})")


if __name__ == "__main__":
    main()
