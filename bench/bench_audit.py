"""DRL audit at scale (run by hand): room × protocol × month medians of CTDIvol and DLP over 10⁶ / 10⁷ CT events.

Usage::

    python bench/bench_audit.py                       # SQLite, 10^6 and 10^7 events
    python bench/bench_audit.py --sizes 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1:54330/db

Events are bulk-generated straight into the store (SQLite: one executemany transaction; PostgreSQL: COPY),
3 events per study, over 20 rooms × 50 protocols × 36 months = 36 000 groups. For each size and backend it
prints the seconds of dmslab's audit (:func:`dmslab.analysis.stats.summary` of ``ctdivol_mgy`` per sequence and
``dlp_mgycm`` per exam by ``room, study_description, month``) and of the naive baseline (read the whole
``study``, ``equipment`` and ``ct_event`` tables into pandas, then merge and group), and their ratio. The two
results are compared value by value. PostgreSQL tables are dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dmslab.analysis.stats import summary
from dmslab.store import Store

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


def audit(store: Store) -> dict[str, pd.DataFrame]:
    """dmslab's audit: per-sequence CTDIvol and per-exam DLP medians per room × protocol × month."""
    return {m: summary(store, m, by=BY) for m in ("ctdivol_mgy", "dlp_mgycm")}


def baseline(store: Store) -> dict[str, pd.DataFrame]:
    """Naive: load whole tables into pandas, then merge and group (what a notebook would do without dmslab)."""
    st, eq, ev = store.table("study"), store.table("equipment"), store.table("ct_event")
    st = st.merge(eq[["id", "room"]].rename(columns={"id": "equipment_id"}), on="equipment_id")
    st["month"] = pd.to_datetime(st["study_datetime"]).dt.strftime("%Y-%m")
    evs = ev[ev["acquisition_type"] != "constant_angle"].merge(
        st[["id", *BY]].rename(columns={"id": "study_id"}), on="study_id")
    return {"ctdivol_mgy": evs.groupby(BY)["ctdivol_mgy"].median().rename("median").reset_index(),
            "dlp_mgycm": st.groupby(BY)["total_dlp_mgycm"].median().rename("median").reset_index()}


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    for m in a:
        x = a[m].set_index(BY)["median"].sort_index()
        y = b[m].set_index(BY)["median"].sort_index()
        if len(x) != len(y) or not np.allclose(x.to_numpy(dtype=float), y.reindex(x.index).to_numpy(dtype=float)):
            return False
    return True


def _drop(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        md.drop_all(conn)
    engine.dispose()


def run(url: str, n_events: int, *, with_baseline: bool = True) -> dict[str, float]:
    """Generate, audit, compare; returns the timings (s) and group count."""
    if url.startswith("postgresql"):
        _drop(url)
    store = Store(url)
    try:
        out: dict[str, float] = {"load_s": load(store, n_events)}
        t0 = time.perf_counter()
        ours = audit(store)
        out["audit_s"] = time.perf_counter() - t0
        out["groups"] = float(len(ours["ctdivol_mgy"]))
        if with_baseline:
            t0 = time.perf_counter()
            base = baseline(store)
            out["baseline_s"] = time.perf_counter() - t0
            out["ratio"] = out["baseline_s"] / out["audit_s"]
            out["same"] = float(_same(ours, base))
        return out
    finally:
        store.close()
        if url.startswith("postgresql"):
            _drop(url)


def main(argv: list[str] | None = None) -> int:
    """Command line: sizes and backends; prints one line per run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--postgres", help="PostgreSQL URL (tables are created and dropped there)")
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args(argv)
    print(f"# {dt.datetime.now():%Y-%m-%d %H:%M}  {ROOMS} rooms x {PROTOCOLS} protocols x {MONTHS} months", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            urls = ([] if args.no_sqlite else [f"sqlite:///{Path(tmp) / f'bench{n}.sqlite'}"])
            urls += [args.postgres] if args.postgres else []
            for url in urls:
                r = run(url, n, with_baseline=not args.no_baseline)
                backend = url.split(":", 1)[0]
                base = (f"baseline {r['baseline_s']:.1f} s, ratio {r['ratio']:.1f}x, same={bool(r['same'])}"
                        if "baseline_s" in r else "")
                print(f"{backend:22s} {n:>10,d} events {int(r['groups']):>6d} groups: load {r['load_s']:.1f} s, "
                      f"audit {r['audit_s']:.2f} s  {base}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
