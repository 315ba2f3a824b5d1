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
from dmslab.analysis.naming import apply_names, classify, seed_rules
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


#: Status = one keyword from this set, optionally followed by " (detail)".
ALLOWED_STATUS = {"verified", "current", "secondary", "superseded", "historical"}


@pytest.mark.parametrize("drl_set", sorted(DRL_SETS))
def test_every_shipped_row_has_provenance_and_an_allowed_status(drl_set):
    df = load_drls(drl_set)
    for col in ("source", "edition", "year", "status", "verification", "source_ref"):
        assert df[col].notna().all() and (df[col].astype(str).str.strip() != "").all(), (drl_set, col)
    assert df["year"].between(1990, 2030).all()
    keyword = df["status"].str.extract(r"^(\w+)(?: \(.+\))?$", expand=False)
    assert keyword.notna().all(), df.loc[keyword.isna(), "status"].tolist()
    assert set(keyword) <= ALLOWED_STATUS, set(keyword) - ALLOWED_STATUS
    # "verified" only with a locator of the primary number that was seen; unverified rows say what was searched
    verified = keyword == "verified"
    assert df.loc[verified, "verification"].str.startswith("verified: ").all()
    assert not df.loc[keyword == "secondary", "verification"].str.startswith("verified").any()
    assert not df.loc[verified, "source"].str.contains("drl_app").any()  # app copies are never "verified"


# Values checked against the primary text (stored copies of the publisher's page), one row per spot-check:
#  UK: gov.uk "National Diagnostic Reference Levels (NDRLs) from 20 November 2024", Table 1 Adult CT examinations.
#  DE 2022: BfS Bekanntmachung vom 17. November 2022 (BAnz AT 11.01.2023 B11), Tabelle 1 (umwelt-online.de copy).
#  DE 2010: BfS/RöV Bekanntmachung vom 22. Juni 2010 (BAnz Nr. 111 2010), Tabellen 1-3 (umwelt-online.de copy).
@pytest.mark.parametrize(("drl_set", "examination", "quantity", "year", "value"), [
    ("UK", "Head", "CTDIvol", 2022, 47), ("UK", "Head", "DLP", 2022, 790),
    ("UK", "Chest", "CTDIvol", 2022, 8.5), ("UK", "CT Pulmonary Angiography (CTPA)", "CTDIvol", 2022, 9.1),
    ("UK", "Neck, chest, abdomen and pelvis", "DLP", 2022, 850), ("UK", "Kidneys, ureters, bladder", "DLP", 2022, 290),
    ("UK", "Urogram", "DLP", 2022, 890),
    ("DE", "Schulter (pro Ebene)", "KAP (DFP, dose-area product) per image", 2022, 25),
    ("DE", "Thorax p.a.", "KAP (DFP, dose-area product) per image", 2022, 12),
    ("DE", "Lendenwirbelsäule lat", "KAP (DFP, dose-area product) per image", 2022, 330),
    ("DE", "Becken a.p./p.a.", "KAP (DFP, dose-area product) per image", 2022, 230),
    ("DE", "Thorax pa", "KAP (DFP) per image", 2010, 16), ("DE", "PTCA", "KAP (DFP) per procedure", 2010, 6000),
    ("DE", "Hirnschädel", "CTDIvol", 2010, 65), ("DE", "Hirnschädel", "DLP", 2010, 950),
])
def test_verified_values_equal_the_primary_numbers(drl_set, examination, quantity, year, value):
    df = load_drls(drl_set)
    row = df[(df["examination"] == examination) & (df["quantity"] == quantity) & (df["year"] == year)]
    assert len(row) == 1
    assert row["value"].iloc[0] == value
    assert row["verification"].iloc[0].startswith("verified: ")


def test_unverified_copies_keep_secondary_status():
    for drl_set in ("EU", "US"):
        assert load_drls(drl_set)["status"].str.startswith("secondary (").all(), drl_set
    intl = load_drls("INT")
    assert intl.loc[intl["source"].str.startswith("Bos"), "status"].str.startswith("secondary (").all()
    assert load_drls("DE").query("year == 2010")["current"].eq(False).all()  # verified but superseded


def test_uk_ctca_maps_to_a_standard_name():
    uk = drl_references("UK").set_index(["standard_name", "metric"])
    # three technique-specific UK CTCA NDRLs (BSCI page: 170 / 280 / 380 mGy cm); the standard name carries no
    # gating technique, so the lowest (prospective, no padding) applies
    assert uk.loc[("CT Coronary Angiography", "dlp_mgycm"), "drl"] == 170
    assert sorted(load_drls("UK").query("examination.str.startswith('Coronary CT')")["value"]) == [170, 280, 380]
    rules = seed_rules()
    names = classify(_features(["CCTA prospective", "CT Coronary Angiogram", "Coronary calcium score"]), rules)
    assert list(names[:2]) == ["CT Coronary Angiography"] * 2
    assert names.iloc[2] != "CT Coronary Angiography"  # calcium scoring is not CTCA


def _features(descriptions):
    cols = ("requested_procedure", "procedure_code", "acquisition_protocols", "target_regions", "views", "phantoms")
    df = pd.DataFrame({"modality": "CT", "study_description": descriptions, **{c: "" for c in cols}})
    df["text"] = df["study_description"]
    return df


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
    # a factor on the DRL: strictly above factor x DRL, filtered in the database
    lowest = float(found["ratio"].min())
    higher = study_exceedances(store, drl_set="UK", metric="dlp_mgycm", factor=lowest)
    assert set(higher["study_uid"]) == set(found.loc[found["ratio"] > lowest, "study_uid"])
    dated = {s.study_uid: s.study_datetime for s in truth.studies}
    assert {u: f"{w:%Y-%m-%dT%H:%M}" for u, w in zip(found["study_uid"], pd.to_datetime(found["study_datetime"]),
                                                      strict=True)} == {u: dated[u][:16] for u in injected}
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
