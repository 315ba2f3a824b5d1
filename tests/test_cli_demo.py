"""The command line end to end: synth -> init -> ingest -> audit, and the audit's numbers."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from dmslab.analysis import MIN_N, Filters, apply_names, drl_audit
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
    assert "CT Head wo IV Contrast" in out and "UKHSA" in out  # the audit, by standard name
    assert (tmp_path / "demo" / "dmslab.sqlite").exists()
    report = Path(out.split("DRL audit report: ")[1].split()[0])
    assert report.is_file() and "<table" in report.read_text()
    assert out.rstrip().splitlines()[-1].strip() == f"dmslab --home {tmp_path / 'demo'} dashboard"  # the last line


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
    assert "DRL audit" not in out


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
    """The audit ``dmslab audit`` prints (drl_audit): per room x standard name, medians of the ground truth."""
    root, truth = department
    ingest_paths([root], settings)
    apply_names(Store(settings.database_url))
    store = Store(settings.database_url, read_only=True)
    study = store.table("study")
    names = dict(zip(study["study_uid"], study["standard_name"], strict=True))
    audit = drl_audit(store, filters=Filters(modality="CT"))
    store.close()
    ct = [s for s in truth.studies if s.modality == "CT" and s.patient_age_years >= 18]
    assert len(audit) == 2 * len({(s.station_name, names[s.study_uid]) for s in ct})  # CTDIvol and DLP rows
    for row in audit.itertuples():
        studies = [s for s in ct if s.station_name == row.room and names[s.study_uid] == row.standard_name]
        ctdi = [e.ctdivol_mgy for s in studies for e in s.events
                if e.ctdivol_mgy is not None and e.acquisition_type != "Constant Angle Acquisition"]
        values = [s.total_dlp_mgycm for s in studies] if row.metric == "dlp_mgycm" else ctdi
        assert row.n == len(values)
        assert row.median == pytest.approx(statistics.median(values))
        assert row.status == ("no DRL" if np.isnan(row.drl) else "too few" if row.n < MIN_N else
                              "above DRL" if row.median > row.drl else "at or below DRL")
    drl = audit.set_index(["standard_name", "metric"])["drl"].groupby(level=[0, 1]).unique()
    assert drl["CT Head wo IV Contrast", "dlp_mgycm"] == [790] and drl["CT Head wo IV Contrast", "ctdivol_mgy"] == [47]
    # chest-abdomen-pelvis has its own UK DLP (660 mGy.cm, not abdomen-pelvis 530) and no CTDIvol DRL
    assert drl["CT Chest Abdomen Pelvis", "dlp_mgycm"] == [660]
    assert np.isnan(drl["CT Chest Abdomen Pelvis", "ctdivol_mgy"]).all()


def test_makefile_demo_recipe_parses(tmp_path, capsys, monkeypatch):
    """The exact `make demo` command line is accepted (small department, home moved to tmp)."""
    root = Path(__file__).resolve().parents[1]
    recipe = next(line.strip() for line in (root / "Makefile").read_text().splitlines()
                  if line.strip().startswith("$(BIN)/dmslab") and " demo" in line)
    argv = recipe.split()[1:]
    argv = [str(tmp_path / "d") if a == "demo-data" else a for a in argv]
    rc = main(["-q", *argv, "--months", "1", "--studies-per-day", "1"])
    assert rc == 0
    assert "DRL audit (UK)" in capsys.readouterr().out
