"""CLI start-up cost, side by side in one run (run by hand: `make bench`).

Measures whatever the ``dmslab.cli`` package imports at start-up, median of N runs each:

1. total import time of ``python -X importtime -m dmslab.cli --version`` (sum of the "self" column over every
   module, interpreter start-up modules included; target < 0.3 s on an idle machine), beside the same figure for
   ``python -X importtime -c pass`` (the interpreter alone), and the top-level imports that cost the most;
2. wall-clock time of ``dmslab --version`` and ``dmslab --help`` (the console script when it is installed next to
   this interpreter, else ``python -m dmslab.cli``), beside ``python -c pass``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.3


def _env() -> dict[str, str]:
    """This checkout's dmslab first on the path, whatever the venv has installed."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _dmslab_cmd() -> list[str]:
    script = Path(sys.executable).parent / "dmslab"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "dmslab.cli"]


def import_times(args: list[str]) -> tuple[float, dict[str, float]]:
    """Run ``python -X importtime ARGS``: total seconds of all imports (sum of "self") and the cumulative seconds
    of each top-level import."""
    out = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, check=True,
                         env=_env(), cwd=ROOT)
    total_us, top = 0, {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        total_us += int(self_us)
        if not name.startswith("  "):  # one space of padding: a top-level import
            top[name.strip()] = int(cumulative_us) / 1e6
    return total_us / 1e6, top


def wall_s(cmd: list[str]) -> float:
    """Wall-clock seconds of one run of ``cmd`` (output discarded)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=_env(), cwd=ROOT)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="dmslab CLI start-up cost")
    parser.add_argument("--runs", type=int, default=9, help="runs per figure (median; default 9)")
    args = parser.parse_args(argv)
    cli = ["-m", "dmslab.cli", "--version"]
    for _ in range(2):  # warm the page cache and the bytecode caches
        import_times(cli)
    totals = [import_times(cli) for _ in range(args.runs)]
    cli_s = statistics.median(t for t, _ in totals)
    bare_s = statistics.median(import_times(["-c", "pass"])[0] for _ in range(args.runs))
    tops: dict[str, list[float]] = {}
    for _, top in totals:
        for name, s in top.items():
            tops.setdefault(name, []).append(s)
    heaviest = sorted(((statistics.median(v), k) for k, v in tops.items()), reverse=True)[:6]
    print(f"load average {os.getloadavg()[0]:.2f}; median of {args.runs} runs")
    print(f"  import time, python -X importtime -m dmslab.cli --version: {1000 * cli_s:6.1f} ms "
          f"(target < {1000 * TARGET_S:.0f} ms idle: {'met' if cli_s < TARGET_S else 'NOT met'}); "
          f"interpreter alone (-c pass): {1000 * bare_s:5.1f} ms; ratio {cli_s / bare_s:.1f}x")
    print("  heaviest top-level imports (cumulative): "
          + ", ".join(f"{name} {1000 * s:.1f} ms" for s, name in heaviest))
    bare_wall = statistics.median(wall_s([sys.executable, "-c", "pass"]) for _ in range(args.runs))
    cmd = _dmslab_cmd()
    for flag in ("--version", "--help"):
        w = statistics.median(wall_s([*cmd, flag]) for _ in range(args.runs))
        print(f"  wall time, {Path(cmd[0]).name if len(cmd) == 1 else 'python -m dmslab.cli'} {flag}: "
              f"{1000 * w:6.1f} ms; python -c pass: {1000 * bare_wall:5.1f} ms; ratio {w / bare_wall:.1f}x")


if __name__ == "__main__":
    main()
