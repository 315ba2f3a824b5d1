"""dmslab.dashboards.fluoro against the synthetic department's ground truth: the injected high-dose fluoroscopy
case with the rules it exceeds, its events counted and summed from the truth's events."""

from __future__ import annotations

import pytest

from dmslab.analysis.alerts import default_alert_config
from dmslab.dashboards import drilldown, overview
from dmslab.dashboards import fluoro as fl


def _views(store, **kw):
    return fl.Views(store, overview.reference_time(store), **kw)


def _expected_rows(truth):
    """(study, rule id, value) of every RF study over an absolute level of the built-in rules."""
    values = {"total_rp_dose_gy": "total_rp_dose_gy", "total_dap_gym2": "total_dap_gym2"}
    out = []
    for s in truth.studies:
        for r in default_alert_config().rules:
            if s.modality == r.modality == "RF" and r.metric in values and getattr(s, r.metric) > r.level:
                out.append((s, r.id, getattr(s, r.metric), getattr(s, r.metric) / r.level))
    return out


def test_cases_are_the_truth_cases_with_their_events(site, store):
    truth = site[1]
    want = _expected_rows(truth)
    assert {s.study_uid for s, *_ in want} == {truth.injected.high_dose_fluoro.study_uid}
    table = fl.case_table(store, _views(store).filters(overview.ALL, overview.ALL, "everything"))
    got = sorted(zip(table["Rule"], table["Value"], strict=True))
    expected = sorted((rule, v) for _s, rule, v, _t in want)
    assert [r for r, _ in got] == [r for r, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected])
    assert table["Times the level"].is_monotonic_decreasing
    study = want[0][0]
    fluoro = [e for e in study.events if e.acquisition_type == "Fluoroscopy"]
    row = table.iloc[0]
    assert (row["Room"], row["Events (n)"], row["Fluoroscopy events (n)"]) == (
        study.station_name, len(study.events), len(fluoro))
    assert row["Fluoroscopy time (s)"] == pytest.approx(sum(e.irradiation_duration_s for e in fluoro))
    assert row["Acknowledged by"] == "not yet" and set(table["Unit"]) == {"Gy", "Gy·m²"}
    shown = " ".join(map(str, table.drop(columns=["exam"]).to_numpy().ravel()))
    assert study.study_uid not in shown and study.patient_id not in shown and study.accession_number not in shown


def test_a_case_shows_its_events_and_the_skin_dose_slot(site, store):
    study = _expected_rows(site[1])[0][0]
    table = fl.case_table(store, _views(store).filters("RF", "RF1", "everything"))
    exam = int(table["exam"].iloc[0])
    events = drilldown.event_table(store, exam)
    truth = sorted(study.events, key=lambda e: e.datetime_started)
    assert events["DAP (Gy·m²)"].tolist() == pytest.approx([e.dap_gym2 for e in truth])
    assert events["Ka,r (Gy)"].tolist() == pytest.approx([e.rp_dose_gy for e in truth])
    spec = fl.event_chart(events).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert rows[-1]["Cumulative Ka,r (Gy)"] == pytest.approx(sum(e.rp_dose_gy for e in truth))
    assert spec["encoding"]["y"]["title"] == "Cumulative Ka,r (Gy)"
    slot = fl.skin_dose_map(store, exam)
    assert isinstance(slot, fl.SkinDoseSlot) and "Skin-dose map" in slot._repr_html_()


def test_filters_change_the_cases_and_empty_is_a_sentence(store):
    v = _views(store)
    every = fl.case_table(store, v.filters(overview.ALL, overview.ALL, "everything"))
    assert len(every) == 3
    week = fl.case_table(store, v.filters(overview.ALL, overview.ALL, "last 7 days"))  # the case is older
    assert isinstance(week, overview.NoExams) and week.text.startswith("No cases above a trigger level match since")
    dx = fl.case_table(store, v.filters("RF", "DX1", "everything"))
    assert isinstance(dx, overview.NoExams) and dx.text == "No cases above a trigger level match modality RF, room DX1."
    assert v.drill.picker(dx) is None


def test_trigger_table_names_quantities_and_units(store):
    t = fl.trigger_table(default_alert_config())
    assert t.set_index("Rule").loc["rf-kar-5gy", ["Quantity", "Trigger level", "Unit"]].tolist() == ["Ka,r", 5.0, "Gy"]
    assert t.set_index("Rule").loc["rf-kap-500gycm2", "Unit"] == "Gy·m²"
    assert fl.modality_options(store) == [overview.ALL, "RF"]
