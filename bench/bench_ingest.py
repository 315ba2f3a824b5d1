"""Ingest throughput and CPU per object, this tree against an older commit, side by side in one run (`make bench`).

Two parts:

1. **Before vs after.** The older commit (``--against``, default the commit before the shared byte walker) is checked
   out in a temporary folder (``git archive``); each measurement runs in a fresh subprocess with ``PYTHONPATH`` set
   to one tree or the other, in rounds whose order alternates (old first, then new first), so both see the same machine
   load. Each subprocess parses the same files with ``parse_file`` (one process, after a warm-up pass) and reports
   **CPU milliseconds per object** (``time.process_time``: stable under load) next to objects/s (wall clock, which
   is not), plus the CPU time its start-up imports took. Sets: the synthetic CT RDSRs (target <= 3.5 ms CPU each),
   the vendor corpus RDSRs, the largest corpus RDSR on its own, and the corpus image headers.
2. **This tree in context.** A plain pydicom read + walk of every content item (baseline), and the full ingest into
   SQLite with 1 and 2 worker processes (parse + batched writes), CPU ms/object and objects/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DMSLAB_CORPUS", ROOT.parent / "shared" / "corpus")) / "openrem"
#: The last commit before the shared walker (issue 12 items 7 and 11): the "before" of part 1.
BEFORE = "777beb8"
BIG = "RF-Pat-Orientation-Modifier-Missing.dcm"


def _measure(list_file: str, reps: int) -> None:
    """Child mode: parse the listed files ``reps`` times after one warm-up pass; print one JSON line."""
    start_cpu = time.process_time()  # interpreter start-up and the imports below
    from dmslab.ingest import parse_file
    from dmslab.pseudonym import Pseudonymiser

    import_cpu = time.process_time() - start_cpu
    paths = [Path(p) for p in Path(list_file).read_text().split("\n") if p]
    pseudo = Pseudonymiser(bytes(32))
    for p in paths:
        parse_file(p, pseudo)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(reps):
        for p in paths:
            parse_file(p, pseudo)
    n = reps * len(paths)
    print(json.dumps({"cpu_ms": 1000 * (time.process_time() - cpu) / n, "per_s": n / (time.perf_counter() - wall),
                      "import_cpu_s": import_cpu, "files": len(paths)}))


def _measure_ingest(list_file: str) -> None:
    """Child mode: a full ``ingest_paths`` (1 worker) of the listed files into a fresh SQLite store: parse, write,
    and whatever the store does at the end of a run (the columnar copy's triggers and re-pack); one JSON line."""
    from dmslab.config import load_settings
    from dmslab.jobs import ingest_paths
    from dmslab.pseudonym import create_key

    paths = [Path(p) for p in Path(list_file).read_text().split("\n") if p]
    home = Path(tempfile.mkdtemp(prefix="dmslab-bench-ingest-"))
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), workers=1)
    cpu, wall, t0 = time.process_time(), time.perf_counter(), os.times()
    summary = ingest_paths(paths, settings)
    t1 = os.times()
    children = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
    cpu_s = time.process_time() - cpu + children
    assert summary.ingested == len(paths), summary
    shutil.rmtree(home)
    print(json.dumps({"cpu_ms": 1000 * cpu_s / len(paths), "per_s": len(paths) / (time.perf_counter() - wall),
                      "import_cpu_s": 0.0, "files": len(paths)}))


def _child(tree: Path, list_file: Path, reps: int, mode: str = "parse") -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_ingest.py"), "--measure", str(list_file),
                          "--reps", str(reps), "--mode", mode], env=env, capture_output=True, text=True, check=True,
                         cwd=tree)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def before_after(sets: dict[str, list[Path]], old: Path, rounds: int, label: str) -> None:
    """Part 1: alternating rounds of the old and the new tree on each set of files; medians printed. The last row,
    ``ingest …``, is the whole ``ingest_paths`` of the first set into SQLite (parse + store writes + end of run)."""
    tmp = Path(tempfile.mkdtemp(prefix="dmslab-bench-lists-"))
    print(f"\n== before ({label}) vs after (this tree): parse_file in one process, {rounds} alternating rounds ==")
    print(f"{'set':46} {'files':>5} {'CPU ms/obj before':>18} {'after':>8} {'after/before':>12} "
          f"{'obj/s before':>13} {'after':>8}")
    imports: dict[str, list[float]] = {"old": [], "new": []}
    first = next(iter(sets))
    jobs = [(name, paths, "parse") for name, paths in sets.items()] + [(f"ingest {first} into SQLite", sets[first],
                                                                         "ingest")]
    for name, paths, mode in jobs:
        list_file = tmp / f"{len(paths)}.txt"
        list_file.write_text("\n".join(map(str, paths)))
        reps = max(1, min(10, int(20e6 / sum(p.stat().st_size for p in paths))))  # ~20 MB parsed per child
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for r in range(rounds):
            order = (("old", old), ("new", ROOT)) if r % 2 == 0 else (("new", ROOT), ("old", old))
            for key, tree in order:
                runs[key].append(_child(tree, list_file, reps, mode))
        med = {k: {m: statistics.median(x[m] for x in v) for m in ("cpu_ms", "per_s", "import_cpu_s")}
               for k, v in runs.items()}
        for k in imports:
            if mode == "parse":
                imports[k].append(med[k]["import_cpu_s"])
        print(f"{name:46} {len(paths):5d} {med['old']['cpu_ms']:18.2f} {med['new']['cpu_ms']:8.2f} "
              f"{med['new']['cpu_ms'] / med['old']['cpu_ms']:11.2f}x {med['old']['per_s']:13.1f} "
              f"{med['new']['per_s']:8.1f}")
    print(f"start-up imports (interpreter + dmslab.ingest), CPU s: before {statistics.median(imports['old']):.3f}, "
          f"after {statistics.median(imports['new']):.3f}")
    shutil.rmtree(tmp)


