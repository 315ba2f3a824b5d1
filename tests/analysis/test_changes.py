"""Protocol-change detection: the injected change of the synthetic department, and nothing else."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dmslab.analysis._size import SizeConfig, size_adjust
from dmslab.analysis.changes import ChangeConfig, detect_changes, detect_series, exam_series, size_adjustments
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
    # the synthetic department's dose does not depend on weight: no series is size-adjusted, and it says so
    assert row["size_adjustment"].startswith("not size-adjusted: ")
    adj = size_adjustments(exams)
    assert len(adj) == 4 * exams.groupby(["room", "protocol"]).ngroups and adj["covariate"].isna().all()
    by_uid = {s.study_uid: s.patient_weight_kg for s in truth.studies}
    uids = store.read(f"SELECT id, study_uid FROM study WHERE id IN ({','.join(map(str, exams['study_id']))})")
    weight = exams.merge(uids, left_on="study_id", right_on="id")
    assert np.allclose(weight["weight_kg"], weight["study_uid"].map(by_uid))
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
    """20 room-years of 1 500 exams of one metric: at most 0.8 false alarm per room-year (budget: 1)."""
    rng = np.random.default_rng(11)
    n_false = sum(len(detect_series(np.exp(rng.normal(2.0, np.log(gsd), 1500)))) for _ in range(20))
    assert n_false <= 16  # measured by bench/bench_changes.py: 0.28-0.6 per room-year and metric


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


def _tcm_series(n: int, rng: np.random.Generator, b: float = 0.8, gsd: float = 1.3) -> tuple[np.ndarray, pd.DataFrame]:
    """CTDIvol ∝ weight^b with total geometric SD ``gsd`` (as bench/bench_changes.py draws it)."""
    w = np.clip(np.where(rng.random(n) < 0.5, rng.normal(82, 14, n), rng.normal(70, 14, n)), 40, 160).round(1)
    sd_res = np.sqrt(np.log(gsd) ** 2 - (b * 0.2074) ** 2)  # 0.2074 = SD of ln(weight) of that mixture
    return 10 * (w / 75) ** b * np.exp(rng.normal(0, sd_res, n)), pd.DataFrame({"weight_kg": w})


def test_size_adjustment_recovers_the_exponent_and_the_residual_spread():
    rng = np.random.default_rng(21)
    x, sizes = _tcm_series(400, rng)
    adjusted, fit = size_adjust(x, sizes)
    assert fit.covariate == "weight_kg" and fit.n_fit == 100 and fit.n_unadjusted == 0
    assert fit.ci_low <= 0.8 <= fit.ci_high and fit.ci_high - fit.ci_low < 0.6
    assert fit.reference == pytest.approx(np.median(sizes["weight_kg"][:100]))
    # residual SD of ln CTDIvol: sqrt(ln(1.3)^2 - (0.8 x 0.207)^2) = 0.203, against 0.262 unadjusted
    assert np.std(np.log(adjusted)) == pytest.approx(0.203, abs=0.02)
    assert np.std(np.log(x)) == pytest.approx(0.262, abs=0.02)
    assert fit.note.startswith("size-adjusted to weight")
    # values at the reference weight are unchanged; a patient 2 x heavier is scaled by 2^-slope
    w = sizes["weight_kg"].to_numpy()
    assert adjusted[0] == pytest.approx(x[0] * (fit.reference / w[0]) ** fit.slope)


def test_size_adjustment_prefers_dw_and_falls_back_when_size_is_missing():
    rng = np.random.default_rng(22)
    x, sizes = _tcm_series(300, rng)
    dw = 28.0 * (sizes["weight_kg"] / 75) ** 0.5  # water-equivalent diameter (cm) of the same patients
    with_dw = sizes.assign(dw_cm=dw)
    adjusted, fit = size_adjust(x, with_dw)
    assert fit.covariate == "dw_cm" and fit.ci_low <= 1.6 <= fit.ci_high  # 0.8 per ln weight = 1.6 per ln Dw
    np.testing.assert_allclose(adjusted, size_adjust(x, sizes)[0], rtol=0.1)
    # weight missing after exam 150: those exams are charted unadjusted and counted
    part = sizes.assign(weight_kg=np.r_[sizes["weight_kg"][:150], np.full(150, np.nan)])
    adjusted, fit = size_adjust(x, part)
    assert fit.n_unadjusted == 150 and np.array_equal(adjusted[150:], x[150:]) and "150 exam(s) without weight" in \
        fit.note
    # weight missing in the start window, implausible weights, size-independent dose, too few exams: unadjusted
    for sizes_, n, why in [(sizes.assign(weight_kg=np.nan), 300, "patient size missing"),
                           (sizes.assign(weight_kg=0.8), 300, "patient size missing"),
                           (sizes.assign(weight_kg=rng.permutation(sizes["weight_kg"])), 300,
                            "weight does not explain the dose"),
                           (sizes, 20, "20 exams, the fit needs 30"),
                           (sizes.assign(weight_kg=70.0), 300, "only 1 different weight value(s)")]:
        adjusted, fit = size_adjust(x[:n], sizes_[:n])
        assert fit.covariate is None and why in fit.note and np.array_equal(adjusted, x[:n])
    with pytest.raises(ValueError, match="unknown size covariate"):
        SizeConfig(covariates=("bmi",))


def test_size_adjustment_finds_20_percent_steps_hidden_by_size_at_gsd_1_3():
    """At total GSD 1.3 with CTDIvol ∝ weight^0.8: all 20 steps of × 1.2 found within 50 exams when adjusted."""
    rng = np.random.default_rng(23)
    found = {False: 0, True: 0}
    for _ in range(20):
        x, sizes = _tcm_series(300, rng)
        x[150:] *= 1.2
        for adjusted in (False, True):
            cps = detect_series(size_adjust(x, sizes)[0] if adjusted else x)
            found[adjusted] += any(150 <= cp.alarm < 200 for cp in cps)
    assert found[True] == 20 and found[False] < 20, found
