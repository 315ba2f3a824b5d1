"""``derive_ct`` / ``dmslab derive`` on the synthetic department (SQLite and PostgreSQL) and the vendor corpus:
every dose-bearing CT event gets an SSDE and an effective-dose record (a value, or none with the reason), values
match the reference k-factors, study totals are the sums, and a second run skips what is done."""

from __future__ import annotations

import pandas as pd
import pytest

from dmslab.analysis.derive import derive_ct
from dmslab.jobs import ingest_paths
from dmslab.store import Store, ct_dose_events, derived_values

#: Adult k (mSv/(mGy.cm)) of ../shared/reference/effective_dose.md §1 by the synthetic generator's region names.
ADULT_K = {"head": 0.0021, "chest": 0.014, "abdomen_pelvis": 0.015, "chest_abdomen_pelvis": 0.015}
E_METHOD = "dlp_k_eur16262_aapm96"


def _ct(department, settings, n=8):
    root, truth = department
    chosen = [s for s in truth.studies if s.modality == "CT" and s.patient_age_years >= 18
              and {e.target_region for e in s.events} <= set(ADULT_K)][:n]
    ingest_paths([root / f for s in chosen for f in s.files], settings)
    return chosen


def test_derive_stores_ssde_and_e_with_methods(department, settings):
    chosen = _ct(department, settings)
    store = Store(settings.database_url)
    summary = derive_ct(store)
    assert summary.studies == len(chosen) and summary.skipped == 0 and summary.written > 0
    events = ct_dose_events(store)
    dv = derived_values(store)
    by_uid = {s.study_uid: s for s in chosen}
    for _, ev in events.iterrows():
        truth = next(e for e in by_uid[ev["study_uid"]].events if e.event_uid == ev["event_uid"])
        rows = dv[dv["event_uid"] == ev["event_uid"]]
        e = rows[rows["method"] == E_METHOD]
        if pd.isna(ev["dlp_mgycm"]):  # an event sent without DLP has no effective dose
            assert e.empty
        else:
            assert len(e) == 1 and ev["dlp_mgycm"] == pytest.approx(truth.dlp_mgycm)
            assert e["value"].iloc[0] == pytest.approx(ADULT_K[truth.target_region] * truth.dlp_mgycm, rel=1e-6)
        ssde = rows[rows["quantity"] == "ssde_mgy"]
        if ev["acquisition_type"] == "constant_angle":
            assert ssde.empty  # no SSDE for localizers
        else:  # adults without size: refused and saying so, never silently missing
            assert len(ssde) == 1 and ssde["flags"].iloc[0] == ("no_size",)
    totals = dv[dv["event_uid"].isna() & (dv["method"] == E_METHOD)]
    assert len(totals) == len(chosen)
    for _, t in totals.iterrows():
        s = by_uid[t["study_uid"]]
        sent = set(events.loc[events["dlp_mgycm"].notna(), "event_uid"])
        expected = sum(ADULT_K[e.target_region] * e.dlp_mgycm for e in s.events if e.event_uid in sent)
        assert t["value"] == pytest.approx(expected, rel=1e-6)
        assert t["basis"].startswith("ICRP 60") and "reference-person" in t["assumptions"][0]
    again = derive_ct(store)
    assert again.skipped == len(chosen) and again.written == 0
    assert derive_ct(store, recompute=True).written == summary.written
    assert len(derived_values(store)) == len(dv)  # replaced, not added
    store.close()


def test_derive_command_prints_progress_summary(department, settings, capsys):
    from dmslab.cli import main

    chosen = _ct(department, settings, n=3)
    rc = main(["-q", "--home", str(settings.home), "--database-url", settings.database_url, "derive"])
    out = capsys.readouterr().out
    assert rc == 0 and f"{len(chosen)} CT stud(ies): 0 already derived" in out
    assert f"effective_dose_msv {E_METHOD}:" in out


def test_every_corpus_ct_event_gets_a_record_or_a_reason(corpus, settings):
    ingest_paths([corpus], settings)
    store = Store(settings.database_url)
    derive_ct(store)
    events = ct_dose_events(store)
    dv = derived_values(store)
    dose = events[events["ctdivol_mgy"].notna() & (events["acquisition_type"] != "constant_angle")]
    assert len(dose) > 20
    for uid in dose["event_uid"]:
        rows = dv[(dv["event_uid"] == uid) & (dv["quantity"] == "ssde_mgy")]
        assert len(rows) == 1 and (rows["value"].notna().all() or rows["flags"].iloc[0])
    with_dlp = events[events["dlp_mgycm"].notna()]
    e = dv[(dv["quantity"] == "effective_dose_msv") & dv["event_uid"].notna()]
    assert set(with_dlp["event_uid"]) == set(e["event_uid"])
    refused = e[e["value"].isna()]
    assert all(f for f in refused["flags"])  # every refusal says why
    computed = e[e["value"].notna()]
    assert len(computed) >= 20
    store.close()
