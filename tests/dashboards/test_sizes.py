"""dmslab.dashboards.sizes against the synthetic department's ground truth: each exam's dose and size from the
truth, the robust power-law fit recomputed here with statsmodels on the truth's values."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from dmslab.dashboards import overview
from dmslab.dashboards import sizes as z


def _views(store):
    return z.Views(store, overview.reference_time(store))


def _ctdivol(s) -> float:
    return statistics.mean(e.ctdivol_mgy for e in s.events
                           if e.acquisition_type != "Constant Angle Acquisition" and e.ctdivol_mgy)


def _huber(size, dose):
    import statsmodels.api as sm

    fit = sm.RLM(np.log(dose), sm.add_constant(np.log(size)), M=sm.robust.norms.HuberT()).fit()
    return fit.params, fit.conf_int(0.05)[1]


def test_ctdivol_vs_weight_points_and_fit_are_the_truth(site, store):
    truth = [s for s in site[1].studies if s.modality == "CT" and s.station_name == "CT1"]
    table = z.size_table(store, _views(store).filters("CT1", overview.ALL, "everything"), pair="ct-ctdivol-weight")
    assert list(table.columns) == ["Room", "Exam", "Weight (kg)", "CTDIvol (mGy)", "exam"]
    assert sorted(zip(table["Weight (kg)"], table["CTDIvol (mGy)"].round(6), strict=True)) == sorted(
        (s.patient_weight_kg, round(_ctdivol(s), 6)) for s in truth)
    fits = z.fit_table(table, pair="ct-ctdivol-weight")
    (log_a, b), (lo, hi) = _huber([s.patient_weight_kg for s in truth], [_ctdivol(s) for s in truth])
    med = statistics.median(s.patient_weight_kg for s in truth)
    row = fits.iloc[0]
    assert (row["Room"], row["Exams (n)"]) == ("CT1", len(truth))
    assert [row["Exponent b (ratio)"], row["95 % CI low (ratio)"], row["95 % CI high (ratio)"]] == pytest.approx(
        [b, lo, hi], rel=1e-6)
    assert row["CTDIvol (mGy) at median size"] == pytest.approx(np.exp(log_a) * med ** b, rel=1e-6)
    assert "robust (Huber)" in row["Fit"] and len(fits) == 1  # one room: no "every room" row


def test_dap_vs_weight_and_filters_change_the_data(site, store):
    v = _views(store)
    rf = z.size_table(store, v.filters(overview.ALL, overview.ALL, "everything"), pair="rf-dap-weight")
    want = sorted((s.patient_weight_kg, s.total_dap_gym2) for s in site[1].studies if s.modality == "RF")
    got = sorted(zip(rf["Weight (kg)"], rf["DAP per exam (Gy·m²)"], strict=True))
    assert np.array(got) == pytest.approx(np.array(want)) and len(want) > 0
    every = z.size_table(store, v.filters(overview.ALL, overview.ALL, "everything"), pair="ct-dlp-weight")
    head = z.size_table(store, v.filters(overview.ALL, "CT Head wo IV Contrast", "everything"), pair="ct-dlp-weight")
    assert set(head["Exam"]) == {"CT Head wo IV Contrast"} and 0 < len(head) < len(every)
    assert len(head) == sum(s.modality == "CT" and s.protocol == "CT Head Routine" for s in site[1].studies)
    spec = z.size_chart(head, pair="ct-dlp-weight").to_dict()
    assert spec["layer"][0]["encoding"]["x"]["title"] == "Weight (kg)"
    assert spec["layer"][0]["encoding"]["y"]["title"] == "DLP (mGy·cm)"
    assert f"n = {len(head)} exams" in spec["title"]
    fits = z.fit_table(every, pair="ct-dlp-weight")
    assert fits["Room"].tolist() == ["CT1", "CT2", "every room"]
    assert fits["Exams (n)"].tolist() == [(every["Room"] == "CT1").sum(), (every["Room"] == "CT2").sum(), len(every)]


def test_empty_selection_is_a_sentence(store):
    v = _views(store)
    for pair, room in (("ct-ctdivol-weight", "DX1"), ("ct-ctdivol-dw", overview.ALL)):
        view = z.size_table(store, v.filters(room, overview.ALL, "everything"), pair=pair)
        assert isinstance(view, overview.NoExams) and view.text.startswith("No exams match modality CT")
    assert "Water-equivalent diameter (cm)" in view.text  # the synthetic scanners report no Dw


def test_exam_choices_rank_the_highest_dose_first(store):
    widgets = pytest.importorskip("ipywidgets")
    v = _views(store)
    table = z.size_table(store, v.filters("CT1", overview.ALL, "everything"), pair="ct-dlp-weight")
    ranked = table.sort_values("DLP (mGy·cm)", ascending=False)
    box = v.drill.picker(ranked, columns=("Room", "Exam", "Weight (kg)", "DLP (mGy·cm)"))
    first_label, first_exam = box.children[0].options[0]
    assert first_exam == int(table.loc[table["DLP (mGy·cm)"].idxmax(), "exam"])
    assert first_label.endswith(f"{table['DLP (mGy·cm)'].max():.4g}") and isinstance(box, widgets.VBox)
