"""OCR accuracy and throughput on synthetic CT dose screens (run by hand).

    .venv/bin/python bench/bench_ocr.py --n 210 --seed 1000 [--workers 2] [--min-conf 80]

Renders ``n`` screens (GE, Siemens and Toshiba/Canon styles in turn) with :mod:`dmslab.synth.screens`,
reads them with the OCR importer and compares every field with the renderer's ground truth:

* exact: the stored value equals the displayed value (a blank stays blank);
* flagged: the value was not stored (``None``) and a review flag says why;
* wrong unflagged: a value was stored that differs from the screen, with no review flag naming that field or its
  row — must be 0;
* wrong stored: any stored value that differs from the screen, flagged or not (should be 0 too: a doubtful
  value is left out, not stored with a flag).

Fields per event: acquisition type, CTDIvol, DLP, scan length, phantom; per screen: total DLP.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from dmslab.ingest.ocr import OcrImporter
from dmslab.ingest.ocr._common import event_uid
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, SourceRecord
from dmslab.synth.screens import ScreenTruth, write_screens

EVENT_FIELDS = ("acquisition_type", "ctdivol_mgy", "dlp_mgycm", "scan_length_mm", "phantom_cm")


@dataclass
class Score:
    """Field counts of one or more screens."""

    total: int = 0
    exact: int = 0
    flagged: int = 0
    wrong: list[str] = field(default_factory=list)
    wrong_stored: list[str] = field(default_factory=list)
    by_vendor: Counter[str] = field(default_factory=Counter)
    #: CPU seconds used (this process, its workers and their tesseract runs): load-independent cost.
    cpu_s: float = 0.0

    def add(self, other: Score) -> None:
        self.total += other.total
        self.exact += other.exact
        self.flagged += other.flagged
        self.wrong += other.wrong
        self.wrong_stored += other.wrong_stored
        self.by_vendor.update(other.by_vendor)


def _same(want: object, got: object) -> bool:
    if want is None or got is None:
        return want is got
    if isinstance(want, str) or isinstance(got, str):
        return want == got
    return abs(float(want) - float(got)) < 1e-6  # type: ignore[arg-type]


def score(report: DoseReport, truth: ScreenTruth) -> Score:
    """Compare one report with the screen's ground truth, field by field."""
    s = Score()
    events = {e.event_uid: e for e in report.ct_events}
    pairs: list[tuple[str, object, object, bool]] = []
    for ev in truth.events:
        rec = events.get(event_uid(truth.study_uid, "ocr", truth.vendor, str(ev.series)))
        for f in EVENT_FIELDS:
            got = getattr(rec, f) if rec is not None else None
            named = rec is None or any(f in fl for fl in rec.flags)
            pairs.append((f"series {ev.series} {f}", getattr(ev, f), got, named))
    pairs.append(("total_dlp_mgycm", truth.total_dlp_mgycm, report.study.total_dlp_mgycm,
                  any("total" in fl for fl in report.study.flags)))
    for name, want, got, flagged in pairs:
        s.total += 1
        if _same(want, got):
            s.exact += 1
            s.by_vendor[truth.vendor + ":exact"] += 1
        elif got is None:
            s.flagged += 1
        else:
            s.wrong_stored.append(f"{truth.path}: {name} stored {got!r}, screen shows {want!r}")
            if flagged:
                s.flagged += 1
            else:
                s.wrong.append(f"{truth.path}: {name} stored {got!r}, screen shows {want!r}")
        s.by_vendor[truth.vendor + ":total"] += 1
    return s


def _read(args: tuple[ScreenTruth, float]) -> Score:
    truth, min_conf = args
    imp = OcrImporter(min_conf=min_conf)
    assert truth.path is not None
    ds = pydicom.dcmread(truth.path)
    report = imp.ingest(ds, pseudonymise=Pseudonymiser(bytes(32)), source=SourceRecord(sha256="bench"))
    return score(report, truth)


def run(folder: Path, n: int, *, seed: int, workers: int = 1, min_conf: float = 80.0) -> tuple[Score, float]:
    """Render ``n`` screens into ``folder``, read them; return the score and screens per second."""
    truths = write_screens(folder, n, seed=seed)
    t0, cpu0 = time.perf_counter(), _cpu()
    total = Score()
    jobs = [(t, min_conf) for t in truths]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_read, jobs))
    else:
        results = [_read(j) for j in jobs]
    for r in results:
        total.add(r)
    total.cpu_s = _cpu() - cpu0
    return total, n / (time.perf_counter() - t0)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=210)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--min-conf", type=float, default=80.0)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        s, rate = run(Path(tmp), a.n, seed=a.seed, workers=a.workers, min_conf=a.min_conf)
    print(f"screens: {a.n}  fields: {s.total}  exact: {s.exact} ({s.exact / s.total:.2%})  "
          f"flagged: {s.flagged} ({s.flagged / s.total:.2%})  wrong unflagged: {len(s.wrong)}  "
          f"wrong stored (flagged or not): {len(s.wrong_stored)}")
    for v in ("ge", "siemens", "toshiba"):
        tot = s.by_vendor[v + ":total"]
        print(f"  {v:8s} exact {s.by_vendor[v + ':exact']}/{tot} ({s.by_vendor[v + ':exact'] / max(tot, 1):.2%})")
    print(f"throughput: {rate:.2f} screens/s ({a.workers} worker(s); {s.cpu_s / a.n:.2f} CPU s per screen, all "
          "processes and tesseract runs)")
    for w in s.wrong_stored:
        print("WRONG" if w in s.wrong else "WRONG (flagged)", w)
    return 1 if s.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
