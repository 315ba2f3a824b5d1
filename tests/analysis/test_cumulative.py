"""Cumulative dose per pseudonymised patient across modalities, against the synthetic department's ground truth
(DLP, Ka,r, KAP sums; effective dose = reference k-factors x DLP), in a window; and the cumulative
effective-dose alert rule (every modality, one method, said in the explanation)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pandas as pd
import pytest

from dmslab.analysis._alert_rules import AlertConfig, AlertRule
from dmslab.analysis.alerts import evaluate_rules, study_metrics
from dmslab.analysis.cumulative import COLUMNS, DEFAULT_E_METHOD, cumulative_dose
from dmslab.analysis.derive import derive_ct
from dmslab.errors import ConfigError
from dmslab.jobs import ingest_paths
from dmslab.store import Store

ADULT_K = {"head": 0.0021, "chest": 0.014, "abdomen_pelvis": 0.015, "chest_abdomen_pelvis": 0.015}


def _patients(truth, n=6):
    by_patient = defaultdict(list)
    for s in truth.studies:
        by_patient[s.patient_id].append(s)
    good = [v for v in by_patient.values() if len(v) > 1 and len({s.modality for s in v}) > 1
            and all(s.modality != "CT" or (s.patient_age_years >= 18 and {e.target_region for e in s.events}
                                           <= set(ADULT_K)) for s in v)]
    return good[:n]


def _expected(studies, start=None, end=None):
    inside = [s for s in studies if (start is None or dt.datetime.fromisoformat(s.study_datetime) >= start)
              and (end is None or dt.datetime.fromisoformat(s.study_datetime) < end)]
    total = lambda attr: sum(getattr(s, attr) or 0.0 for s in inside)  # noqa: E731
    e = sum(ADULT_K[ev.target_region] * ev.dlp_mgycm for s in inside if s.modality == "CT" for ev in s.events
            if ev.dlp_mgycm is not None)
    return len(inside), total("total_dlp_mgycm"), total("total_rp_dose_gy"), total("total_dap_gym2"), e


@pytest.fixture
def derived(department, settings):
    root, truth = department
    patients = _patients(truth)
    ingest_paths([root / f for p in patients for s in p for f in s.files], settings)
    store = Store(settings.database_url)
    derive_ct(store)
    yield store, patients
    store.close()


def test_sums_per_patient_match_the_ground_truth(derived, pseudo):
    store, patients = derived
    df = cumulative_dose(store, window_days=3650)
    assert list(df.columns) == list(COLUMNS) and len(df) == len(patients)
    df = df.set_index("patient_key")
    assert df["e_msv"].is_monotonic_decreasing  # highest first
    for p in patients:
        n, dlp, kar, kap, e = _expected(p)
        r = df.loc[pseudo(p[0].patient_id)]
        assert r["n_studies"] == n and r["modalities"] == ", ".join(sorted({s.modality for s in p}))
        assert r["dlp_mgycm"] == pytest.approx(dlp)
        assert r["kar_gy"] == pytest.approx(kar) if kar else pd.isna(r["kar_gy"])
        assert (r["kap_gym2"] if pd.notna(r["kap_gym2"]) else 0.0) == pytest.approx(kap)
        assert r["e_msv"] == pytest.approx(e, rel=1e-6)
        assert r["e_method"] == DEFAULT_E_METHOD and "reference-person" in r["e_note"]
        assert r["e_missing"] == 0 and "not a sum" in r["psd_note"]


def test_window_leaves_out_older_studies(derived):
    store, patients = derived
    dates = sorted(dt.datetime.fromisoformat(s.study_datetime) for p in patients for s in p)
    end = dates[len(dates) // 2] + dt.timedelta(seconds=1)
    df = cumulative_dose(store, window_days=7, end=end)
    expected = [_expected(p, end - dt.timedelta(days=7), end) for p in patients]
    assert int(df["n_studies"].sum()) == sum(x[0] for x in expected)
    assert df["dlp_mgycm"].sum() == pytest.approx(sum(x[1] for x in expected))
    assert df["e_msv"].sum() == pytest.approx(sum(x[4] for x in expected), rel=1e-6)
    with pytest.raises(ValueError, match="window_days"):
        cumulative_dose(store, window_days=0)


def test_cumulative_effective_dose_alert_over_every_modality(derived):
    store, _patients_ = derived
    per_patient = cumulative_dose(store, window_days=3650)
    level = float(per_patient["e_msv"].median())
    rule = AlertRule("e-cum", "cumulative", "ALL", "effective_dose_msv", level, weeks=520,
                     description="cumulative effective dose (test level)")
    alerts = evaluate_rules(AlertConfig((rule,)), study_metrics(store, ["ALL"]))
    over = per_patient[per_patient["e_msv"] > level]
    assert len(alerts) == len(over) > 0  # one alert per patient who crossed the level (then quiet)
    assert set(alerts["alert_key"].str.split("|").str[1]) == set(over["patient_key"])
    assert all("reference-person estimate" in x and DEFAULT_E_METHOD in x for x in alerts["explanation"])
    with pytest.raises(ConfigError, match="only for cumulative"):
        AlertRule("bad", "absolute", "ALL", "effective_dose_msv", 1.0)
