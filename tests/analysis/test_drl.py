"""DRLs: shipped tables, patient groups, audit medians and exceedances against the synthetic ground truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dmslab.analysis.drl import (
    DRL_SETS,
    GroupBounds,
    LocalDrl,
    derive_local_drls,
    drl_audit,
    drl_references,
    load_drls,
    patient_group_bounds,
    set_local_drl,
    study_exceedances,
)
from dmslab.analysis.naming import apply_names
from dmslab.analysis.stats import Filters
from dmslab.jobs import ingest_paths
from dmslab.store import Store

UK_NAMES = {"CT Head Routine": "CT Head wo IV Contrast", "CT Abdomen Pelvis": "CT Abdomen Pelvis",
            "CT Chest Abdomen Pelvis": "CT Chest Abdomen Pelvis", "CT KUB Stones": "CT KUB"}


@pytest.mark.parametrize(("label", "bounds"), [
    ("adult", GroupBounds(True)),
    ("adult (median-size patient)", GroupBounds(True)),
    ("paediatric age 0-3 months", GroupBounds(False, age=(0.0, 0.25))),
    ("paediatric age 1-5 years", GroupBounds(False, age=(1.0, 5.0))),
    ("paediatric age >6 years", GroupBounds(False, age=(6.0, 18.0))),
    ("paediatric weight 15-30 kg", GroupBounds(False, weight=(15.0, 30.0))),
    ("paediatric weight <5 kg", GroupBounds(False, weight=(0.0, 5.0))),
])
def test_patient_groups(label, bounds):
    assert patient_group_bounds(label) == bounds


def test_tables_have_provenance_and_canonical_units():
    for name in DRL_SETS:
        df = load_drls(name)
        assert df[["source", "edition", "year", "status"]].notna().all().all(), name
    de = load_drls("DE").set_index(["examination", "year"])
    assert de.loc[("Thorax p.a.", 2022), "value_canonical"] == pytest.approx(12e-6)  # 12 cGy·cm² in Gy·m²
    assert not bool(de.loc[("Thorax pa", 2010), "current"])
    secondary = load_drls("EU")
    assert secondary["status"].str.startswith("secondary").all()  # unverified copies keep their status
    uk = drl_references("UK").set_index(["standard_name", "metric"])["drl"]
    assert uk[("CT Head wo IV Contrast", "dlp_mgycm")] == 790 and uk[("CT KUB", "ctdivol_mgy")] == 6.3
    eu = drl_references("EU").set_index(["standard_name", "metric"])
    assert eu.loc[("CT KUB", "dlp_mgycm"), "clinical_indication"] == "Colic/abdominal pain"
    paed = drl_references("EU", patient_group="paediatric weight 5-15 kg").set_index(["standard_name", "metric"])
    assert paed.loc[("CT Chest", "dlp_mgycm"), "drl"] > 0


def _truth_frames(truth):
    studies = pd.DataFrame([{"study_uid": s.study_uid, "room": s.station_name, "protocol": s.protocol,
                             "dlp": s.total_dlp_mgycm, "age": s.patient_age_years} for s in truth.studies])
    return studies[studies["protocol"].isin(UK_NAMES)]


def test_audit_and_exceedances_match_ground_truth(settings, department):
    folder, truth = department
    store = Store(settings.database_url)
    ingest_paths([folder], settings, store=store)
    apply_names(store)
    # exactly the injected studies are above the per-exam DLP DRL
    found = study_exceedances(store, drl_set="UK", metric="dlp_mgycm")
    injected = {e.study_uid: e for e in truth.injected.drl_exceedances}
    assert set(found["study_uid"]) == set(injected) and len(injected) >= 3
    for uid, value, drl in zip(found["study_uid"], found["value"], found["drl"], strict=True):
        assert value == pytest.approx(injected[uid].value) and drl == injected[uid].drl
    # medians per room x standard name against pandas over the ground truth (adults only)
    ref = _truth_frames(truth)
    ref = ref[ref["age"] >= 18].assign(standard_name=lambda d: d["protocol"].map(UK_NAMES))
    med = ref.groupby(["room", "standard_name"])["dlp"].agg(["size", "median"])
    audit = drl_audit(store, drl_set="UK", min_n=10, metrics=("dlp_mgycm",))
    audit = audit.set_index(["room", "standard_name"])
    for key, row in med.iterrows():
        assert audit.loc[key, "n"] == row["size"]
        assert audit.loc[key, "median"] == pytest.approx(row["median"])
        assert audit.loc[key, "status"] == ("too few" if row["size"] < 10 else "at or below DRL")
    # local DRL = 75th percentile of room medians (ICRP 135)
    local = derive_local_drls(store, min_n=1).set_index(["standard_name", "metric"])
    for name, g in med.groupby("standard_name"):
        assert local.loc[(name, "dlp_mgycm"), "local_drl"] == pytest.approx(np.percentile(g["median"], 75))
    # a site level below the typical value turns the audit to "above DRL"
    set_local_drl(store, LocalDrl("CT Head wo IV Contrast", "dlp_mgycm", 100.0, dt.datetime(2020, 1, 1),
                                  entered_by="MPE"))
    loc = drl_audit(store, drl_set="local", min_n=1, filters=Filters(modality="CT"))
    head = loc[(loc["standard_name"] == "CT Head wo IV Contrast") & (loc["metric"] == "dlp_mgycm")]
    assert set(head["status"]) == {"above DRL"} and set(head["drl"]) == {100.0}
    assert loc[loc["standard_name"] != "CT Head wo IV Contrast"]["status"].eq("no DRL").all()
    store.close()


def test_local_drl_is_validated():
    with pytest.raises(ValueError, match="metric"):
        LocalDrl("CT Head", "dlp", 1.0, dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="> 0"):
        LocalDrl("CT Head", "dlp_mgycm", 0.0, dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="patient group"):
        LocalDrl("CT Head", "dlp_mgycm", 5.0, dt.datetime(2026, 1, 1), patient_group="kids")
