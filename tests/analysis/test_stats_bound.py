"""The Arrow (ADBC) fast path of the statistics sends filter values as bound parameters, never inside the SQL
text, and returns the same rows as the SQLAlchemy path and the ground truth (IN lists, datetimes, quotes)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd
import pytest

from dmslab.analysis.stats import Filters, metric_values
from dmslab.store import METRICS, Selection
from dmslab.store import _aggregate as agg

INJECTION = "x' OR '1'='1"


class _SpyCursor:
    def __init__(self, cur: Any, seen: list[tuple[str, Any]]) -> None:
        self.cur, self.seen = cur, seen

    def __enter__(self) -> _SpyCursor:
        self.cur.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cur.__exit__(*exc)

    def execute(self, sql: str, params: Any = None) -> None:
        self.seen.append((sql, params))
        self.cur.execute(sql, params)

    def fetch_arrow_table(self) -> Any:
        return self.cur.fetch_arrow_table()


class _SpyConnection:
    def __init__(self, conn: Any, seen: list[tuple[str, Any]]) -> None:
        self.conn, self.seen = conn, seen

    def __enter__(self) -> _SpyConnection:
        self.conn.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.__exit__(*exc)

    def cursor(self) -> _SpyCursor:
        return _SpyCursor(self.conn.cursor(), self.seen)


@pytest.fixture
def spied(filled, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[tuple[str, Any]]]:
    """The filled store, with every statement handed to the ADBC cursor recorded."""
    store, _settings = filled
    if agg.adbc(store) is None:
        pytest.skip(f"no ADBC driver for {store.engine.dialect.name}: the fast path is not used")
    seen: list[tuple[str, Any]] = []
    real = agg.adbc
    monkeypatch.setattr(agg, "adbc", lambda s: _SpyConnection(real(s), seen))
    return store, seen


def _slow(store: Any, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> pd.DataFrame:
    with monkeypatch.context() as m:
        m.setattr(agg, "adbc", lambda s: None)  # the SQLAlchemy path
        return metric_values(store, "ctdivol_mgy", **kw)


def _rows(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    return sorted(df.itertuples(index=False, name=None))


def _truth(truth: Any, rooms: set[str], start: dt.datetime, end: dt.datetime) -> list[float]:
    return sorted(e.ctdivol_mgy for s in truth.studies if s.modality == "CT" and s.station_name in rooms
                  and start <= dt.datetime.fromisoformat(s.study_datetime) < end for e in s.events
                  if e.ctdivol_mgy is not None and e.acquisition_type != "Constant Angle Acquisition")


def test_filter_values_are_bound_parameters(spied, department, monkeypatch: pytest.MonkeyPatch) -> None:
    store, seen = spied
    times = sorted(dt.datetime.fromisoformat(s.study_datetime) for s in department[1].studies)
    start, end = times[len(times) // 4], times[3 * len(times) // 4]  # study times, not midnight: exact bounds
    filters = Filters(start=start, end=end, rooms=("CT1", "CT2"))
    fast = metric_values(store, "ctdivol_mgy", by=("room",), filters=filters)
    ((sql, params),) = seen
    for literal in ("CT1", "CT2", str(start.year), "'CT"):
        assert literal not in sql
    assert "CT1" in params and "CT2" in params
    assert sql.count("?" if store.engine.dialect.name == "sqlite" else "$") == len(params)
    assert _rows(fast) == _rows(_slow(store, monkeypatch, by=("room",), filters=filters))
    want = _truth(department[1], {"CT1", "CT2"}, start, end)
    assert sorted(fast["value"]) == pytest.approx(want) and len(want) > 0
    assert set(fast["room"]) == {"CT1", "CT2"}


def test_quotes_in_a_filter_value_are_only_a_value(spied, department, monkeypatch: pytest.MonkeyPatch) -> None:
    store, seen = spied
    assert metric_values(store, "ctdivol_mgy", filters=Filters(modality=INJECTION)).empty
    everything = (dt.datetime.min, dt.datetime.max)
    ct1 = metric_values(store, "ctdivol_mgy", by=("room",), filters=Filters(rooms=("CT1", INJECTION)))
    assert sorted(ct1["value"]) == pytest.approx(_truth(department[1], {"CT1"}, *everything))
    assert _rows(ct1) == _rows(_slow(store, monkeypatch, by=("room",), filters=Filters(rooms=("CT1", INJECTION))))
    assert all("OR '1'='1" not in sql and INJECTION in params for sql, params in seen)


def _placeholder_values(sql: str, params: list[Any], before: str) -> list[Any]:
    """The values bound to the placeholders that follow ``before`` up to the next closing parenthesis or AND."""
    tail = re.split(r"\)| AND ", sql.split(before, 1)[1], maxsplit=1)[0]
    if "?" in sql:
        first = sql.split(before, 1)[0].count("?")
        return params[first:first + tail.count("?")]
    return [params[int(n) - 1] for n in re.findall(r"\$(\d+)", tail)]


def test_bound_gives_each_value_its_placeholder(filled) -> None:
    store, _settings = filled
    query = agg._select(METRICS["ctdivol_mgy"], [agg._dims(store, None)["room"]],
                        Selection(rooms=("A", "B", "C"), start=dt.datetime(2026, 1, 5, 10, 30)))
    sql, params = agg.bound(store, query)
    assert "'A'" not in sql and "2026" not in sql
    assert _placeholder_values(sql, params, "display_name) IN (") == ["A", "B", "C"]
    stored = "2026-01-05 10:30:00.000000" if store.engine.dialect.name == "sqlite" else dt.datetime(2026, 1, 5, 10, 30)
    assert _placeholder_values(sql, params, "study.study_datetime >= ") == [stored]  # SQLite: the ISO text stored
    if store.engine.dialect.name == "sqlite":
        assert sql.count("?") == len(params)
    else:
        assert sorted({int(n) for n in re.findall(r"\$(\d+)", sql)}) == list(range(1, len(params) + 1))
