"""Pipeline files and the periods they report on."""

import datetime as dt
from pathlib import Path

import pytest

from dmslab.errors import ConfigError
from dmslab.reporting import Period, Pipeline, Schedule, load_pipelines
from dmslab.reporting.report import notebook_parameters

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("schedule", "as_of", "label", "start", "end"), [
    ("daily", "2026-03-02", "2026-03-01", "2026-03-01", "2026-03-02"),
    ("daily", "2026-01-01", "2025-12-31", "2025-12-31", "2026-01-01"),
    ("weekly", "2026-03-04", "2026-W09", "2026-02-23", "2026-03-02"),  # Wednesday: the ISO week before
    ("weekly", "2026-03-02", "2026-W09", "2026-02-23", "2026-03-02"),  # Monday: the week that just ended
    ("weekly", "2026-01-01", "2025-W52", "2025-12-22", "2025-12-29"),  # 2026-W01 starts on 2025-12-29
    ("monthly", "2026-03-31", "2026-02", "2026-02-01", "2026-03-01"),
    ("monthly", "2026-01-15", "2025-12", "2025-12-01", "2026-01-01"),
])
def test_due_period_is_the_last_complete_one(schedule, as_of, label, start, end):
    p = Period.due(schedule, dt.date.fromisoformat(as_of))
    assert (p.label, p.start.isoformat(), p.end.isoformat()) == (label, start, end)
    assert Period.parse(label) == p


@pytest.mark.parametrize("label", ["2026-13", "2026-W54", "March", "2026-02-30"])
def test_invalid_period_labels_are_refused(label):
    with pytest.raises(ConfigError, match="invalid period"):
        Period.parse(label)


def test_shipped_pipelines_are_valid_and_point_at_the_notebooks():
    pipelines = {p.name: p for p in load_pipelines(ROOT / "pipelines")}
    assert set(pipelines) >= {"drl_audit", "department_overview", "high_dose_review", "protocol_changes"}
    assert pipelines["drl_audit"].schedule is Schedule.MONTHLY
    assert pipelines["high_dose_review"].schedule is Schedule.DAILY
    for p in pipelines.values():
        assert p.notebook.parent == ROOT / "notebooks"
        declared = notebook_parameters(p.notebook)
        # the DRL set where the notebook takes one (high_dose_review's rules and protocol_changes have none)
        assert p.recipients and (p.parameters["drl_set"] == "UK" if "drl_set" in declared else True)
        # a parameter the notebook does not declare would be injected and ignored: every one is declared
        assert set(p.parameters) <= set(declared), (p.name, set(p.parameters) - set(declared))
    assert {p.name for p in pipelines.values() if "drl_set" in p.parameters} >= {"drl_audit", "department_overview"}


@pytest.mark.parametrize(("text", "message"), [
    ("notebook: a.ipynb\nschedule: hourly\n", "schedule 'hourly' not in"),
    ("notebook: a.ipynb\n", r"missing key\(s\) \['schedule'\]"),
    ("notebook: a.ipynb\nschedule: daily\ncolour: red\n", r"unknown key\(s\) \['colour'\]"),
    ("notebook: a.ipynb\nschedule: daily\nparameters: {database_url: x}\n", "set by the runner"),
    ("notebook: a.ipynb\nschedule: daily\nrecipients: [not-an-address]\n", "invalid e-mail"),
    ("notebook: a.ipynb\nschedule: daily\nenabled: maybe\n", "enabled must be true or false"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_bad_pipeline_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "p.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Pipeline.from_yaml(path)


def test_notebook_resolves_against_the_pipeline_file(tmp_path):
    (tmp_path / "pipes").mkdir()
    path = tmp_path / "pipes" / "weekly_ct.yml"
    path.write_text("notebook: ../nb/x.ipynb\nschedule: weekly\nrecipients: mpe@h.example\n")
    p = Pipeline.from_yaml(path)
    assert (p.name, p.notebook, p.recipients, p.title) == ("weekly_ct", tmp_path / "nb" / "x.ipynb",
                                                           ("mpe@h.example",), "weekly ct")


def test_duplicate_names_are_refused(tmp_path):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.yml").write_text("name: same\nnotebook: x.ipynb\nschedule: daily\n")
    with pytest.raises(ConfigError, match="used twice"):
        load_pipelines(tmp_path)
