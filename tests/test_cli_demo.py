"""The command line end to end: synth -> init -> ingest -> audit, and the audit's numbers."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from dmslab.analysis import ct_audit, map_ct_protocol
from dmslab.cli import main
from dmslab.jobs import ingest_paths
from dmslab.store import Store
from dmslab.synth import GroundTruth


def test_demo_command_prints_the_audit(tmp_path, capsys):
    rc = main(["-q", "--home", str(tmp_path / "demo"), "demo", "--months", "1", "--studies-per-day", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    truth = GroundTruth.from_json(tmp_path / "demo" / "synthetic-department" / "ground_truth.json")
    n = sum(len(s.sop_instance_uids) for s in truth.studies)
    assert "created pseudonymisation key" in out
    assert f"{n} Success, 0 failed, 0 unsent; inbox drained" in out
    assert f"{n} ingested, 0 duplicate, 0 rejected" in out
    assert f"check: the store holds exactly the {n} synthesised objects (by SOP Instance UID" in out
    assert "CT Head Routine" in out and "UKHSA" in out
    assert (tmp_path / "demo" / "dmslab.sqlite").exists()
    report = Path(out.split("DRL audit report: ")[1].split()[0])
    assert report.is_file() and "<table" in report.read_text()


def test_demo_fails_when_what_it_ingested_is_not_what_it_synthesised(tmp_path, capsys):
    home = tmp_path / "demo"
    dept = home / "synthetic-department"
    assert main(["-q", "synth", str(dept), "--months", "1", "--studies-per-day", "1"]) == 0
    gone = sorted(dept.rglob("*.dcm"))[3]
    gone.unlink()  # synthesised (in ground_truth.json) but never sent
    capsys.readouterr()
    rc = main(["-q", "--home", str(home), "demo"])
    out, err = capsys.readouterr()
    truth = GroundTruth.from_json(dept / "ground_truth.json")
    n = sum(len(s.sop_instance_uids) for s in truth.studies)
    assert rc == 1
    assert f"{n - 1} Success, 0 failed, 0 unsent" in out
    assert (f"check FAILED: {n} synthesised, {n - 1} ingested: 1 missing, 0 not synthesised, 0 ingested twice "
            f"(e.g. {gone.stem})") in out
    assert "not every synthesised object was stored and ingested exactly once" in err
    assert "CT audit" not in out


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
