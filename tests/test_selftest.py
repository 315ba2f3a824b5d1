"""The acceptance self-test against the synthetic department's ground truth (written without the parser)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from dmslab.config import Settings, load_settings
from dmslab.pseudonym import create_key
from dmslab.selftest import SelftestResult, read_expected, run_selftest, write_expected_template
from dmslab.synth import GroundTruth

#: (record field, ground-truth attribute) per scope kind
STUDY_FIELDS = [("total_dlp_mgycm", "total_dlp_mgycm"), ("total_dap_gym2", "total_dap_gym2"),
                ("total_rp_dose_gy", "total_rp_dose_gy"), ("fluoro_time_s", "fluoro_time_s"),
                ("agd_left_mgy", "agd_left_mgy"), ("agd_right_mgy", "agd_right_mgy"),
                ("modality", "modality"), ("study_description", "protocol"), ("study_datetime", "study_datetime")]
CT_FIELDS = [("ctdivol_mgy", "ctdivol_mgy"), ("dlp_mgycm", "dlp_mgycm"), ("kvp", "kvp"),
             ("acquisition_protocol", "acquisition_protocol")]
PROJ_FIELDS = [("dap_gym2", "dap_gym2"), ("rp_dose_gy", "rp_dose_gy"), ("agd_mgy", "agd_mgy"), ("kvp", "kvp")]


def _rows(truth: GroundTruth, n_studies: int | None = None) -> list[dict[str, Any]]:
    """Expected values straight from the generator's ground truth, for the final report of each study."""
    rows = []
    for study in truth.studies[:n_studies]:
        file = study.files[-1]
        for field, attr in STUDY_FIELDS:
            if getattr(study, attr) is not None:
                rows.append({"file": file, "scope": "study", "field": field, "value": getattr(study, attr)})
        for i, ev in enumerate(study.events):
            for field, attr in CT_FIELDS if study.modality == "CT" else PROJ_FIELDS:
                if getattr(ev, attr) is not None:
                    rows.append({"file": file, "scope": f"event[{i}]", "field": field, "value": getattr(ev, attr)})
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "scope", "field", "value", "tolerance"])
        w.writeheader()
        for r in rows:
            w.writerow({"tolerance": "", **r, "value": repr(r["value"]) if isinstance(r["value"], float)
                        else r["value"]})
    return path


@pytest.fixture
def site_settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    create_key(home / "pseudonym.key")
    return load_settings(home=str(home), database_url=f"sqlite:///{tmp_path / 'unused.sqlite'}", workers=1)


def test_ground_truth_passes_everywhere(department: tuple[Path, GroundTruth], tmp_path: Path,
                                       site_settings: Settings) -> None:
    root, truth = department
    rows = _rows(truth)
    result = run_selftest(root, _write_csv(tmp_path / "expected.csv", rows), settings=site_settings)
    assert isinstance(result, SelftestResult)
    assert result.passed, "\n".join(result.lines())
    assert result.totals == {"pass": len(rows), "fail": 0, "missing": 0, "rejected": 0}
    assert result.files == len(truth.studies) and len(rows) > 1000
    assert list(result.table.columns) == ["file", "scope", "field", "expected", "got", "status", "reason"]
    assert result.lines()[0].startswith("selftest PASSED")
    assert "PASSED" in result._repr_html_()


