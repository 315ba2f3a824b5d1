"""Alerts on the real vendor corpus: every file ingested, the default rules run without a crash, and the
alerts raised are the ones the expected values of the corpus (../shared/corpus/expected.json) call for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from dmslab.analysis._alert_rules import AlertConfig, AlertRule, default_alert_config
from dmslab.analysis.alerts import evaluate_rules, list_alerts, run_alerts, study_metrics
from dmslab.config import load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store

pytestmark = pytest.mark.requires_corpus

#: UKHSA adult CT NDRL (from 20 November 2024), "Chest, abdomen, pelvis", DLP per examination.
UK_DLP_CHEST_ABDOMEN_PELVIS = 660.0


@pytest.fixture(scope="module")
def corpus_store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    home = tmp_path_factory.mktemp("corpus_home")
    create_key(home / "pseudonym.key").write_text(bytes(range(32)).hex() + "\n")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)
    st = Store(settings.database_url)
    ingest_paths([corpus / "openrem"], settings, store=st)
    yield st
    st.close()


def _study_uid(corpus: Path, name: str) -> str:
    return str(pydicom.dcmread(corpus / "openrem" / name, stop_before_pixels=True).StudyInstanceUID)


def _study_value(expected: dict, name: str, quantity: str) -> float:
    return next(float(v["value"]) for v in expected["files"][name]["values"]
                if v["scope"] == "study" and v["quantity"] == quantity)


def test_alerts_run_on_the_whole_corpus(corpus, corpus_store):
    expected = json.loads((corpus / "expected.json").read_text())
    run = run_alerts(corpus_store, default_alert_config(), smtp=None)
    stored = list_alerts(corpus_store)
    assert len(stored) == len(run.new) > 0
    assert stored["study_id"].notna().all() and stored["alert_key"].notna().all()
    got = {(r.rule_id, r.study_uid): r for r in run.new.itertuples()}

    # fluoroscopy: air kerma at the reference point above 3 and 5 Gy, KAP above 500 Gy.cm2 (0.05 Gy.m2),
    # decided from the corpus's own summed event values, not from dmslab
    rf_expected = set()
    for name in expected["files"]:
        if not name.startswith(("RF-", "Dual-RDSR-RF")):
            continue
        rp = _study_value(expected, name, "sum_of_event_dose_rp")
        dap = _study_value(expected, name, "sum_of_event_dose_area_product")
        uid = _study_uid(corpus, name)
        rf_expected |= {(rule, uid) for rule, over in (("rf-kar-3gy", rp > 3), ("rf-kar-5gy", rp > 5),
                                                        ("rf-kap-500gycm2", dap > 0.05)) if over}
    assert {k for k in got if k[0].startswith("rf-")} == rf_expected
    assert rf_expected  # the corpus has one such case: RF-Pat-Orientation-Modifier-Missing.dcm

    kar = got[("rf-kar-3gy", _study_uid(corpus, "RF-Pat-Orientation-Modifier-Missing.dcm"))]
    rp = _study_value(expected, "RF-Pat-Orientation-Modifier-Missing.dcm", "sum_of_event_dose_rp")
    assert kar.value == pytest.approx(rp, rel=1e-6)
    first = kar.explanation.splitlines()[0]
    assert first.startswith(f"total_rp_dose_gy = {rp:.4g} Gy > level 3 Gy ({rp / 3:.2f} x)")

    # the Philips CT dose screen (header-only secondary capture), "CT Thorax & abdo & pelvis with contrast", is
    # above the UK chest-abdomen-pelvis DLP: its standard name is set at ingest, so it is no longer compared with
    # the abdomen-pelvis DRL (530 mGy.cm, "2.08 x": the mistake issue 12 reports)
    philips = "CT-SC-Philips_Brilliance16P.dcm"
    dlp = got[("ct-dlp-drl", _study_uid(corpus, philips))]
    want = next(float(v["value"]) for v in expected["files"][philips]["values"] if v["quantity"] == "study_total_dlp")
    assert dlp.value == pytest.approx(want, rel=1e-6)
    assert dlp.standard_name == "CT Chest Abdomen Pelvis"
    assert dlp.level == UK_DLP_CHEST_ABDOMEN_PELVIS
    assert f"({want / UK_DLP_CHEST_ABDOMEN_PELVIS:.2f} x)" in dlp.explanation.splitlines()[0]
    assert "patient size not recorded" in dlp.explanation or "kg" in dlp.explanation


def test_a_rule_that_matches_no_study_raises_nothing(corpus_store):
    """A scope with studies but none over the level gave one NaN row per study (then an IndexError)."""
    studies = study_metrics(corpus_store, ["RF"])
    assert len(studies) > 1
    rule = AlertRule("rf-kap-huge", "absolute", "RF", "total_dap_gym2", 1e6)
    out = evaluate_rules(AlertConfig((rule,), {}), studies)
    assert out.empty
    assert isinstance(out, pd.DataFrame)
