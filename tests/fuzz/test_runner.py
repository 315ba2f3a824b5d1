"""``make fuzz`` (fuzz/run.py, which .ci/run calls after the tests) parses its command line: no target means every
target, a named one runs alone, an unknown one is refused with the list; a short real run reports executions and
no finding (atheris installed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _runner():
    sys.path.insert(0, str(ROOT / "fuzz"))
    spec = importlib.util.spec_from_file_location("fuzz_run", ROOT / "fuzz" / "run.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_run"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_no_target_runs_them_all_and_an_unknown_one_is_refused(monkeypatch, tmp_path, capsys):
    run = _runner()
    ran: list[str] = []
    monkeypatch.setattr(run, "fuzz", lambda name, *a: (ran.append(name), run.Result(name))[1])
    assert run.main(["--seconds", "1", "--work", str(tmp_path)]) == 0
    assert ran == list(run.TARGETS) and len(ran) >= 6
    ran.clear()
    assert run.main(["manual_csv", "--seconds", "1", "--work", str(tmp_path)]) == 0
    assert ran == ["manual_csv"]
    with pytest.raises(SystemExit) as exc:
        run.main(["nope"])
    assert exc.value.code == 2 and "unknown target(s) nope" in capsys.readouterr().err


def test_a_short_real_run_reports_executions(tmp_path):
    pytest.importorskip("atheris", reason="atheris (the fuzz extra) is not installed")
    done = subprocess.run([sys.executable, str(ROOT / "fuzz" / "run.py"), "manual_csv", "--seconds", "6",
                           "--work", str(tmp_path)], capture_output=True, text=True, timeout=600,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("manual_csv")]
    execs = int(line.split("execs")[1].split()[0])
    assert execs > 0 and line.rstrip().endswith("findings 0")


def test_artifacts_are_judged_slow_or_findings(tmp_path, monkeypatch):
    """libFuzzer's slow-unit report is not a failure; a timeout is a hang only when a fresh run of the input does
    not finish or spends the limit in CPU time; a crash is always a finding."""
    run = _runner()
    ok = ROOT / "tests" / "fuzz" / "regressions" / "manual_csv" / "cr_in_row.csv"
    res = run.Result("manual_csv")
    for prefix in ("slow-unit-", "timeout-", "crash-"):
        unit = tmp_path / f"{prefix}abc"
        unit.write_bytes(ok.read_bytes())
        run._judge("manual_csv", unit, res, 10.0)
    assert [Path(s.split()[0]).name for s in res.slow] == ["slow-unit-abc", "timeout-abc"]
    assert "s CPU" in res.slow[1] and [Path(f).name for f in res.findings] == ["crash-abc"]
    monkeypatch.setattr(run, "_rerun", lambda *a: (False, 100.0))  # a fresh run that does not finish: a hang
    run._judge("manual_csv", tmp_path / "timeout-abc", res, 10.0)
    assert [Path(f).name for f in res.findings] == ["crash-abc", "timeout-abc"]
    monkeypatch.setattr(run, "_rerun", lambda *a: (True, 12.0))  # finishes, but spends the limit in CPU time
    run._judge("manual_csv", tmp_path / "timeout-abc", res, 10.0)
    assert len(res.findings) == 3
