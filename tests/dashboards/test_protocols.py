"""dmslab.dashboards.protocols against the synthetic department's ground truth: exam values and technique from
the truth's events, the injected protocol change found where it was injected, the size fit recomputed here."""

from __future__ import annotations

import datetime as dt
import statistics

import numpy as np
import pytest

from dmslab.analysis._size import SizeConfig
from dmslab.dashboards import overview
from dmslab.dashboards import protocols as p

HEAD = "CT Head Routine"



def _views(store, **kw):
    return p.Views(store, overview.reference_time(store), **kw)


def _dose_events(s):
    return [e for e in s.events if e.acquisition_type != "Constant Angle Acquisition" and e.ctdivol_mgy]


def _truth_series(truth, room, protocol=HEAD):
    chosen = [s for s in truth.studies if s.station_name == room and s.protocol == protocol]
    return sorted(chosen, key=lambda s: s.study_datetime)


def test_series_is_the_truth_mean_ctdivol_per_exam(site, store):
    f = _views(store).filters("CT", "CT1", "everything")
    table = p.series_table(store, f, protocol=HEAD, metric="ctdivol_mgy")
    want = [(dt.datetime.fromisoformat(s.study_datetime), statistics.mean(e.ctdivol_mgy for e in _dose_events(s)))
            for s in _truth_series(site[1], "CT1")]
    got = list(zip(table["Study date"].dt.to_pydatetime(), table["CTDIvol (mGy)"], strict=True))
    assert [g[0] for g in got] == [w[0] for w in want]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want])
    assert {"Charted CTDIvol (mGy)", "Segment median CTDIvol (mGy)"} <= set(table.columns)


def test_the_injected_change_is_found_where_it_was_injected(site, store):
    injected = site[1].injected.protocol_change
    assert (injected.station_name, injected.protocol, injected.quantity) == ("CT1", HEAD, "ctdivol_mgy")
    f = _views(store).filters("CT", "CT1", "everything")
    table = p.changes_table(store, f, protocol=HEAD)
    row = table[table["Quantity"] == "CTDIvol (mGy)"].iloc[0]
    days = (dt.date.fromisoformat(row["Changed on"]) - dt.date.fromisoformat(injected.date)).days
    assert abs(days) <= 3
    lo, hi = (float(x) for x in row["95 % CI (%)"].split(" to "))
    assert lo <= 100 * (injected.factor - 1) <= hi and row["Shift (%)"] < -10
    series = p.series_table(store, f, protocol=HEAD, metric="ctdivol_mgy")  # the chart's segments split there
    first_after = series.loc[series["Segment (n)"] == 2, "Study date"].min()
    assert f"{first_after:%Y-%m-%d}" == row["Changed on"]
    spec = p.series_chart(series, "ctdivol_mgy").to_dict()
    assert any(layer["mark"]["type"] == "rule" for layer in spec["layer"])
    assert spec["layer"][0]["encoding"]["y"]["title"] == "Charted CTDIvol (mGy)"


def test_room_filter_changes_the_data(site, store):
    v = _views(store)
    ct2 = p.series_table(store, v.filters("CT", "CT2", "everything"), protocol=HEAD, metric="ctdivol_mgy")
    assert set(ct2["Room"]) == {"CT2"} and len(ct2) == len(_truth_series(site[1], "CT2"))
    every = p.series_table(store, v.filters("CT", overview.ALL, "everything"), protocol=HEAD, metric="ctdivol_mgy")
    assert set(every["Room"]) == {"CT1", "CT2"} and len(every) == len(ct2) + len(_truth_series(site[1], "CT1"))
    c2 = p.changes_table(store, v.filters("CT", "CT2", "everything"), protocol=HEAD)
    assert isinstance(c2, overview.NoExams) or "CT1" not in set(c2["Room"])
    assert dict(p.protocol_options(store, "CT", "CT2"))[f"{HEAD} ({len(ct2)} exams)"] == HEAD


def test_technique_is_the_truth_technique(site, store):
    table = p.technique_table(store, _views(store).filters("CT", "CT1", "everything"), protocol=HEAD)
    assert set(table["Quantity"]) == {"Tube voltage (kV)", "Effective mAs (mA·s)", "Pitch factor (ratio)",
                                      "Collimation (mm)"}
    pitch = table[table["Quantity"] == "Pitch factor (ratio)"]["Value (unit of the quantity)"].tolist()
    coll = table[table["Quantity"] == "Collimation (mm)"]["Value (unit of the quantity)"].tolist()
    truth = _truth_series(site[1], "CT1")
    assert pitch == pytest.approx([max(e.pitch for e in _dose_events(s)) for s in truth])
    assert coll == pytest.approx([max(e.collimation_total_mm for e in _dose_events(s)) for s in truth])
    spec = p.technique_chart(table).to_dict()
    assert spec["resolve"]["scale"]["y"] == "independent"


def test_size_fit_is_the_robust_fit_recomputed_here(site, store):
    import statsmodels.api as sm

    cfg = SizeConfig(covariates=("weight_kg",), window=30, min_exams=10, min_t=0.0)
    table = p.size_table(store, _views(store).filters("CT", "CT1", "everything"), protocol=HEAD, size_config=cfg)
    row = table[table["Quantity"] == "CTDIvol (mGy)"].iloc[0]
    truth = _truth_series(site[1], "CT1")
    y = np.log([statistics.mean(e.ctdivol_mgy for e in _dose_events(s)) for s in truth])
    x = np.log([s.patient_weight_kg for s in truth])
    fit = sm.RLM(y, sm.add_constant(x), M=sm.robust.norms.HuberT()).fit()
    assert row["Exponent (ratio)"] == pytest.approx(fit.params[1], rel=1e-6)
    assert row["Size quantity"] == "weight" and row["Exams (n)"] == len(truth)
    assert row["Reference size"] == f"{statistics.median(s.patient_weight_kg for s in truth):.3g} kg"
    default = p.size_table(store, _views(store).filters("CT", "CT1", "everything"), protocol=HEAD)
    assert (default["Size quantity"] == "none").all()
    assert default["How"].str.contains(f"{len(truth)} exams, the fit needs 30").all()


def test_empty_selection_is_a_sentence(store):
    v = _views(store)
    f = v.filters("CT", "DX1", "everything")
    for view in (p.series_table(store, f, protocol=HEAD, metric="ctdivol_mgy"),
                 p.changes_table(store, f, protocol=HEAD),
                 p.technique_table(store, f, protocol=HEAD), p.size_table(store, f, protocol=HEAD)):
        assert isinstance(view, overview.NoExams)
        assert view.text.startswith(f"No exams match protocol {HEAD}, modality CT, room DX1")
    assert p.protocol_options(store, "MG", "CT1") == []


def test_protocol_and_quantity_choices_follow_modality_and_room(store):
    widgets = pytest.importorskip("ipywidgets")
    modality = widgets.Dropdown(options=p.MODALITIES, value="CT")
    room = widgets.Dropdown(options=overview.room_options(store)[1], value="CT1")
    protocol, quantity = widgets.Dropdown(), widgets.Dropdown()
    _views(store).link_choices(modality, room, protocol, quantity)
    assert (protocol.value, quantity.value) == (HEAD, "ctdivol_mgy")  # CT1's busiest protocol
    room.value = "DX1"
    modality.value = "DX"
    assert protocol.value == p.protocol_options(store, "DX", "DX1")[0][1] and quantity.value == "dap_gym2"
