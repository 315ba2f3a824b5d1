"""One typed filter (issue 12 item 1): the same :class:`~dmslab.store.StudyFilter` selects the same studies
through every store query (study rows, exams, alert metrics, metric values, counts, the columnar copy and the row
tables) on SQLite and PostgreSQL, and those studies are the ones the synthetic department's ground truth says."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from dmslab.analysis import stats
from dmslab.errors import FilterError
from dmslab.store import (
    METRICS,
    PatientBand,
    Selection,
    StudyFilter,
    alert_metrics,
    exam_counts,
    exam_metrics,
    metric_data,
    metric_values,
    patient_band,
    period_bound,
    studies,
)
from dmslab.store.schema import table


def _when(s) -> dt.datetime:
    return dt.datetime.fromisoformat(s.study_datetime)


def _changes(truth) -> dict[str, tuple[float | None, float | None, str | None]]:
    """study uid -> (age in a, weight in kg, exclusion reason) this module gives some studies: the synthetic
    department has adults only and no QA studies, so some become children (0-8 a, 6-54 kg), some have
    an unknown age or weight, some are phantoms."""
    out = {}
    for i, s in enumerate(sorted(truth.studies, key=lambda s: s.study_uid)):
        age, weight, reason = float(s.patient_age_years), float(s.patient_weight_kg), None
        if i % 4 == 0:
            age, weight = (i % 17) / 2, 6.0 + 3 * (i % 17)  # on the bands' bounds too: 1, 5, 6 a; 15, 30 kg
        if i % 11 == 1:
            age = None
        if i % 13 == 2:
            weight = None
        if i % 19 == 3:
            reason = "phantom"
        out[s.study_uid] = (age, weight, reason)
    return out


def _in_band(band: PatientBand, age: float | None, weight: float | None) -> bool:
    """The patient-group semantics, written out: an unknown age is adult, never paediatric; an unknown weight
    is in no weight band."""
    if band.adult:
        return age is None or age >= 18
    if age is None or age >= 18:
        return False
    if band.age is not None and not band.age[0] <= age < band.age[1]:
        return False
    return band.weight is None or (weight is not None and band.weight[0] <= weight < band.weight[1])


def _truth_uids(truth, f: StudyFilter) -> set[str]:
    """The filter's meaning applied to the generator's own record of what it wrote and to :func:`_changes`
    (no store involved)."""
    band = patient_band(f.patient_group) if f.patient_group else None
    changes = _changes(truth)
    out = set()
    for s in truth.studies:
        when = _when(s)
        age, weight, reason = changes[s.study_uid]
        if (f.start is not None and when < f.start) or (f.end is not None and when >= f.end):
            continue
        if (f.modality and s.modality != f.modality) or (f.rooms and s.station_name not in f.rooms):
            continue
        if (band is not None and not _in_band(band, age, weight)) or (reason and not f.include_non_patient):
            continue
        out.add(s.study_uid)
    return out


def _cases(truth) -> list[StudyFilter]:
    times = sorted(_when(s) for s in truth.studies)
    rooms = sorted({s.station_name for s in truth.studies})
    return [
        StudyFilter(include_non_patient=True),
        StudyFilter(),
        StudyFilter(modality="CT"),
        # bounds exactly on a study's time: the start is included, the end excluded
        StudyFilter(start=times[len(times) // 5], end=times[4 * len(times) // 5]),
        StudyFilter(start=times[len(times) // 3].isoformat(), rooms=tuple(rooms[:2]), patient_group="adult"),
        StudyFilter(end=times[len(times) // 2].date(), modality="CT", rooms=(rooms[0], "no such room")),
        StudyFilter(patient_group="adult", include_non_patient=True),
        StudyFilter(patient_group="paediatric age 1-5 years"),
        StudyFilter(patient_group="paediatric age 3-12 months", include_non_patient=True),
        StudyFilter(patient_group="paediatric weight 15-30 kg", modality="CT"),
        StudyFilter(patient_group="paediatric age >6 years", rooms=tuple(rooms[1:])),
        StudyFilter(rooms=("no such room",)),
    ]


@pytest.fixture(scope="module")
def varied(filled, department):
    """The filled store with :func:`_changes` written into it; restored afterwards."""
    store, _settings = filled
    st = table("study")
    before = store.read(sa.select(st.c.study_uid, st.c.age_years, st.c.weight_kg, st.c.exclusion_reason))
    changes = _changes(department[1])
    assert set(before["study_uid"]) == set(changes)  # one stored study per study of the ground truth

    def write(values):
        with store.engine.begin() as conn:
            for uid, (age, weight, reason) in values.items():
                conn.execute(st.update().where(st.c.study_uid == uid)
                             .values(age_years=age, weight_kg=weight, exclusion_reason=reason))
        store.refresh_columnar()

    write(changes)
    yield store
    write({r.study_uid: (None if pd.isna(r.age_years) else r.age_years, None if pd.isna(r.weight_kg) else r.weight_kg,
                         r.exclusion_reason) for r in before.itertuples()})


def test_the_cases_select_something_and_not_everything(department):
    """The cases below discriminate: each filter but the first and last keeps some studies and drops some."""
    _folder, truth = department
    n = len(truth.studies)
    sizes = [len(_truth_uids(truth, f)) for f in _cases(truth)]
    assert sizes[0] == n and sizes[-1] == 0
    assert all(0 < k < n for k in sizes[1:-1]), sizes
    assert len(set(sizes)) >= len(sizes) - 2, sizes  # not the same few studies again and again


def test_one_filter_one_set_of_studies(varied, department):
    store = varied
    _folder, truth = department
    for f in _cases(truth):
        want = _truth_uids(truth, f)
        rows = studies(store, f)
        assert set(rows["study_uid"]) == want, f
        assert len(rows) == len(want), f  # one row per study
        uid = dict(zip(rows["study_id"], rows["study_uid"], strict=True))
        modality_of = dict(zip(rows["study_uid"], rows["modality"], strict=True))
        # aggregate path: counts in SQL, the arrays of the columnar copy and of the row tables, metric values
        assert int(exam_counts(store, by=["modality"], selection=f)["n_exams"].sum()) == len(want), f
        for source in ("copy", "rows"):
            data = metric_data(store, list(METRICS.values()), ["standard_name"], f, source=source)
            assert {uid.get(i, i) for i in data.studies["_sid"]} == want, (f, source)
        ct = {u for u in want if modality_of[u] == "CT"}
        got = metric_values(store, METRICS["dlp_mgycm"], by=["room"], selection=f, extra=["study_uid"])
        assert set(got["study_uid"]) == ct, f  # every synthetic CT exam reports its total DLP
        # study query path: alert metrics, and the CT exams (every synthetic CT exam has dose-bearing events)
        assert {uid[i] for i in alert_metrics(store, f)["study_id"]} == want, f
        if f.modality in (None, "CT"):
            assert {uid[i] for i in exam_metrics(store, f)["study_id"]} == ct, f


def test_standard_names_select_the_same_studies_everywhere(varied):
    store = varied
    rows = studies(store, StudyFilter(modality="CT"))
    names = tuple(sorted(rows["standard_name"].dropna().unique())[:2])
    assert names, "the synthetic CT exams have standard names"
    f = StudyFilter(modality="CT", standard_names=names)
    want = set(rows.loc[rows["standard_name"].isin(names), "study_id"])
    assert 0 < len(want) < len(rows)
    assert set(studies(store, f)["study_id"]) == want
    for source in ("copy", "rows"):
        assert set(metric_data(store, [METRICS["dlp_mgycm"]], [], f, source=source).studies["_sid"]) == want
    assert set(exam_metrics(store, f)["study_id"]) == want
    assert set(alert_metrics(store, f)["study_id"]) == want


def test_the_analysis_filters_are_the_store_filter():
    """No conversion layer: the analysis layer's and the aggregate functions' names are the class itself."""
    assert stats.Filters is StudyFilter and Selection is StudyFilter
    f = stats.Filters(start="2026-01-05", end=dt.date(2026, 2, 1), rooms=["CT1"],
                      patient_group="paediatric weight <5 kg")
    assert (f.start, f.end, f.rooms) == (dt.datetime(2026, 1, 5), dt.datetime(2026, 2, 1), ("CT1",))
    assert f.band == PatientBand(False, weight=(0.0, 5.0))
    assert StudyFilter().band is None


@pytest.mark.parametrize(("kwargs", "error", "says"), [
    ({"start": "2026-02-01", "end": "2026-01-01"}, FilterError, "before its start"),
    ({"start": "first of May"}, FilterError, "not an ISO date"),
    ({"end": 20260101}, TypeError, "end must be a datetime"),
    ({"rooms": "CT1"}, TypeError, "not one string"),
    ({"standard_names": "CT Head"}, TypeError, "not one string"),
    ({"patient_group": "children"}, FilterError, "expected 'adult'"),
])
def test_bad_filters_are_refused_with_a_reason(kwargs, error, says):
    with pytest.raises(error, match=says):
        StudyFilter(**kwargs)


def test_dmslab_audit_refuses_a_bad_filter_in_one_line(tmp_path, capsys):
    """The CLI's filters are this class: a bad one is one line naming what to give, not a traceback."""
    from dmslab.cli import main
    from dmslab.store import Store

    url = f"sqlite:///{tmp_path / 'dmslab.sqlite'}"
    Store(url).close()
    for args, says in ((["--period-start", "2026-02-01", "--period-end", "2026-01-01"], "before its start"),
                       (["--patient-group", "children"], "expected 'adult'")):
        assert main(["audit", "--database-url", url, *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dmslab: error: ") and says in err and "Traceback" not in err, err


# --- one parser of period bounds: the store's filter, the notebooks' parameters and the command line agree ------

_BOUNDS = [
    ("2026-01-31", dt.datetime(2026, 1, 31)),
    ("2026-01-31T08:30", dt.datetime(2026, 1, 31, 8, 30)),
    ("2026-01-31 08:30:15", dt.datetime(2026, 1, 31, 8, 30, 15)),
    ("20260131", dt.datetime(2026, 1, 31)),
    (" 2026-01-31 ", dt.datetime(2026, 1, 31)),
]
_BAD_BOUNDS = ["2026-02-30", "first of May", "now", "31.01.2026", "2026-01-31T08:00+01:00", "2026-01-31T08:00Z"]


@pytest.mark.parametrize(("text", "expected"), _BOUNDS)
def test_period_bound_parses_iso_text_the_same_everywhere(text, expected):
    from dmslab.analysis.parameters import day
    from dmslab.cli._common import iso_datetime

    assert period_bound(text) == expected
    assert StudyFilter(start=text).start == expected
    assert day(text) == expected
    assert iso_datetime(text) == expected


@pytest.mark.parametrize("text", _BAD_BOUNDS)
def test_period_bound_rejects_the_same_text_everywhere(text):
    import argparse

    from dmslab.analysis.parameters import day
    from dmslab.cli._common import iso_datetime

    for call, error in ((period_bound, FilterError), (lambda t: StudyFilter(end=t), FilterError),
                        (day, ValueError), (iso_datetime, argparse.ArgumentTypeError)):
        with pytest.raises(error, match=re.escape(repr(text))):
            call(text)


def test_period_bound_types():
    assert period_bound(None) is None and period_bound("") is None
    assert period_bound(dt.date(2026, 3, 1)) == dt.datetime(2026, 3, 1)
    assert period_bound(dt.datetime(2026, 3, 1, 7)) == dt.datetime(2026, 3, 1, 7)
    with pytest.raises(TypeError, match="end must be a datetime"):
        period_bound(20260131, "end")
    with pytest.raises(FilterError, match="time zone"):
        period_bound(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
