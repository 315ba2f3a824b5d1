"""Protocol-change detection: the injected change of the synthetic department, and nothing else."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from dmslab.analysis.changes import ChangeConfig, detect_changes, detect_series, exam_series
from dmslab.store import Store


@pytest.fixture
def store(filled) -> Store:
    return filled[0]


def test_injected_change_is_found_and_nothing_else(store, department):
    _out, truth = department
    pc = truth.injected.protocol_change
    series = sorted((s for s in truth.studies if s.station_name == pc.station_name and s.protocol == pc.protocol),
                    key=lambda s: s.study_datetime)
    true_index = next(i for i, s in enumerate(series) if s.study_datetime[:10] >= pc.date)
    exams = exam_series(store, modality="CT")
    assert len(exams) == sum(s.modality == "CT" for s in truth.studies)
    found = detect_changes(exams)
    hit = found[(found["room"] == pc.station_name) & (found["protocol"] == pc.protocol)
                & (found["metric"] == "ctdivol_mgy")]
    assert len(hit) == 1
    row = hit.iloc[0]
    assert abs(row["change_exam"] - true_index) <= 2  # dated within 2 exams
    assert row["alarm_exam"] - true_index <= 10  # seen within 10 exams
    assert row["ci_low"] <= pc.factor - 1 <= row["ci_high"] and row["p_value"] < 1e-4
    assert row["n_exams"] == len(series)
    assert abs(row["change_datetime"] - dt.datetime.fromisoformat(series[true_index].study_datetime)) < dt.timedelta(
        days=7)
    # no change in any unchanged room x protocol series (CT and projection modalities)
    others = found[(found["room"] != pc.station_name) | (found["protocol"] != pc.protocol)]
    assert others.empty, others
    for modality in ("DX", "MG", "RF"):
        assert detect_changes(exam_series(store, modality=modality)).empty


def test_exam_series_filters(store, department):
    _out, truth = department
    ct2 = exam_series(store, rooms=["CT2"], start="2026-01-12", end="2026-01-19")
    expected = [s for s in truth.studies if s.station_name == "CT2" and "2026-01-12" <= s.study_datetime < "2026-01-19"]
    assert len(ct2) == len(expected) > 0 and set(ct2["room"]) == {"CT2"}
    with pytest.raises(ValueError, match="protocol_field must be"):
        exam_series(store, protocol_field="patient_id")


@pytest.mark.parametrize(("gsd", "factor"), [(1.1, 0.8), (1.1, 1.2), (1.3, 0.7), (1.3, 1.4)])
def test_step_in_lognormal_series(gsd, factor):
    rng = np.random.default_rng(7)
    x = np.exp(rng.normal(0.0, np.log(gsd), 300)) * np.r_[np.ones(150), np.full(150, factor)]
    cps = detect_series(x)
    assert len(cps) == 1
    cp = cps[0]
    assert abs(cp.index - 150) <= 10 and 150 <= cp.alarm <= 200
    assert cp.ci_low <= factor - 1 <= cp.ci_high
    assert np.sign(cp.rel_shift) == np.sign(factor - 1)


@pytest.mark.parametrize("gsd", [1.1, 1.3])
def test_false_alarms_within_budget_on_unchanged_series(gsd):
    """20 room-years of 1 500 exams of one metric: at most 0.5 false alarm per room-year (budget: 1)."""
    rng = np.random.default_rng(11)
    n_false = sum(len(detect_series(np.exp(rng.normal(2.0, np.log(gsd), 1500)))) for _ in range(20))
    assert n_false <= 10


def test_categorical_technique_change():
    rng = np.random.default_rng(3)
    pitch = np.r_[rng.choice([0.8, 1.0], 60), np.full(40, 1.2)]  # two pitches in use, then a new one
    cps = detect_series(pitch, "categorical")
    assert [(c.index, c.after) for c in cps] == [(60, "1.2")]
    assert detect_series(rng.choice([100.0, 120.0], 400, p=[0.3, 0.7]), "categorical") == []


def test_validation():
    with pytest.raises(ValueError, match="finite and > 0"):
        detect_series([1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="kind must be"):
        detect_series([1.0], "ordinal")
    with pytest.raises(ValueError, match="h > 0"):
        ChangeConfig(h=0)
