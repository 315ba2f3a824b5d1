"""ESR statistics computed in the database against pandas over the synthetic ground truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dmslab.analysis.naming import apply_names
from dmslab.analysis.stats import Filters, distribution, exam_counts, monthly_medians, summary, workload
from dmslab.jobs import ingest_paths
from dmslab.store import Store


def _truth(truth):
    studies = pd.DataFrame([{"room": s.station_name, "protocol": s.protocol, "modality": s.modality,
                             "dlp": s.total_dlp_mgycm, "when": dt.datetime.fromisoformat(s.study_datetime)}
                            for s in truth.studies])
    events = pd.DataFrame([{"room": s.station_name, "protocol": s.protocol, "ctdivol": e.ctdivol_mgy}
                           for s in truth.studies if s.modality == "CT" for e in s.events
                           if e.acquisition_type != "Constant Angle Acquisition" and e.ctdivol_mgy is not None])
    return studies, events


@pytest.mark.parametrize("engine", ["sql", "columnar", "copy"])
def test_esr_tables_match_pandas(settings, department, engine):
    folder, truth = department
    store = Store(settings.database_url)
    ingest_paths([folder], settings, store=store)
    apply_names(store)
    studies, events = _truth(truth)
    # per room x protocol (study description): DLP per exam, CTDIvol per sequence
    ct = studies[studies["modality"] == "CT"]
    for metric, frame, col in (("dlp_mgycm", ct, "dlp"), ("ctdivol_mgy", events, "ctdivol")):
        want = frame.groupby(["room", "protocol"])[col].agg(["size", "median", "mean", "min", "max", "std"])
        got = summary(store, metric, by=["room", "study_description"], engine=engine)
        got = got.set_index(["room", "study_description"])
        assert len(got) == len(want)
        for key, row in want.iterrows():
            g = got.loc[key]
            assert g["n"] == row["size"]
            for a, b in (("median", "median"), ("mean", "mean"), ("min", "min"), ("max", "max"), ("sd", "std")):
                assert g[a] == pytest.approx(row[b], rel=1e-9, nan_ok=True), (metric, key, a)
    # exam counts per modality and room
    counts = exam_counts(store, by=["modality", "room"]).set_index(["modality", "room"])["n_exams"]
    assert counts.to_dict() == studies.groupby(["modality", "room"]).size().to_dict()
    # workload by ISO weekday x hour
    wl = workload(store).set_index(["weekday", "hour"])["n_exams"]
    want_wl = studies.groupby([studies["when"].dt.isocalendar().day.astype(int), studies["when"].dt.hour]).size()
    assert wl.to_dict() == want_wl.to_dict()
    # monthly medians for CT1 DLP
    mm = monthly_medians(store, "dlp_mgycm", by=["room"], filters=Filters(rooms=("CT1",)), engine=engine)
    ct1 = ct[ct["room"] == "CT1"]
    want_mm = ct1.groupby(ct1["when"].dt.strftime("%Y-%m"))["dlp"].median()
    assert dict(zip(mm["month"], mm["median"], strict=True)) == pytest.approx(want_mm.to_dict())
    # a period filter is half-open [start, end)
    start = dt.datetime.fromisoformat(min(s.study_datetime for s in truth.studies)).replace(hour=0, minute=0)
    end = start + dt.timedelta(days=7)
    n_week = int(((studies["when"] >= start) & (studies["when"] < end)).sum())
    assert exam_counts(store, by=["modality"], filters=Filters(start=start, end=end))["n_exams"].sum() == n_week
    store.close()


def test_bench_audit_smoke(tmp_path):
    """The bench's code path at 10^4 events: dmslab's audit equals the whole-table pandas baseline."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "bench_audit.py"
    spec = importlib.util.spec_from_file_location("bench_audit", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run(f"sqlite:///{tmp_path / 'bench.sqlite'}", 10_000)
    assert result["same"] == 1.0 and result["groups"] > 1000


@pytest.mark.parametrize("engine", ["sql", "columnar", "copy"])
def test_distribution_matches_numpys_quartiles_and_whiskers(settings, department, engine):
    folder, truth = department
    store = Store(settings.database_url)
    ingest_paths([folder], settings, store=store)
    _studies, events = _truth(truth)
    got = distribution(store, "ctdivol_mgy", by=["room", "study_description"], engine=engine)
    got = got.set_index(["room", "study_description"])
    want = events.groupby(["room", "protocol"])["ctdivol"]
    assert len(got) == want.ngroups
    for key, values in want:
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        inside = values[(values >= q1 - 1.5 * (q3 - q1)) & (values <= q3 + 1.5 * (q3 - q1))]
        g = got.loc[key]
        assert g["n"] == len(values)
        assert [g["q1"], g["median"], g["q3"], g["low"], g["high"]] == pytest.approx(
            [q1, med, q3, inside.min(), inside.max()], rel=1e-9), key
    empty = distribution(store, "agd_mgy", by=["room"], filters=Filters(rooms=("no such room",)), engine=engine)
    assert empty.empty and list(empty.columns[:1]) == ["room"]
    store.close()