def _old_tree(rev: str) -> Path:
    """The ``dmslab`` package of ``rev`` in a temporary folder (``git archive``: the repository is not touched)."""
    where = Path(tempfile.mkdtemp(prefix="dmslab-bench-before-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "dmslab", "data_contracts"], check=True,
                             capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def _drop_tree(where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)


def plain_walk(path: Path) -> int:
    """Baseline: pydicom read and touch every content item's value (what any SR reader must do)."""
    import pydicom

    ds = pydicom.dcmread(path)
    n = 0
    stack = list(ds.get("ContentSequence", []))
    while stack:
        it = stack.pop()
        n += 1
        _ = it.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in it else None
        vt = it.ValueType
        if vt == "NUM" and it.get("MeasuredValueSequence"):
            mv = it.MeasuredValueSequence[0]
            _ = (mv.NumericValue, mv.MeasurementUnitsCodeSequence[0].CodeValue)
        elif vt == "CODE":
            _ = it.ConceptCodeSequence[0].CodeValue if it.get("ConceptCodeSequence") else None
        elif vt == "TEXT":
            _ = it.TextValue
        stack.extend(it.get("ContentSequence", []))
    return n


def timed(fn: Callable[[Path], object], paths: Iterable[Path]) -> tuple[float, float]:
    """(CPU s, wall s) of ``fn`` over ``paths``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for p in paths:
        fn(p)
    return time.process_time() - cpu, time.perf_counter() - wall


def ingest_run(paths: list[Path], workers: int) -> tuple[float, float, object]:
    """(CPU s of this process and its workers, wall s, summary) of a full ingest into a fresh SQLite store."""
    from dmslab.config import load_settings
    from dmslab.jobs import ingest_paths
    from dmslab.pseudonym import create_key

    home = Path(tempfile.mkdtemp(prefix="dmslab-bench-"))
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), workers=workers)
    t0, c0, w0 = time.perf_counter(), time.process_time(), os.times()
    summary = ingest_paths(paths, settings)
    w1 = os.times()
    cpu = time.process_time() - c0 + (w1.children_user - w0.children_user) + (w1.children_system - w0.children_system)
    wall = time.perf_counter() - t0
    shutil.rmtree(home)
    return cpu, wall, summary


def report(label: str, paths: list[Path]) -> None:
    """Part 2 for one set of files (this tree only)."""
    from dmslab.ingest import parse_file
    from dmslab.pseudonym import Pseudonymiser

    pseudo = Pseudonymiser(bytes(32))
    n = len(paths)
    c_walk, t_walk = timed(plain_walk, paths)
    c_parse, t_parse = timed(lambda p: parse_file(p, pseudo), paths)
    c1, wall1, s1 = ingest_run(paths, 1)
    c2, wall2, _ = ingest_run(paths, 2)
    print(f"\n== {label}: {n} objects (this tree) ==")
    print(f"plain pydicom read+walk     {n / t_walk:8.1f} obj/s   {1000 * c_walk / n:6.2f} ms CPU/obj")
    print(f"dmslab parse (1 process)    {n / t_parse:8.1f} obj/s   {1000 * c_parse / n:6.2f} ms CPU/obj   "
          f"CPU ratio to plain walk {c_walk / c_parse:.2f}x")
    print(f"ingest SQLite, 1 worker     {n / wall1:8.1f} obj/s   {1000 * c1 / n:6.2f} ms CPU/obj   "
          f"parse {s1.parse_s:.2f}s, write {s1.write_s:.2f}s")  # type: ignore[attr-defined]
    print(f"ingest SQLite, 2 workers    {n / wall2:8.1f} obj/s   {1000 * c2 / n:6.2f} ms CPU/obj   "
          f"speed-up {wall1 / wall2:.2f}x over 1 worker")


def _sets() -> dict[str, list[Path]]:
    from dmslab.synth import DepartmentConfig, generate_department

    out = ROOT / "bench-data" / "department"
    if not (out / "ground_truth.json").exists():
        generate_department(out, DepartmentConfig(months=2, ct_rooms=2, dx_rooms=0, mg_rooms=0, rf_rooms=0,
                                                  studies_per_room_per_day=6.0))
    sets = {"synthetic CT RDSRs": sorted(out.rglob("*.dcm"))}
    if CORPUS.is_dir():
        sets["vendor corpus RDSRs"] = sorted(p for p in CORPUS.glob("*.dcm") if "RDSR" in p.name or "ESR" in p.name)
        sets[f"largest corpus RDSR ({(CORPUS / BIG).stat().st_size / 1e6:.2f} MB)"] = [CORPUS / BIG]
        sets["corpus image headers"] = sorted(p for p in CORPUS.glob("*.dcm")
                                              if "-Im-" in p.name or "NmIm" in p.name or "PetIm" in p.name)
    else:
        print(f"(corpus not found at {CORPUS}: skipped)", file=sys.stderr)
    return sets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default=BEFORE, help="git revision to compare with (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds per set (default %(default)s)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("parse", "ingest"), default="parse", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        if args.mode == "ingest":
            _measure_ingest(args.measure)
        else:
            _measure(args.measure, args.reps)
        return 0
    sets = _sets()
    old = _old_tree(args.against)
    try:
        before_after(sets, old, args.rounds, args.against)
    finally:
        _drop_tree(old)
    for name, paths in list(sets.items())[:2]:
        report(name, paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
