"""Ingest throughput, measured side by side in one run (run by hand: `make bench`).

Prints objects/s for: a plain pydicom read + walk of every content item (baseline), dmslab's parse
alone (one process), and the full ingest into SQLite (parse in worker processes + batched writes), on
the CT RDSRs of a synthetic department and on the vendor corpus (when ../shared/corpus exists).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom

from dmslab.config import load_settings
from dmslab.ingest import parse_file
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import Pseudonymiser, create_key
from dmslab.synth import DepartmentConfig, generate_department

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DMSLAB_CORPUS", ROOT.parent / "shared" / "corpus")) / "openrem"


def plain_walk(path: Path) -> int:
    """Baseline: pydicom read and touch every content item's value (what any SR reader must do)."""
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


def timed(fn, paths) -> float:
    t = time.perf_counter()
    for p in paths:
        fn(p)
    return time.perf_counter() - t


def ingest_run(paths: list[Path], workers: int) -> tuple[float, object]:
    home = Path(tempfile.mkdtemp(prefix="dmslab-bench-"))
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), workers=workers)
    t = time.perf_counter()
    summary = ingest_paths(paths, settings)
    wall = time.perf_counter() - t
    shutil.rmtree(home)
    return wall, summary


def report(label: str, paths: list[Path]) -> None:
    pseudo = Pseudonymiser(bytes(32))
    n = len(paths)
    t_walk = timed(plain_walk, paths)
    t_parse = timed(lambda p: parse_file(p, pseudo), paths)
    wall1, s1 = ingest_run(paths, 1)
    wall2, s2 = ingest_run(paths, 2)
    print(f"\n== {label}: {n} objects ==")
    print(f"plain pydicom read+walk     {n / t_walk:8.1f} obj/s   ({1000 * t_walk / n:.1f} ms/obj)")
    print(f"dmslab parse (1 process)   {n / t_parse:8.1f} obj/s   ratio to plain walk {t_walk / t_parse:.2f}x")
    print(f"ingest SQLite, 1 worker    {n / wall1:8.1f} obj/s   parse {s1.parse_s:.2f}s, write {s1.write_s:.2f}s "
          f"(store = {100 * s1.write_s / max(s1.parse_s, 1e-9):.0f}% of parse time)")
    print(f"ingest SQLite, 2 workers   {n / wall2:8.1f} obj/s   speed-up {wall1 / wall2:.2f}x over 1 worker")


def header_rate(paths: list[Path], pseudo: Pseudonymiser) -> None:
    """Image-header ingest: parse throughput against a plain pydicom read of the same files."""
    reps = 5
    t_read = timed(lambda p: pydicom.dcmread(p, stop_before_pixels=True), paths * reps)
    t_parse = timed(lambda p: parse_file(p, pseudo), paths * reps)
    n = len(paths) * reps
    print(f"\n== image headers (corpus DX/CR/MG/NM/PT images, {len(paths)} files x {reps}) ==")
    print(f"plain pydicom read (no pixels) {n / t_read:8.1f} obj/s")
    print(f"dmslab header parse            {n / t_parse:8.1f} obj/s   ratio to plain read {t_read / t_parse:.2f}x")


def main() -> int:
    out = ROOT / "bench-data" / "department"
    if not (out / "ground_truth.json").exists():
        generate_department(out, DepartmentConfig(months=2, ct_rooms=2, dx_rooms=0, mg_rooms=0, rf_rooms=0,
                                                  studies_per_room_per_day=6.0))
    ct = sorted(p for p in out.rglob("*.dcm"))
    report("synthetic CT RDSRs", ct)
    if CORPUS.is_dir():
        sr = sorted(p for p in CORPUS.glob("*.dcm") if "RDSR" in p.name or "ESR" in p.name)
        report("vendor corpus RDSRs", sr)
        big = CORPUS / "RF-Pat-Orientation-Modifier-Missing.dcm"
        pseudo = Pseudonymiser(bytes(32))
        walk = statistics.median(timed(plain_walk, [big]) for _ in range(3))
        parse = statistics.median(timed(lambda p: parse_file(p, pseudo), [big]) for _ in range(3))
        print(f"\nlargest RF RDSR (3.3 MB, 316 events): plain walk {walk:.2f} s, dmslab parse {parse:.2f} s")
        images = sorted(p for p in CORPUS.glob("*.dcm") if "-Im-" in p.name or "NmIm" in p.name or "PetIm" in p.name)
        header_rate(images, pseudo)
    else:
        print(f"(corpus not found at {CORPUS}: skipped)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
