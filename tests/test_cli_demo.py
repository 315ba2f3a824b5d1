"""The command line end to end: synth -> init -> ingest -> audit, and the audit's numbers."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from dmslab.analysis import ct_audit, map_ct_protocol
from dmslab.cli import main
from dmslab.jobs import ingest_paths
from dmslab.store import Store


def test_demo_command_prints_the_audit(tmp_path, capsys):
    rc = main(["-q", "--home", str(tmp_path / "demo"), "demo", "--months", "1", "--studies-per-day", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "created pseudonymisation key" in out
    assert " ingested, 0 duplicate, 0 rejected" in out
    assert "CT Head Routine" in out and "UKHSA" in out
    assert (tmp_path / "demo" / "dmslab.sqlite").exists()
    report = Path(out.split("DRL audit report: ")[1].split()[0])
    assert report.is_file() and "<table" in report.read_text()


def test_global_options_work_after_the_subcommand(tmp_path, capsys):
    rc = main(["init", "--home", str(tmp_path / "h"), "-q"])
    assert rc == 0
    assert (tmp_path / "h" / "pseudonym.key").exists() and (tmp_path / "h" / "dmslab.sqlite").exists()


def test_ingest_of_missing_path_is_a_clear_error(tmp_path, capsys):
    main(["-q", "--home", str(tmp_path), "init"])
    rc = main(["-q", "--home", str(tmp_path), "ingest", str(tmp_path / "nope")])
    assert rc == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_audit_medians_match_ground_truth(department, settings):
    root, truth = department
    ingest_paths([root], settings)
    store = Store(settings.database_url)
    audit = ct_audit(store)
    store.close()
    assert len(audit) == len({(s.station_name, s.protocol) for s in truth.studies if s.modality == "CT"})
    for row in audit.itertuples():
        studies = [s for s in truth.studies if s.modality == "CT" and s.station_name == row.room
                   and s.protocol == row.protocol]
        ctdi = [e.ctdivol_mgy for s in studies for e in s.events
                if e.ctdivol_mgy is not None and e.acquisition_type != "Constant Angle Acquisition"]
        assert row.n_studies == len(studies)
        assert row.median_dlp_mgycm == pytest.approx(statistics.median(s.total_dlp_mgycm for s in studies))
        assert row.median_ctdivol_mgy == pytest.approx(statistics.median(ctdi))
        assert row.examination == map_ct_protocol(row.protocol)
    head = audit[audit["protocol"] == "CT Head Routine"]
    assert (head["drl_dlp_mgycm"] == 790).all() and (head["drl_ctdivol_mgy"] == 47).all()


def test_makefile_demo_recipe_parses(tmp_path, capsys, monkeypatch):
    """The exact `make demo` command line is accepted (small department, home moved to tmp)."""
    root = Path(__file__).resolve().parents[1]
    recipe = next(line.strip() for line in (root / "Makefile").read_text().splitlines()
                  if line.strip().startswith("$(BIN)/dmslab") and " demo" in line)
    argv = recipe.split()[1:]
    argv = [str(tmp_path / "d") if a == "demo-data" else a for a in argv]
    rc = main(["-q", *argv, "--months", "1", "--studies-per-day", "1"])
    assert rc == 0
    assert "CT audit" in capsys.readouterr().out
