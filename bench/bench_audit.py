"""DRL audit at scale (run by hand): room × protocol × month statistics of CTDIvol and DLP over 10⁶ / 10⁷ CT events.

Usage::

    python bench/bench_audit.py                       # SQLite 10^6 and 10^7 stores kept in bench-data/
    python bench/bench_audit.py --sizes 1000000 --rounds 3
    python bench/bench_audit.py --sizes 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1:54330/db

What it measures. Events are bulk-generated once into a SQLite store kept in ``bench-data/audit-N.sqlite``
(3 events per study, 20 rooms × 50 protocols × 36 months = 36 000 groups; the load and the first packing of
the store's columnar copy are timed and printed when the store is built). Then, in rounds whose order
alternates, each contender runs in a fresh process on the same file and computes the same thing: n, median,
mean, min, max and SD of CTDIvol per CT sequence (localizers excluded) and of DLP per CT exam, per
room × study description × month, patient exams only:

* ``dmslab``: :func:`dmslab.analysis.stats.summaries` with its default engine (the columnar copy);
* ``duckdb``: DuckDB's SQLite scanner reading the same SQLite file, ``median`` … ``GROUP BY`` in DuckDB;
* ``dmslab-columnar``, ``dmslab-sql`` (``--contenders``): the same call with the engines the store had before its
  columnar copy (narrow ADBC reads of the row tables grouped in numpy; or SQL in the database) — the "before";
* ``pandas``: the whole ``study``, ``equipment`` and ``ct_event`` tables read into pandas, merged and grouped.

Each line gives wall seconds of the call alone (imports and process start excluded), CPU seconds of the
process during the call (all threads), and the process's peak RSS. The results of all three are compared
value by value (n exactly, the others to 1e-9 relative) and the largest relative difference is printed. With
``--postgres`` the same dmslab call runs on PostgreSQL (tables created and dropped), next to the pandas path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dmslab.analysis.stats import summaries
from dmslab.store import Store, migrate

ROOMS, PROTOCOLS, MONTHS, EVENTS_PER_STUDY = 20, 50, 36, 3
BY = ["room", "study_description", "month"]


def _frames(n_events: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_studies = -(-n_events // EVENTS_PER_STUDY)
    equipment = pd.DataFrame({"id": np.arange(1, ROOMS + 1), "station_name": [f"CT{i:02d}" for i in range(ROOMS)],
                              "room": [f"CT{i:02d}" for i in range(ROOMS)], "manufacturer": "Synth",
                              "model": "Bench"})
    start = np.datetime64("2023-01-01T08:00")
    day = rng.integers(0, MONTHS * 30, n_studies).astype("timedelta64[D]")
    minute = rng.integers(0, 600, n_studies).astype("timedelta64[m]")
    proto = rng.integers(0, PROTOCOLS, n_studies)
    ctdi_ref = np.exp(rng.normal(2.0, 0.5, PROTOCOLS))[proto]
    studies = pd.DataFrame({
        "id": np.arange(1, n_studies + 1), "equipment_id": rng.integers(1, ROOMS + 1, n_studies),
        "study_uid": [f"2.25.{i}" for i in range(n_studies)], "modality": "CT", "source_kind": "rdsr",
        "study_datetime": pd.to_datetime(start + day + minute), "study_description": [f"P{p:02d}" for p in proto],
        "n_events": EVENTS_PER_STUDY})
    sid = np.repeat(studies["id"].to_numpy(), EVENTS_PER_STUDY)[:n_events]
    ctdi = np.round(np.repeat(ctdi_ref, EVENTS_PER_STUDY)[:n_events] * rng.lognormal(0, 0.3, n_events), 3)
    dlp = np.round(ctdi * rng.uniform(20, 60, n_events), 2)
    events = pd.DataFrame({"study_id": sid, "event_uid": np.tile(np.array(["1", "2", "3"]), n_studies + 1)[:n_events],
                           "acquisition_type": "spiral", "ctdivol_mgy": ctdi, "dlp_mgycm": dlp})
    studies["total_dlp_mgycm"] = np.round(np.bincount(sid, weights=dlp, minlength=n_studies + 1)[1:], 2)
    return equipment, studies, events


def load(store: Store, n_events: int) -> float:
    """Bulk-write ``n_events`` CT events (and their studies, rooms) into an empty store; returns seconds."""
    t0 = time.perf_counter()
    frames = dict(zip(("equipment", "study", "ct_event"), _frames(n_events), strict=True))
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        for name, df in frames.items():
            cols = list(df.columns)
            if store.engine.dialect.name == "postgresql":
                buf = io.StringIO()
                df.to_csv(buf, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S")
                buf.seek(0)
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
                    while chunk := buf.read(1 << 20):
                        cp.write(chunk)
            else:
                if name == "study":
                    df = df.assign(study_datetime=df["study_datetime"].dt.strftime("%Y-%m-%d %H:%M:%S.000000"))
                rows = df.itertuples(index=False, name=None)
                cur.executemany(f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                rows)
        raw.commit()
        if store.engine.dialect.name == "postgresql":
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - t0


AUDIT_METRICS = ("ctdivol_mgy", "dlp_mgycm")
STATS = ["n", "median", "mean", "min", "max", "sd"]


def audit(store: Store, engine: str = "auto") -> dict[str, pd.DataFrame]:
    """dmslab's audit: per-sequence CTDIvol and per-exam DLP statistics per room × protocol × month."""
    return summaries(store, list(AUDIT_METRICS), by=BY, engine=engine)


