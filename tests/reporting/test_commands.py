"""``dmslab pipelines list|status`` and argument errors (the runs themselves are in test_runner.py)."""

from pathlib import Path

from dmslab.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_list_shows_each_pipeline_with_its_due_period(tmp_path, capsys):
    rc = main(["--home", str(tmp_path), "pipelines", "list", "--pipelines-dir", str(ROOT / "pipelines"),
               "--as-of", "2026-03-04"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert any(ln.startswith("drl_audit: monthly, due period 2026-02,") and "mpe@hospital.example" in ln
               for ln in lines)
    assert any(ln.startswith("high_dose_review: daily, due period 2026-03-03,") for ln in lines)
    assert any(ln.startswith("protocol_changes: weekly, due period 2026-W09,") for ln in lines)


def test_status_of_a_new_store_and_argument_errors(tmp_path, capsys):
    assert main(["pipelines", "status", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "no pipeline runs recorded"
    rc = main(["--home", str(tmp_path), "pipelines", "run", "--pipelines-dir", str(ROOT / "pipelines"),
               "--period", "2026-01"])
    assert rc == 2 and "--period needs the pipeline name(s)" in capsys.readouterr().err
    rc = main(["--home", str(tmp_path), "pipelines", "run", "nosuch", "--pipelines-dir", str(ROOT / "pipelines")])
    assert rc == 2 and "unknown pipeline(s) ['nosuch']" in capsys.readouterr().err
    rc = main(["--home", str(tmp_path), "pipelines", "list", "--pipelines-dir", str(tmp_path / "none")])
    assert rc == 2 and "pipelines folder" in capsys.readouterr().err
