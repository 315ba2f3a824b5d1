"""The audit as text (``dmslab audit``), the notebook filters, and one minimum sample size everywhere."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmslab.analysis.drl import MIN_N, TEXT_COLUMNS, audit_text, drl_references
from dmslab.analysis.parameters import describe_period, in_period, notebook_filters
from dmslab.analysis.stats import Filters

ROOT = Path(__file__).resolve().parents[2]


def _audit() -> pd.DataFrame:
    return pd.DataFrame({
        "room": ["CT 1", "CT2"], "standard_name": ["CT Head wo IV Contrast", "CT  Odd   Name"],
        "metric": ["dlp_mgycm", "ctdivol_mgy"], "n": [12, 3], "median": [812.345, 0.000123456],
        "mean": [800.0, np.nan], "drl": [790.0, np.nan], "ratio": [812.345 / 790, np.nan],
        "status": ["above DRL", "no DRL"], "n_above": [7, 0], "source": ["UKHSA", None], "drl_status": ["v", None]})


def test_audit_text_splits_back_into_its_cells():
    f = Filters(start=dt.datetime(2026, 1, 1), end=dt.datetime(2026, 2, 1), modality="CT", rooms=("CT 1", "CT2"))
    text = audit_text(_audit(), drl_set="UK", filters=f, min_n=MIN_N)
    lines = text.splitlines()
    assert lines[0] == "DRL audit (UK): room medians per standard name against the DRL, CT, CT 1, CT2"
    assert lines[1] == ("period: 2026-01-01 to 2026-02-01 (exclusive); patients: adult; a median needs at least 10 "
                        "values (else 'too few')")
    assert lines[2] == "source: UKHSA"
    cells = [re.split(r"\s{2,}", ln.strip()) for ln in lines[4:]]
    assert cells[0] == ["room", *TEXT_COLUMNS]
    assert cells[1] == ["CT 1", "CT Head wo IV Contrast", "dlp_mgycm", "12", "812.3", "800", "790", "1.028",
                        "above DRL", "7"]
    assert cells[2] == ["CT2", "CT Odd Name", "ctdivol_mgy", "3", "0.0001235", "-", "-", "-", "no DRL", "0"]


def test_an_empty_audit_says_so():
    text = audit_text(_audit().iloc[:0], drl_set="DE", filters=Filters(patient_group="paediatric age 1-5 years"))
    assert "period: every study in the store; patients: paediatric age 1-5 years" in text
    assert text.endswith("(no studies match these filters)") and "source:" not in text


def test_notebook_filters_and_the_period_they_state():
    f = notebook_filters(period_start="2026-01-01", period_end="2026-02-01", modality="", rooms=[])
    assert (f.start, f.end, f.modality, f.rooms, f.patient_group) == (
        dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1), None, None, "adult")
    assert describe_period(f) == "2026-01-01 to 2026-02-01 (exclusive)"
    assert describe_period(notebook_filters(period_end="2026-02-01")) == "the first study to 2026-02-01 (exclusive)"
    with pytest.raises(ValueError, match="'2026-02-30' is not an ISO date"):
        notebook_filters(period_start="2026-02-30")
    with pytest.raises(ValueError, match="must be after period_start"):
        notebook_filters(period_start="2026-02-01", period_end="2026-02-01")


def test_in_period_keeps_the_period_and_rooms():
    df = pd.DataFrame({"study_datetime": pd.to_datetime(["2025-12-31 23:59", "2026-01-01 00:00", "2026-01-31 23:00",
                                                         "2026-02-01 00:00"]), "room": ["RF1", "RF1", "RF2", "RF1"]})
    f = notebook_filters(period_start="2026-01-01", period_end="2026-02-01")
    assert in_period(df, f).index.tolist() == [1, 2]  # start inclusive, end exclusive
    assert in_period(df, notebook_filters(period_start="2026-01-01", rooms=["RF1"])).index.tolist() == [1, 3]


def test_one_minimum_sample_size_everywhere():
    """The audit, derive, the notebooks and the pipelines default to the same minimum (MIN_N)."""
    import inspect

    from dmslab.analysis import drl

    assert MIN_N == 10
    for fn in (drl.drl_audit, drl.derive_local_drls, drl.audit_text):
        assert inspect.signature(fn).parameters["min_n"].default == MIN_N, fn.__name__
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        source = "".join(json.loads(path.read_text())["cells"][0]["source"])
        m = re.search(r"^min_n = (\d+)", source, re.M)
        assert m is None or int(m.group(1)) == MIN_N, path.name
    for path in sorted((ROOT / "pipelines").glob("*.yml")):
        m = re.search(r"^\s+min_n: (\d+)", path.read_text(), re.M)
        assert m is None or int(m.group(1)) == MIN_N, path.name


def test_a_standard_name_takes_drl_rows_of_its_own_modality_only():
    refs = drl_references("DE")  # DE has DX, MG, RF and CT rows
    names = refs["standard_name"]
    assert set(refs.loc[names.str.startswith("XR "), "metric"]) == {"dap_gym2"}
    assert not refs.loc[names.str.startswith("CT "), "metric"].isin(["dap_gym2", "agd_mgy"]).any()
    assert "CT Head wo IV Contrast" not in set(names)  # DE's only CT head rows (2010) are superseded
    assert "CT Head wo IV Contrast" in set(drl_references("DE", include_superseded=True)["standard_name"])