def _agg(g: Any) -> pd.DataFrame:
    return g.agg(n="size", median="median", mean="mean", min="min", max="max", sd="std").reset_index()


def baseline(store: Store) -> dict[str, pd.DataFrame]:
    """Naive: load whole tables into pandas, then merge and group (what a notebook would do without dmslab)."""
    st, eq, ev = store.table("study"), store.table("equipment"), store.table("ct_event")
    eq["room"] = eq["room"].fillna(eq["station_name"]).fillna(eq["display_name"])
    st = st[st["exclusion_reason"].isna() & (st["modality"] == "CT")]
    st = st.merge(eq[["id", "room"]].rename(columns={"id": "equipment_id"}), on="equipment_id", how="left")
    st["room"] = st["room"].fillna("?")
    st["month"] = pd.to_datetime(st["study_datetime"]).dt.strftime("%Y-%m")
    evs = ev[(ev["acquisition_type"] != "constant_angle") & ev["ctdivol_mgy"].notna()].merge(
        st[["id", *BY]].rename(columns={"id": "study_id"}), on="study_id")
    dlp = st[st["total_dlp_mgycm"].notna()]
    return {"ctdivol_mgy": _agg(evs.groupby(BY, dropna=False)["ctdivol_mgy"]),
            "dlp_mgycm": _agg(dlp.groupby(BY, dropna=False)["total_dlp_mgycm"])}


def _duckdb_connection() -> Any:
    """DuckDB with its SQLite scanner loaded from the pip package (no download)."""
    import duckdb
    import duckdb_extension_sqlite_scanner as ext

    conn = duckdb.connect()
    conn.load_extension(str(Path(ext.__file__).parent / "extensions" / f"v{duckdb.__version__}"
                            / "sqlite_scanner.duckdb_extension"))
    return conn


