"""Run the fuzz targets one after the other and print executions, coverage and findings per target.

    python fuzz/run.py [TARGET ...] [--seconds 600] [--work fuzz/work] [--timeout 10] [--rss-limit-mb 2048]

Each target gets its budget of wall time under libFuzzer (``-max_total_time``), with a per-input time limit
(``-timeout``: a hang is a finding) and a memory limit (``-rss_limit_mb``: a blow-up is a finding). A finding
stops libFuzzer; the run then goes on with the rest of the budget from the corpus grown so far, so one finding does
not hide the next. Findings are kept in ``WORK/TARGET/findings/``: minimise one with
``python fuzz/_main.py TARGET -minimize_crash=1 -runs=10000 FILE`` and commit it under
``tests/fuzz/regressions/TARGET/`` with the fix. Exit status 1 when any target had a finding.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from seeds import write as write_seeds  # noqa: E402
from targets import TARGETS  # noqa: E402

REGRESSIONS = ROOT / "tests" / "fuzz" / "regressions"
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass
class Result:
    target: str
    seconds: float = 0.0
    execs: int = 0
    cov: int = 0
    ft: int = 0
    runs: int = 0
    findings: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)


def _one_run(name: str, args: list[str], log: Path, res: Result, timeout: float) -> None:
    cmd = [sys.executable, str(HERE / "_main.py"), name, *args]
    with open(log, "a") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    res.runs += 1
    last = None
    for line in log.read_text(errors="replace").splitlines()[res.__dict__.setdefault("_seen", 0):]:
        m = _STATUS.match(line)
        if m:
            last = m
        a = _ARTIFACT.search(line)
        if a:
            _judge(name, Path(a.group(1)), res, timeout)
    res.__dict__["_seen"] = len(log.read_text(errors="replace").splitlines())
    if last:
        res.execs += int(last.group(1))
        res.cov, res.ft = max(res.cov, int(last.group(2))), max(res.ft, int(last.group(3)))
    if proc.returncode != 0 and not res.findings:
        res.findings.append(f"libFuzzer exited {proc.returncode} without a test unit (see {log})")


def _rerun(name: str, unit: Path, wall_s: float) -> tuple[bool, float]:
    """Run one input through target ``name`` in a fresh process: (finished within ``wall_s``, CPU seconds of the
    process and its children, e.g. tesseract)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib; from pathlib import Path; "
            "importlib.import_module('targets.' + sys.argv[2]).check(Path(sys.argv[3]).read_bytes())")
    cmd = [sys.executable, "-c", code, str(HERE), name, str(unit)]
    before = os.times()
    try:
        subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=wall_s, check=False)
    except subprocess.TimeoutExpired:
        return False, wall_s
    after = os.times()
    return True, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def _judge(name: str, unit: Path, res: Result, timeout: float) -> None:
    """A libFuzzer artifact as a finding, or as slow: ``slow-unit-*`` only reports the slowest input; a
    ``timeout-*`` is a hang only when a fresh run of the input does not finish in 10 x the per-input limit or
    spends the limit in CPU time (on a busy machine wall time alone says nothing)."""
    if unit.name.startswith("slow-unit-"):
        res.slow.append(f"{unit} (the slowest input so far; not a contract failure)")
        return
    if unit.name.startswith("timeout-"):
        finished, cpu = _rerun(name, unit, 10 * timeout)
        if finished and cpu < timeout:
            res.slow.append(f"{unit} (timed out under load; a fresh run finished in {cpu:.2f} s CPU)")
            return
    res.findings.append(str(unit))


def fuzz(name: str, seconds: float, work: Path, timeout: int, rss_mb: int) -> Result:
    """Fuzz ``name`` for ``seconds`` of wall time (restarting after each finding)."""
    tdir = work / name
    corpus, seeds, findings = tdir / "corpus", tdir / "seeds", tdir / "findings"
    for d in (corpus, findings):
        d.mkdir(parents=True, exist_ok=True)
    mod = importlib.import_module(f"targets.{name}")
    for kind in mod.SEEDS:
        write_seeds(kind, seeds, work)
    regress = REGRESSIONS / name
    dirs = [str(corpus), str(seeds)] + ([str(regress)] if regress.is_dir() else [])
    log = tdir / "fuzz.log"
    log.write_text("")
    res = Result(name)
    t0 = time.monotonic()
    while (left := seconds - (time.monotonic() - t0)) >= 5 and res.runs < 50:
        args = [f"-max_total_time={int(left)}", f"-timeout={timeout}", f"-rss_limit_mb={rss_mb}",
                f"-dict={HERE / mod.DICT}", f"-artifact_prefix={findings}/", "-max_len=65536",
                "-print_final_stats=1", *dirs]
        _one_run(name, args, log, res, timeout)
    res.seconds = time.monotonic() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(TARGETS)}")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_S", 600)))
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--timeout", type=int, default=10, help="libFuzzer -timeout: seconds per input")
    ap.add_argument("--rss-limit-mb", type=int, default=2048, help="libFuzzer -rss_limit_mb")
    ns = ap.parse_args(argv)
    results = []
    unknown = sorted(set(ns.targets) - set(TARGETS))
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}: choose from {', '.join(TARGETS)}")
    for name in ns.targets or TARGETS:
        res = fuzz(name, ns.seconds, ns.work, ns.timeout, ns.rss_limit_mb)
        results.append(res)
        print(f"{name:<11} {res.seconds:6.0f} s  execs {res.execs:>9}  cov {res.cov:>5}  ft {res.ft:>6}  "
              f"findings {len(res.findings)}", flush=True)
        for f in res.findings:
            print(f"    finding: {f}", flush=True)
        for f in res.slow:
            print(f"    slow: {f}", flush=True)
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