@pytest.fixture
def small_site(department: tuple[Path, GroundTruth], tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A copy of the first 12 studies' final reports with their expected values (the copy may be damaged)."""
    root, truth = department
    rows = _rows(truth, 12)
    site = tmp_path / "site"
    for file in {r["file"] for r in rows}:
        (site / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / file, site / file)
    return site, rows


def test_a_wrong_value_and_a_damaged_file_fail_and_nothing_else(small_site: tuple[Path, list[dict[str, Any]]],
                                                                tmp_path: Path) -> None:
    site, rows = small_site
    numeric = [i for i, r in enumerate(rows) if r["scope"].startswith("event") and isinstance(r["value"], float)]
    wrong = rows[numeric[3]]
    wrong["value"] = wrong["value"] * 1.05
    damaged = next(r["file"] for r in rows if r["file"] != wrong["file"])
    data = (site / damaged).read_bytes()
    (site / damaged).write_bytes(data[: len(data) * 2 // 3])

    result = run_selftest(site, _write_csv(tmp_path / "expected.csv", rows))  # no settings: throwaway key
    table = result.table
    fail = table[table.status == "fail"]
    assert fail[["file", "scope", "field"]].values.tolist() == [[wrong["file"], wrong["scope"], wrong["field"]]]
    assert fail.iloc[0]["reason"].startswith("outside relative tolerance")
    rejected = table[table.status == "rejected"]
    assert set(rejected.file) == {damaged} and len(rejected) == sum(r["file"] == damaged for r in rows)
    assert rejected.reason.str.startswith("corrupt:").all()
    assert result.totals["pass"] == len(rows) - 1 - len(rejected) and result.totals["missing"] == 0
    assert not result.passed
    text = "\n".join(result.lines())
    assert text.startswith("selftest FAILED") and wrong["field"] in text and "rejected" in text
    assert "<table" in result._repr_html_()


def test_tolerance_absence_and_missing_scopes(small_site: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    site, rows = small_site
    first = next(r for r in rows if r["field"] in ("ctdivol_mgy", "dap_gym2"))
    extra = [
        {**first, "value": first["value"] * 1.004, "tolerance": "0.01"},  # within 1 %
        {**first, "scope": "event[999]"},  # no such event
        {"file": first["file"], "scope": "plane[0]", "field": "dap_total_gym2", "value": "1.0"},
        {"file": "nowhere/missing.dcm", "scope": "study", "field": "modality", "value": "CT"},
        {"file": first["file"], "scope": "study", "field": "weight_kg", "value": ""},  # expect nothing...
    ]
    result = run_selftest(site, _write_csv(tmp_path / "expected.csv", extra))
    assert result.table.status.tolist()[:4] == ["pass", "missing", "missing", "missing"]
    assert "file not found" in result.table.reason[3]
    assert result.table.status[4] in ("pass", "fail")  # ...and the synthetic files carry a weight: fail
    assert result.table.status[4] == "fail" and result.table.reason[4] == "expected no value"


def test_json_expected_values_are_read_like_csv(small_site: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    site, rows = small_site
    (tmp_path / "expected.json").write_text(json.dumps({"values": rows}), encoding="utf-8")
    result = run_selftest(site, tmp_path / "expected.json")
    assert result.passed, "\n".join(result.lines())
    assert len(result.table) == len(rows)


@pytest.mark.parametrize(("scope", "field", "message"), [
    ("events[0]", "dap_gym2", "scope"),
    ("event[0]", "dap_mgy", "not a event field"),
    ("study", "ctdivol_mgy", "not a study field"),
])
def test_malformed_expected_values_are_refused_with_what_is_allowed(tmp_path: Path, scope: str, field: str,
                                                                    message: str) -> None:
    path = _write_csv(tmp_path / "bad.csv", [{"file": "a.dcm", "scope": scope, "field": field, "value": "1"}])
    with pytest.raises(ValueError, match=message):
        read_expected(path)


def test_template_lists_what_dmslab_reads_and_round_trips(small_site: tuple[Path, list[dict[str, Any]]],
                                                         tmp_path: Path) -> None:
    site, rows = small_site
    (site / "notes.txt").write_text("not a dose object")
    (site / "junk.dcm").write_bytes(b"\0" * 300)
    df = write_expected_template(site, tmp_path / "template.csv")
    assert set(df.file) == {r["file"] for r in rows}
    assert df.attrs["rejected"] == ["junk.dcm (not_dicom)"]
    ours = {(r["file"], r["scope"], r["field"]) for r in rows if r["field"] in ("ctdivol_mgy", "dap_gym2")}
    assert ours <= set(map(tuple, df[["file", "scope", "field"]].values.tolist()))
    result = run_selftest(site, tmp_path / "template.csv")
    assert result.passed and len(result.table) == len(df)


def test_selftest_command_line(department, tmp_path, capsys):
    from dmslab.cli import main

    root, _truth = department
    expected = tmp_path / "expected.csv"
    assert main(["-q", "--home", str(tmp_path / "h"), "selftest", str(root / "CT1"), "--expected", str(expected),
                 "--write-template"]) == 0
    assert expected.exists()
    rc = main(["-q", "--home", str(tmp_path / "h"), "selftest", str(root / "CT1"), "--expected", str(expected)])
    out = capsys.readouterr().out
    assert rc == 0 and "selftest PASSED" in out and " 0 fail, 0 missing, 0 rejected" in out
    lines = expected.read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if ",total_dlp_mgycm," in line)
    row = lines[i].split(",")
    row[3] = str(float(row[3]) * 1.05)  # 5 % off: must fail at the default tolerance
    lines[i] = ",".join(row)
    expected.write_text("\n".join(lines) + "\n")
    rc = main(["-q", "--home", str(tmp_path / "h"), "selftest", str(root / "CT1"), "--expected", str(expected)])
    assert rc == 1 and "1 fail" in capsys.readouterr().out
