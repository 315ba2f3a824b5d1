"""Protocol-change detection: detection rate, delay and false alarms (run by hand: ``python bench/bench_changes.py``).

Two evaluations, both printed:

1. **Series simulated with the synthetic department's log-normal model** (per-exam CTDIvol median × GSD
   of each CT protocol of ``dmslab.synth``): a 20 % median shift (× 0.8 and × 1.2) after 60–300 unchanged
   exams; found = the first reported change after the true one comes within 50 exams; plus unchanged
   series for the false-alarm rate.
2. **End to end**: synthetic departments (CT rooms only, 6 studies per room per working day, 12 months,
   several seeds) written as RDSRs, ingested into SQLite, read back with :func:`exam_series` and run
   through :func:`detect_changes` on every metric (CTDIvol, DLP, mA, effective mAs, kVp, pitch,
   collimation). The department's injected change (CT1 head, a step in CTDIvol on a date) is run with
   factors 0.8 and 1.2; every other room × protocol series is unchanged and counts false alarms.
   Simultaneous alarms of several metrics of one series (within 50 exams) count as one change. The two
   departments of one seed differ only in the injected factor, so their unchanged series are counted once.

Options: ``--quick`` (fewer repetitions), ``--seeds N`` (departments per factor).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

import dmslab.synth._generate as synth_generate
from dmslab.analysis.changes import detect_changes, detect_series, exam_series
from dmslab.config import load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store
from dmslab.synth import DepartmentConfig, generate_department
from dmslab.synth._protocols import CT_PROTOCOLS

WITHIN = 50
EXAMS_PER_ROOM_YEAR = 6 * 250  # 6 CT studies per working day


def simulated(reps: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for proto in CT_PROTOCOLS:
        sigma = np.log(proto.gsd)
        for factor in (0.8, 1.2):
            for _ in range(reps):
                c = int(rng.integers(60, 300))
                x = np.exp(rng.normal(0.0, sigma, c + 150)) * np.r_[np.ones(c), np.full(150, factor)]
                after = [cp for cp in detect_series(x) if cp.alarm >= c]
                delay = after[0].alarm - c if after else None
                rows.append({"protocol": proto.name, "gsd": proto.gsd, "factor": factor,
                             "found": delay is not None and delay < WITHIN, "delay": delay,
                             "date_error": abs(after[0].index - c) if after else None})
    return pd.DataFrame(rows)


def simulated_false_alarms(n_exams: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for proto in CT_PROTOCOLS:
        x = np.exp(rng.normal(0.0, np.log(proto.gsd), n_exams))
        rows.append({"protocol": proto.name, "gsd": proto.gsd, "exams": n_exams, "false": len(detect_series(x))})
    return pd.DataFrame(rows)


@contextlib.contextmanager
def change_factor(factor: float) -> Iterator[None]:
    """The synthetic department's injected CTDIvol factor (a private constant) for one generation."""
    old = synth_generate._CHANGE_FACTOR
    synth_generate._CHANGE_FACTOR = factor
    try:
        yield
    finally:
        synth_generate._CHANGE_FACTOR = old


def _clusters(rows: pd.DataFrame) -> int:
    n, last = 0, None
    for e in sorted(rows["alarm_exam"]):
        if last is None or e - last > WITHIN:
            n += 1
            last = e
    return n


def department(seed: int, factor: float, months: int, work: Path, *, count_unchanged: bool) -> dict[str, object]:
    out = work / f"dept-{seed}-{factor}"
    with change_factor(factor):
        truth = generate_department(out, DepartmentConfig(ct_rooms=2, dx_rooms=0, mg_rooms=0, rf_rooms=0,
                                                          months=months, studies_per_room_per_day=6.0, seed=seed))
    home = work / f"home-{seed}-{factor}"
    home.mkdir()
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'db.sqlite'}", workers=2)
    ingest_paths([out], settings)
    store = Store(settings.database_url)
    exams = exam_series(store)
    store.close()
    found = detect_changes(exams)
    pc = truth.injected.protocol_change
    assert pc is not None
    series = exams[(exams["room"] == pc.station_name) & (exams["protocol"] == pc.protocol)]
    true_index = int((series["study_datetime"] < pd.Timestamp(pc.date)).sum())
    hit = found[(found["room"] == pc.station_name) & (found["protocol"] == pc.protocol)
                & (found["metric"] == "ctdivol_mgy") & (found["alarm_exam"] >= true_index)]
    delay = int(hit["alarm_exam"].min() - true_index) if len(hit) else None
    unchanged = found[(found["room"] != pc.station_name) | (found["protocol"] != pc.protocol)]
    false = sum(_clusters(g) for _k, g in unchanged.groupby(["room", "protocol"])) if count_unchanged else 0
    n_unchanged = len(exams) - len(series) if count_unchanged else 0  # same seed: same unchanged series
    return {"seed": seed, "factor": factor, "exams": len(exams), "found": delay is not None and delay < WITHIN,
            "delay": delay, "date_error": int(abs(hit["change_exam"].iloc[0] - true_index)) if len(hit) else None,
            "unchanged_exams": n_unchanged, "false_alarms": false,
            "false_metrics": ", ".join(sorted(set(unchanged["metric"]))) if count_unchanged and false else "-"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--months", type=int, default=12)
    args = ap.parse_args()
    rng = np.random.default_rng(20261124)
    reps = 60 if args.quick else 250
    t0 = time.perf_counter()
    sim = simulated(reps, rng)
    print(f"1. simulated CTDIvol series, 20 % median shifts, {reps} per protocol and direction "
          f"({time.perf_counter() - t0:.1f} s)")
    by = sim.groupby(["gsd", "factor"]).agg(n=("found", "size"), found=("found", "mean"),
                                            median_delay=("delay", "median"), median_date_error=("date_error",
                                                                                                 "median"))
    print(by.to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"   all: {sim['found'].mean():.1%} found within {WITHIN} exams; median delay "
          f"{sim['delay'].median():.0f} exams")
    fa = simulated_false_alarms(20_000 if not args.quick else 5_000, rng)
    rate = fa["false"].sum() / fa["exams"].sum() * 1000
    print(f"   unchanged: {fa['false'].sum()} false alarms in {fa['exams'].sum()} exams = {rate:.3f} per 1000 exams "
          f"per metric (= {rate * EXAMS_PER_ROOM_YEAR / 1000:.2f} per room-year of {EXAMS_PER_ROOM_YEAR} exams)")
    work = Path(tempfile.mkdtemp(prefix="bench_changes_"))
    try:
        t1 = time.perf_counter()
        rows = [department(1000 + s, f, args.months, work, count_unchanged=f == 0.8)
                for s in range(args.seeds) for f in (0.8, 1.2)]
        dep = pd.DataFrame(rows)
        print(f"\n2. end to end: {len(dep)} synthetic departments (2 CT rooms, {args.months} months) "
              f"({time.perf_counter() - t1:.0f} s)")
        print(dep.to_string(index=False))
        exams, false = int(dep["unchanged_exams"].sum()), int(dep["false_alarms"].sum())
        room_years = args.seeds * 2 * args.months / 12  # unchanged series counted once per seed
        delays = [d for d in dep["delay"] if d is not None and not pd.isna(d)]
        print(f"   injected change found within {WITHIN} exams: {dep['found'].mean():.0%}; median delay "
              f"{statistics.median(delays) if delays else float('nan'):.0f} exams")
        print(f"   false alarms (all metrics, unchanged room x protocol series): {false} in {exams} exams = "
              f"{false / exams * 1000:.3f} per 1000 exams = {false / room_years:.2f} per room-year")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