def duckdb_audit(path: str) -> dict[str, pd.DataFrame]:
    """The same statistics computed by DuckDB reading the SQLite file."""
    conn = _duckdb_connection()
    scan = {t: f"sqlite_scan('{path}', '{t}')" for t in ("study", "equipment", "ct_event")}
    studies = (f"SELECT s.id, coalesce(e.room, e.station_name, e.display_name, '?') AS room, s.study_description, "
               f"strftime(CAST(s.study_datetime AS TIMESTAMP), '%Y-%m') AS month, s.total_dlp_mgycm "
               f"FROM {scan['study']} s LEFT JOIN {scan['equipment']} e ON s.equipment_id = e.id "
               f"WHERE s.exclusion_reason IS NULL AND s.modality = 'CT'")
    aggs = "count(*) AS n, median(v) AS median, avg(v) AS mean, min(v) AS min, max(v) AS max, stddev_samp(v) AS sd"
    ctdi = (f"WITH st AS ({studies}) SELECT room, study_description, month, {aggs} FROM (SELECT st.*, "
            f"ev.ctdivol_mgy AS v FROM {scan['ct_event']} ev JOIN st ON ev.study_id = st.id "
            f"WHERE ev.ctdivol_mgy IS NOT NULL AND (ev.acquisition_type IS NULL OR "
            f"ev.acquisition_type <> 'constant_angle')) GROUP BY ALL ORDER BY ALL")
    dlp = (f"WITH st AS ({studies}) SELECT room, study_description, month, {aggs} FROM (SELECT *, "
           f"total_dlp_mgycm AS v FROM st WHERE total_dlp_mgycm IS NOT NULL) GROUP BY ALL ORDER BY ALL")
    out = {"ctdivol_mgy": conn.sql(ctdi).df(), "dlp_mgycm": conn.sql(dlp).df()}
    conn.close()
    return out


