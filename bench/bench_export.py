"""Streamed exports at scale (run by hand): 10⁶ CT events to CSV and Parquet, peak memory and time.

Usage::

    python bench/bench_export.py                  # the 10^6-event store of bench_audit (bench-data/), 2 rounds
    python bench/bench_export.py --rounds 3 --formats csv parquet

Each contender runs in a fresh process on the same SQLite file, rounds alternating the order:

* ``dmslab-csv`` / ``dmslab-parquet``: :func:`dmslab.export.export` (rows streamed from the database in chunks
  of 50 000, each written before the next is read);
* ``pandas-csv``: the whole join read into one DataFrame with ``pandas.read_sql`` and written with ``to_csv`` —
  what a notebook would do, and what runs out of memory when the store grows.

Each line: wall seconds of the export alone (process start and imports excluded), CPU seconds, CPU µs per event
(stable on a busy machine), and the process's peak RSS. The ratio of peak RSS says what streaming saves; the
file sizes and row counts are printed so the contenders can be seen to write the same rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _child(contender: str, url: str, out: Path) -> dict[str, float]:
    import pandas as pd
    import sqlalchemy as sa

    from dmslab.export import export
    from dmslab.store import Store

    store = Store(url, read_only=True)
    t0, c0 = time.perf_counter(), time.process_time()
    if contender.startswith("dmslab-"):
        rows = export(store, out, modality="CT", fmt=contender.split("-")[1]).events
    else:
        q = ("SELECT s.study_datetime, s.study_description, s.standard_name, s.age_years, e.* FROM ct_event e "
             "JOIN study s ON e.study_id = s.id")
        with sa.create_engine(url).connect() as conn:
            df = pd.read_sql(sa.text(q), conn)
        df.to_csv(out, index=False)
        rows = len(df)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    store.close()
    return {"wall_s": wall, "cpu_s": cpu, "rows": rows, "bytes": out.stat().st_size,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _spawn(contender: str, url: str, tmp: str) -> dict[str, float]:
    suffix = "parquet" if contender.endswith("parquet") else "csv"
    out = Path(tmp) / f"{contender}-{time.monotonic_ns()}.{suffix}"
    done = subprocess.run([sys.executable, __file__, "--child", contender, "--url", url, "--out", str(out)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    out.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", type=Path, default=HERE.parent / "bench-data")
    p.add_argument("--contenders", nargs="+", default=["dmslab-csv", "dmslab-parquet", "pandas-csv"])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.child:
        print(json.dumps(_child(ns.child, ns.url, ns.out)))
        return 0
    from bench_audit import _sqlite_store

    ns.data.mkdir(exist_ok=True)
    url = _sqlite_store(1_000_000, ns.data)
    figures: dict[str, list[dict[str, float]]] = {c: [] for c in ns.contenders}
    with tempfile.TemporaryDirectory(dir=ns.data) as tmp:
        for r in range(ns.rounds):
            for c in (ns.contenders if r % 2 == 0 else ns.contenders[::-1]):
                figures[c].append(_spawn(c, url, tmp))
    base = min((f["rss_mb"] for f in figures.get("pandas-csv", []) if "rss_mb" in f), default=None)
    for c, runs in figures.items():
        ok = [f for f in runs if "error" not in f]
        if not ok:
            print(f"{c:<15} failed: {runs[0].get('error')}")
            continue
        best = min(ok, key=lambda f: f["wall_s"])
        ratio = f"  peak RSS {best['rss_mb'] / base:.2f}x pandas" if base else ""
        print(f"{c:<15} {best['rows']:>9.0f} rows {best['bytes'] / 2**20:7.1f} MiB  wall {best['wall_s']:6.1f} s  "
              f"CPU {best['cpu_s']:6.1f} s ({1e6 * best['cpu_s'] / max(best['rows'], 1):5.1f} µs/event)  "
              f"peak RSS {best['rss_mb']:7.0f} MB{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
