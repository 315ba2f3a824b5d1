"""The derived-values store: method records written, replaced per (study, event, quantity, method), read back
with JSON parsed, on SQLite and PostgreSQL; bad records refused with a clear error."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dmslab.errors import StoreReadOnlyError
from dmslab.jobs import ingest_paths
from dmslab.store import DerivedValue, Store, StudyFilter, ct_dose_events, delete_derived, derived_values, write_derived

T0 = dt.datetime(2026, 12, 7, 10, 0)


def _ct_study(department, settings) -> Store:
    root, truth = department
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1 and len(s.events) >= 2)
    ingest_paths([root / study.files[0]], settings)
    return Store(settings.database_url)


def _value(study_id: int, event_uid: str | None, value: float | None = None, **kw) -> DerivedValue:
    base = dict(study_id=study_id, event_uid=event_uid, quantity="ssde_mgy", value=value, method="aapm204_deff",
                method_version="1", basis="AAPM Report 204 (2011)", inputs={"ctdivol_mgy": 10.0, "deff_cm": 25.0},
                assumptions=("effective diameter from AP and LAT",), computed_at=T0)
    base.update(kw)
    return DerivedValue(**base)


def test_write_replace_and_read_back(department, settings):
    store = _ct_study(department, settings)
    events = ct_dose_events(store)
    sid, uid = int(events["study_id"].iloc[0]), str(events["event_uid"].iloc[0])
    assert write_derived(store, [_value(sid, uid, 14.7), _value(sid, None, 30.1, quantity="deff_cm",
                                                                  method="aapm204_ap_lat")]) == 2
    # same key again: replaced, not added; another method of the same quantity is kept beside it
    write_derived(store, [_value(sid, uid, 15.0, method_version="2"),
                          _value(sid, uid, 16.0, method="scanner_reported", inputs={"ssde_mgy": 16.0})])
    df = derived_values(store, quantities=["ssde_mgy"])
    assert sorted(zip(df["method"], df["method_version"], df["value"], strict=True)) == [
        ("aapm204_deff", "2", 15.0), ("scanner_reported", "1", 16.0)]
    row = df[df["method"] == "aapm204_deff"].iloc[0]
    assert row["unit"] == "mGy" and row["inputs"] == {"ctdivol_mgy": 10.0, "deff_cm": 25.0}
    assert row["assumptions"] == ["effective diameter from AP and LAT"] and row["flags"] == ()
    assert row["study_uid"] == events["study_uid"].iloc[0] and row["event_uid"] == uid
    assert pd_ts(row["computed_at"]) == T0
    study_level = derived_values(store, quantities=["deff_cm"])
    assert len(study_level) == 1 and study_level["event_uid"].iloc[0] is None and study_level["unit"].iloc[0] == "cm"
    # a study filter that selects nothing reads nothing
    assert derived_values(store, StudyFilter(modality="RF")).empty
    assert delete_derived(store, methods=["scanner_reported"]) == 1
    assert list(derived_values(store, quantities=["ssde_mgy"])["method"]) == ["aapm204_deff"]
    store.close()


def pd_ts(v) -> dt.datetime:
    return pd.Timestamp(v).to_pydatetime()


def test_refused_value_keeps_its_flags_and_skin_dose_fits(department, settings):
    store = _ct_study(department, settings)
    sid = int(ct_dose_events(store)["study_id"].iloc[0])
    write_derived(store, [
        _value(sid, "1.2.3", None, flags=("outside_fit_domain",), inputs={"deff_cm": 50.0}),
        DerivedValue(sid, None, "peak_skin_dose_gy", 3.2, "dmslab_skindose", "0.1", basis="test",
                     detail={"location": "back, left", "area_above_2gy_cm2": 12.0}, artifact="maps/x.npz"),
    ])
    df = derived_values(store).set_index("quantity")
    assert df.loc["ssde_mgy", "flags"] == ("outside_fit_domain",)
    assert pd.isna(df.loc["ssde_mgy", "value"])
    assert df.loc["peak_skin_dose_gy", "unit"] == "Gy"
    assert df.loc["peak_skin_dose_gy", "detail"] == {"location": "back, left", "area_above_2gy_cm2": 12.0}
    assert df.loc["peak_skin_dose_gy", "artifact"] == "maps/x.npz"
    store.close()


def test_read_only_store_refuses_writes(department, settings):
    _ct_study(department, settings).close()
    ro = Store(settings.database_url, read_only=True)
    with pytest.raises(StoreReadOnlyError):
        write_derived(ro, [_value(1, None, 1.0)])
    ro.close()


@pytest.mark.parametrize(("kw", "message"), [
    ({"quantity": "ssde"}, "must end in a unit suffix"),
    ({"value": None}, "needs flags saying why"),
    ({"value": float("nan")}, "finite number or None"),
    ({"method": ""}, "method and method_version are required"),
    ({"inputs": {"x": float("inf")}}, "must be JSON"),
])
def test_bad_records_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        _value(1, None, **{"value": 1.0, **kw})


def test_duplicate_keys_in_one_batch_are_refused(department, settings):
    store = _ct_study(department, settings)
    with pytest.raises(ValueError, match="same study, event, quantity and method"):
        write_derived(store, [_value(1, "a", 1.0), _value(1, "a", 2.0)])
    store.close()