def _diff(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> float:
    """The largest relative difference of any statistic of any group (inf: the groups or counts differ)."""
    worst = 0.0
    for m in AUDIT_METRICS:
        x, y = a[m].set_index(BY).sort_index(), b[m].set_index(BY).sort_index()
        if list(x.index) != list(y.index) or (x["n"].to_numpy() != y["n"].to_numpy()).any():
            return float("inf")
        for c in STATS[1:]:
            u, v = x[c].to_numpy(dtype=float), y[c].to_numpy(dtype=float)
            both = ~(np.isnan(u) & np.isnan(v))
            rel = np.abs(u[both] - v[both]) / np.maximum(np.abs(v[both]), 1e-300)
            worst = max(worst, float(rel.max()) if rel.size else 0.0)
    return worst


def _child(contender: str, url: str, out: str) -> None:
    """One contender in this (fresh) process: time the call, write results and figures to ``out``."""
    store = Store(url) if contender != "duckdb" else None
    t0, c0 = time.perf_counter(), time.process_time()
    if contender == "duckdb":
        res = duckdb_audit(sa.engine.make_url(url).database or "")
    else:
        assert store is not None
        if contender == "pandas":
            res = baseline(store)
        else:  # dmslab (the columnar copy), dmslab-columnar / dmslab-sql (the engines before the copy)
            res = audit(store, "auto" if contender == "dmslab" else contender.removeprefix("dmslab-"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out, "wb") as fh:
        pickle.dump({"wall": wall, "cpu": cpu, "rss_mb": rss, "result": res}, fh)
    if store is not None:
        store.close()


def _spawn(contender: str, url: str, tmp: str) -> dict[str, Any]:
    out = str(Path(tmp) / f"{contender}.pkl")
    subprocess.run([sys.executable, __file__, "--child", contender, "--url", url, "--out", out], check=True)
    with open(out, "rb") as fh:
        return pickle.load(fh)  # our own child's file


def _drop(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        md.drop_all(conn)
    engine.dispose()


def build(url: str, n_events: int) -> dict[str, float]:
    """Generate the events into an empty store and pack its columnar copy; returns the seconds of each."""
    store = Store(url)
    try:
        out = {"load_s": load(store, n_events)}
        t0 = time.perf_counter()
        store.refresh_columnar()
        out["pack_s"] = time.perf_counter() - t0
        return out
    finally:
        store.close()


def run(url: str, n_events: int, *, with_baseline: bool = True) -> dict[str, float]:
    """Generate, audit, compare in this process (the test's smoke path and PostgreSQL); timings (s), groups."""
    if url.startswith("postgresql"):
        _drop(url)
    try:
        out = build(url, n_events)
        store = Store(url)
        t0 = time.perf_counter()
        ours = audit(store)
        out["audit_s"] = time.perf_counter() - t0
        out["groups"] = float(len(ours["ctdivol_mgy"]))
        if with_baseline:
            t0 = time.perf_counter()
            base = baseline(store)
            out["baseline_s"] = time.perf_counter() - t0
            out["ratio"] = out["baseline_s"] / out["audit_s"]
            out["max_rel_diff"] = _diff(ours, base)
            out["same"] = float(out["max_rel_diff"] <= 1e-9)
        store.close()
        return out
    finally:
        if url.startswith("postgresql"):
            _drop(url)


def _upgrade(url: str) -> None:
    """Migrate a store kept from an earlier run to this dmslab's schema (a kept store outlives upgrades)."""
    engine = sa.create_engine(url)
    revisions = sa.text("SELECT version_num FROM alembic_version ORDER BY version_num")
    try:
        with engine.connect() as conn:
            before = conn.execute(revisions).scalars().all()
        t0 = time.perf_counter()
        migrate(engine)  # nothing to do at head
        with engine.connect() as conn:
            after = conn.execute(revisions).scalars().all()
        if after != before:
            print(f"{url}: migrated {before} -> {after} in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        engine.dispose()


def _sqlite_store(n: int, data: Path) -> str:
    """The kept store of ``n`` events (built the first time, with its load and packing times printed)."""
    path = data / f"audit-{n}.sqlite"
    if not path.exists():
        tmp = data / f"audit-{n}.building.sqlite"
        tmp.unlink(missing_ok=True)
        r = build(f"sqlite:///{tmp}", n)
        tmp.rename(path)
        print(f"built {path}: load {r['load_s']:.1f} s, columnar copy packed in {r['pack_s']:.1f} s", flush=True)
    url = f"sqlite:///{path}"
    _upgrade(url)
    store = Store(url)
    t0 = time.perf_counter()
    if store.refresh_columnar():
        print(f"columnar copy of {path} re-packed in {time.perf_counter() - t0:.1f} s", flush=True)
    store.close()
    return url


def compare(url: str, n: int, rounds: int, contenders: list[str]) -> None:
    """Rounds of fresh processes, order alternating; one line per contender and the value-by-value check."""
    figures: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for c in order:
                figures[c].append(_spawn(c, url, tmp))
    ref = figures[contenders[0]][-1]["result"]
    for c in contenders:
        runs = figures[c]
        walls = ", ".join(f"{f['wall']:.2f}" for f in runs)
        best = min(runs, key=lambda f: f["wall"])
        diff = _diff(runs[-1]["result"], ref)
        print(f"{n:>10,d} events {c:7s} wall {best['wall']:6.2f} s (rounds: {walls}), CPU {best['cpu']:6.2f} s, "
              f"peak RSS {max(f['rss_mb'] for f in runs):6.0f} MB, groups {len(runs[-1]['result']['ctdivol_mgy'])}, "
              f"max rel. diff vs {contenders[0]} {diff:.1e}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: sizes and backends; prints one line per contender and size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "bench-data")
    p.add_argument("--contenders", nargs="+", default=["dmslab", "duckdb", "pandas"])
    p.add_argument("--postgres", help="PostgreSQL URL (tables are created and dropped there)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child, args.url, args.out)
        return 0
    print(f"# {dt.datetime.now():%Y-%m-%d %H:%M}  {ROOMS} rooms x {PROTOCOLS} protocols x {MONTHS} months; "
          f"n/median/mean/min/max/SD of CTDIvol per sequence and DLP per exam by {', '.join(BY)}; "
          f"best wall of {args.rounds} alternating rounds, each in a fresh process", flush=True)
    args.data.mkdir(exist_ok=True)
    for n in args.sizes:
        compare(_sqlite_store(n, args.data), n, args.rounds, args.contenders)
        if args.postgres:
            r = run(args.postgres, n)
            print(f"{'postgresql':22s} {n:>10,d} events: load {r['load_s']:.1f} s, pack {r['pack_s']:.1f} s, "
                  f"dmslab {r['audit_s']:.2f} s, pandas {r['baseline_s']:.1f} s, max rel. diff {r['max_rel_diff']:.1e}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
