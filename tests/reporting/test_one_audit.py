"""One DRL audit: ``dmslab audit`` and the DRL audit report show the same table, value by value; the DRL row is
chosen by examination, modality, patient group and current status (issue 12 item 3)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from dmslab.analysis import drl
from dmslab.cli import main

from .test_runner import audit_rows, runs_of
from .test_runner import number as report_number


def cli_table(out: str) -> list[dict[str, str]]:
    """The rows ``dmslab audit`` printed (cells are separated by two or more spaces)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("room  standard_name"))
    cols = re.split(r"\s{2,}", lines[head].strip())
    return [dict(zip(cols, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines[head + 1:] if line]


def number(text: str) -> float:
    return math.nan if text in ("-", "NaN", "nan") else float(text)


def test_cli_and_report_show_the_same_audit(filled_sqlite, tmp_path, capsys):
    from dmslab.reporting import write_drl_report

    settings, _truth = filled_sqlite
    report = write_drl_report(settings, tmp_path / "reports")  # the CT DRL audit report of `make demo`
    (run,) = runs_of(settings)
    capsys.readouterr()
    assert main(["-q", "--home", str(settings.home), "--database-url", settings.database_url, "audit",
                 "--modality", "CT", "--period-start", f"{run.period_start:%Y-%m-%d}",
                 "--period-end", f"{run.period_end:%Y-%m-%d}"]) == 0
    out = capsys.readouterr().out
    cli, rep = cli_table(out), audit_rows(report.read_text())
    rep = sorted(rep, key=lambda r: (r["room"], r["standard_name"], r["metric"]))  # the CLI's order
    assert len(cli) == len(rep) >= 20
    for c, r in zip(cli, rep, strict=True):
        assert [c[k] for k in ("room", "standard_name", "metric", "status")] == \
            [r[k] for k in ("room", "standard_name", "metric", "status")]
        assert (int(c["n"]), int(c["n_above"])) == (int(r["n"]), int(r["n_above"]))
        for k in ("median", "mean", "drl", "ratio"):  # the CLI prints 4 significant digits, the report 3
            assert number(c[k]) == pytest.approx(report_number(r[k]), rel=5e-3, nan_ok=True), (c, k)
        assert (int(c["n"]) < drl.MIN_N and r["drl"] != "–") == (r["status"] == "too few")
    statuses = {r["status"] for r in rep}
    assert {"too few", "at or below DRL"} <= statuses  # small groups are not judged, in both
    assert f"a median needs at least {drl.MIN_N} values" in out
    assert f"period: {run.period_start:%Y-%m-%d} to {run.period_end:%Y-%m-%d} (exclusive)" in out


def _with_decoys(real: pd.DataFrame) -> pd.DataFrame:
    """The UK table plus rows that must not be chosen for adult CT heads: a superseded adult row of a newer
    year, a paediatric row and a DX row of the same examination."""
    head = real[(real["examination"] == "Head") & (real["quantity"] == "DLP")].iloc[0]
    decoys = pd.DataFrame([
        {**head, "value": 999.0, "value_canonical": 999.0, "year": 2030, "status": "superseded (2031)",
         "current": False},
        {**head, "value": 300.0, "value_canonical": 300.0, "patient_group": "paediatric age 1-5 years",
         "age_min": 1.0, "age_max": 5.0},
        {**head, "modality": "DX/CR (projection radiography)", "quantity": "KAP per image", "metric": "dap_gym2",
         "value": 1.0, "value_canonical": 1e-4, "unit": "Gy.cm2", "year": 2030},
    ])
    return pd.concat([real, decoys], ignore_index=True)


def test_the_drl_row_is_chosen_by_exam_modality_group_and_status(filled_sqlite, monkeypatch, capsys):
    settings, _truth = filled_sqlite
    table = _with_decoys(drl.load_drls("UK"))
    monkeypatch.setattr(drl, "load_drls", lambda country="UK": table)
    refs = drl.drl_references("UK").set_index(["standard_name", "metric"])["drl"]
    assert refs["CT Head wo IV Contrast", "dlp_mgycm"] == 790  # not the superseded 999 nor the paediatric 300
    assert ("CT Head wo IV Contrast", "dap_gym2") not in refs.index  # a DX row never applies to a CT name
    child = drl.drl_references("UK", patient_group="paediatric age 1-5 years").set_index(["standard_name", "metric"])
    assert child["drl"].to_dict() == {("CT Head wo IV Contrast", "dlp_mgycm"): 300.0}
    old = drl.drl_references("UK", include_superseded=True).set_index(["standard_name", "metric"])["drl"]
    assert old["CT Head wo IV Contrast", "dlp_mgycm"] == 999  # only the status kept it out

    capsys.readouterr()
    assert main(["-q", "--database-url", settings.database_url, "audit", "--modality", "CT"]) == 0
    rows = cli_table(capsys.readouterr().out)
    head = [r for r in rows if r["standard_name"] == "CT Head wo IV Contrast" and r["metric"] == "dlp_mgycm"]
    assert head and all(r["drl"] == "790" for r in head)
    assert not [r for r in rows if r["metric"] == "dap_gym2"]
    capsys.readouterr()
    assert main(["-q", "--database-url", settings.database_url, "audit", "--modality", "CT",
                 "--patient-group", "paediatric age 1-5 years"]) == 0
    out = capsys.readouterr().out  # the synthetic department has adults only: no paediatric medians
    assert "patients: paediatric age 1-5 years" in out and "(no studies match these filters)" in out


@pytest.mark.parametrize(("command", "shows"), [
    (["audit"], "DRL audit (UK)"),
    (["drl", "audit"], "DRL audit (UK)"),
    (["drl", "derive"], "local_drl"),
    (["names", "unmapped"], "standard name"),
])
def test_reading_commands_open_the_store_read_only_and_leave_the_file_as_it_was(filled_sqlite, capsys, command,
                                                                                shows):
    import hashlib

    settings, _truth = filled_sqlite
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["-q", "--database-url", settings.database_url, *command]) == 0
    assert shows in capsys.readouterr().out
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_audit_takes_the_notebooks_filters(filled_sqlite, capsys):
    settings, _truth = filled_sqlite
    capsys.readouterr()
    assert main(["-q", "--database-url", settings.database_url, "audit", "--modality", "CT", "--room", "CT1",
                 "--period-start", "2026-01-10", "--period-end", "2026-01-20", "--min-n", "4"]) == 0
    out = capsys.readouterr().out
    assert "CT, CT1" in out and "period: 2026-01-10 to 2026-01-20 (exclusive)" in out and "at least 4 values" in out
    rows = cli_table(out)
    from dmslab.store import Store

    store = Store(settings.database_url, read_only=True)
    study, eq = store.table("study"), store.table("equipment")
    store.close()
    df = study.merge(eq[["id", "room", "station_name"]].rename(columns={"id": "equipment_id"}), on="equipment_id")
    when = pd.to_datetime(df["study_datetime"])
    mine = df[(df["modality"] == "CT") & (df["room"].fillna(df["station_name"]) == "CT1")
              & (when >= pd.Timestamp("2026-01-10")) & (when < pd.Timestamp("2026-01-20"))
              & df["exclusion_reason"].isna() & df["total_dlp_mgycm"].notna()]
    expected = mine.groupby("standard_name").size().to_dict()
    dlp = {r["standard_name"]: int(r["n"]) for r in rows if r["metric"] == "dlp_mgycm"}
    assert dlp == expected and len(mine) < len(df[df["modality"] == "CT"])
    assert {r["room"] for r in rows} == {"CT1"}
    for r in rows:
        assert (r["status"] == "too few") == (int(r["n"]) < 4 and r["drl"] != "-")


def test_audit_refuses_a_bad_date(filled_sqlite, capsys):
    settings, _truth = filled_sqlite
    with pytest.raises(SystemExit) as exc:
        main(["-q", "--database-url", settings.database_url, "audit", "--period-start", "2026-02-30"])
    assert exc.value.code == 2 and "'2026-02-30' is not an ISO date" in capsys.readouterr().err
