"""Skin-dose kernel speed (run by hand, part of `make bench`): ms per event, a 1000-event procedure, vs PySkinDose.

Usage::

    python bench/bench_skindose.py                 # all three parts
    python bench/bench_skindose.py --events 1000 --rounds 3 --no-pyskindose

What it measures, printed side by side (no assertion: targets are printed next to the figures):

1. **ms per event** on the 1 cm body phantom (ICRP 89 reference adult, ~7 400 cells): 1000 synthetic events
   (random angles, fields, table positions, kVp, Cu; one in ten a 40-degree rotational run split into 5-degree
   arcs), the whole :func:`dmslab.skindose.skin_dose` call (arrays + kernel + map) and the kernel alone, best of
   ``--rounds``, after one warm-up call; numba threads as configured (``NUMBA_NUM_THREADS``).
2. **1000-event procedure wall time** in a fresh Python process: import, phantom, beams, kernel (numba's compile
   loaded from its on-disk cache, ``cache=True``; the first run ever compiles and writes it), map and PSD.
3. **vs PySkinDose** (the ``bench`` extra; skipped, saying why, when it is not installed) on the example RDSRs it
   ships, the same files through both tools: PySkinDose 25.1.1 ``calculate_dose`` on its plane phantom (1 cm,
   40 x 120 cm) and its elliptic cylinder (1 cm x 0.1 rad) vs dmslab on its 1 cm flat sheet and 1 cm body;
   calculation time (RDSR already parsed by each tool) per event, the ratio, and both PSDs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dmslab.skindose import Beam, Support, body_phantom, flat_phantom, skin_dose, transmission_table
from dmslab.skindose.beams import build_arrays
from dmslab.skindose.kernel import dose_numba
from dmslab.skindose.phantom import place
from dmslab.skindose.tables import backscatter_table


def synthetic_beams(n: int, seed: int = 1) -> list[Beam]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = float(rng.uniform(-60, 60))
        out.append(Beam(
            f"e{i}", k_ref_gy=float(rng.uniform(0.0005, 0.02)), d_ref_cm=60.0, dsi_cm=75.0,
            field_w_cm=float(rng.uniform(8, 30)), field_h_cm=float(rng.uniform(8, 30)), field_plane_cm=110.0,
            primary_deg=a, secondary_deg=float(rng.uniform(-30, 30)), primary_end_deg=a + 40 if i % 10 == 0 else None,
            table_offset_cm=(float(rng.uniform(-4, 4)), float(rng.uniform(20, 60)), float(rng.uniform(-14, -8))),
            kvp_kv=float(rng.uniform(65, 110)), cu_mm=float(rng.choice([0.0, 0.1, 0.2, 0.3, 0.6, 0.9])),
            kap_gym2=0.001))
    return out


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def part1(n: int, rounds: int) -> None:
    body = body_phantom(cell_cm=1.0)
    beams = synthetic_beams(n)
    sup = Support(transmission=transmission_table())
    skin_dose(beams[:5], body, support=sup)  # warm-up (cache load)
    full = []
    for _ in range(rounds):
        t = time.perf_counter()
        res = skin_dose(beams, body, support=sup)
        full.append(time.perf_counter() - t)
    arrays = build_arrays(beams, sup, backscatter_table(), True)
    cells, normals = place(body, "HFS")
    kern, kern_cpu = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), _cpu()
        dose_numba(cells, normals, body.areas_cm2, (arrays.ev, arrays.bsf, arrays.side_nodes, arrays.tab))
        kern.append(time.perf_counter() - t)
        kern_cpu.append(_cpu() - c)
    m = arrays.ev.shape[0]
    print(f"   load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (figures scale with it)")
    print(f"1. body phantom {body.n_cells} cells (1 cm), {n} events -> {m} beams after arcs, "
          f"numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print(f"   whole skin_dose call : {min(full) * 1e3 / n:.4f} ms/event ({min(full) * 1e3:.1f} ms)  target <= 0.5")
    print(f"   kernel alone         : {min(kern) * 1e3 / m:.4f} ms/beam  "
          f"({min(kern) * 1e9 / (m * body.n_cells):.2f} ns per cell x beam wall, "
          f"{min(kern_cpu) * 1e9 / (m * body.n_cells):.2f} ns CPU all threads); "
          "floor 0.027 ms/event on 2 threads = 1.8 ns per cell x event")
    print(f"   PSD {res.psd_gy:.3f} Gy, area > 2 Gy {res.area_above_cm2[2.0]:.0f} cm2")


_CHILD = """
import resource, time; t = time.perf_counter()
from dmslab.skindose import Support, body_phantom, skin_dose, transmission_table
import sys; sys.path.insert(0, {bench!r}); from bench_skindose import synthetic_beams
r = skin_dose(synthetic_beams({n}), body_phantom(), support=Support(transmission=transmission_table()))
ru = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - t, ru.ru_utime + ru.ru_stime, r.psd_gy)
"""


def part2(n: int) -> None:
    code = _CHILD.format(bench=str(Path(__file__).parent), n=n)
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        runs.append(tuple(float(x) for x in out.split()[:2]))
    print(f"2. {n}-event procedure in a fresh process (imports + phantom + beams + kernel + map): "
          f"wall {runs[0][0]:.2f} s (CPU {runs[0][1]:.2f} s), again wall {runs[1][0]:.2f} s (CPU {runs[1][1]:.2f} s)"
          f"  target < 1 s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _pyskindose_run(path: Path, model: str) -> tuple[int, float, float]:
    import pyskindose
    from pyskindose.analyze_data import analyze_data
    from pyskindose.helpers.read_and_normalize_rdsr_data import read_and_normalise_rdsr_data
    from pyskindose.settings import PyskindoseSettings

    s = json.loads((Path(pyskindose.__file__).parent / "settings_example.json").read_text())
    s["mode"] = "calculate_dose"
    s["phantom"]["model"] = model
    settings = PyskindoseSettings(settings=s, output_format="dict")
    data = read_and_normalise_rdsr_data(rdsr_filepath=str(path), settings=settings)
    t = time.perf_counter()
    out: Any = analyze_data(normalized_data=data, settings=settings)
    return len(data), time.perf_counter() - t, float(out["psd"]) / 1000  # its map is in mGy


def _dmslab_run(path: Path, phantom: str) -> tuple[int, float, float, str]:
    import pydicom

    from dmslab.ingest.rdsr import read_tree
    from dmslab.skindose import StudyOptions, study_skin_dose

    ds = pydicom.dcmread(path)
    root = read_tree(ds)
    best, res = float("inf"), None
    for _ in range(3):
        t = time.perf_counter()
        res = study_skin_dose(root, ds.get("Manufacturer"), ds.get("ManufacturerModelName"),
                              options=StudyOptions(phantom=phantom))
        best = min(best, time.perf_counter() - t)
    assert res is not None
    psd = res.result.psd_gy if res.result else float("nan")
    return len(res.events), best, psd, f"{res.status}/{res.profile}"


def part3() -> None:
    try:
        import pyskindose
    except ImportError:
        print("3. PySkinDose not installed (pip install -e '.[bench]'): comparison skipped")
        return
    files = sorted((Path(pyskindose.__file__).parent / "example_data" / "RDSR").glob("*.dcm"))
    skin_dose(synthetic_beams(2), flat_phantom())  # warm
    print("3. vs PySkinDose 25.1.1 on its example RDSRs (calculation only, RDSR parsed by each tool)")
    print(f"   {'file':38s} {'phantom':16s} {'events':>6s} {'PSkD ms/ev':>10s} {'dmslab ms/ev':>12s} {'ratio':>7s}"
          f" {'PSkD PSD Gy':>11s} {'dmslab PSD Gy':>13s}")
    for f in files:
        for ps_model, ours in (("plane", "flat"), ("cylinder", "body")):
            with tempfile.TemporaryDirectory() as tmp:
                cwd = os.getcwd()
                os.chdir(tmp)
                try:
                    n, t_ps, psd_ps = _pyskindose_run(f, ps_model)
                    ps = f"{t_ps * 1e3 / n:10.1f}"
                except Exception as exc:  # the other tool failing on a file is a result: reported, the run goes on
                    n, t_ps, psd_ps, ps = 0, float("nan"), float("nan"), f"{type(exc).__name__:>10s}"
                finally:
                    os.chdir(cwd)
            m, t_us, psd_us, status = _dmslab_run(f, ours)
            ratio = t_ps / n / (t_us / m) if n else float("nan")
            print(f"   {f.name:38s} {ps_model + '/' + ours:16s} {m:6d} {ps} {t_us * 1e3 / m:12.3f} {ratio:7.0f}"
                  f" {psd_ps:11.4f} {psd_us:13.4f}  {status}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-pyskindose", action="store_true")
    args = ap.parse_args()
    part1(args.events, args.rounds)
    part2(args.events)
    if not args.no_pyskindose:
        part3()


if __name__ == "__main__":
    main()
