"""The columnar copy gives exactly the whole-table pandas numbers after writes, supersession, corrections, renames,
deletes and a rebuild (SQLite and PostgreSQL); a reader of a changed copy reads the changed chunks from the rows.

The reference reads the whole ``study``, ``equipment``, ``ct_event`` and ``proj_event`` tables into pandas and
groups them there: independent of the store's query code and of the copy.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import sqlalchemy as sa
from _images import ct_images, write_all

from dmslab.analysis.stats import Filters, summaries
from dmslab.jobs import ingest_paths
from dmslab.store import Store
from dmslab.store._columnar import COPIED, dirty_chunks
from dmslab.store.schema import table

BY = ["room", "study_description", "month"]
METRICS = {"ctdivol_mgy": ("ct_event", "CT"), "dlp_mgycm": ("study", "CT"), "dap_gym2": ("proj_event", "DX")}
STATS = ["n", "median", "mean", "min", "max", "sd"]


def _reference(store: Store, metric: str, filters: Filters) -> pd.DataFrame:
    """Whole tables into pandas, filtered and grouped there."""
    st, eq = store.table("study"), store.table("equipment")
    eq["room"] = eq["room"].fillna(eq["station_name"]).fillna(eq["display_name"])
    st = st.merge(eq[["id", "room"]].rename(columns={"id": "equipment_id"}), on="equipment_id", how="left")
    when = pd.to_datetime(st["study_datetime"])
    st["month"] = when.dt.strftime("%Y-%m")
    keep = st["exclusion_reason"].isna()
    if filters.start is not None:
        keep &= when >= filters.start
    if filters.end is not None:
        keep &= when < filters.end
    if filters.rooms:
        keep &= st["room"].isin(filters.rooms)
    source, modality = METRICS[metric]
    st = st[keep & (st["modality"] == modality)]
    st["room"] = st["room"].fillna("?")
    if source == "study":
        values = st[[*BY, "total_dlp_mgycm"]].rename(columns={"total_dlp_mgycm": "value"})
    else:
        ev = store.table(source)
        if source == "ct_event":
            ev = ev[ev["acquisition_type"] != "constant_angle"]
        values = ev[["study_id", metric]].rename(columns={metric: "value"}).merge(
            st[["id", *BY]].rename(columns={"id": "study_id"}), on="study_id")[[*BY, "value"]]
    values = values[values["value"].notna()]
    g = values.groupby(BY, sort=True, dropna=False)["value"]
    return g.agg(n="size", median="median", mean="mean", min="min", max="max", sd="std").reset_index()


def _assert_same(store: Store, filters: Filters = Filters(), engines: tuple[str, ...] = ("copy",)) -> None:
    for engine in engines:
        got = summaries(store, list(METRICS), by=BY, filters=filters, engine=engine)
        for metric in METRICS:
            want = _reference(store, metric, filters).set_index(BY)
            have = got[metric].set_index(BY)
            assert len(want) > 0 or metric == "dap_gym2"
            assert list(have.index) == list(want.index), (engine, metric)
            for col in ("n", "median", "min", "max"):  # the same values: the same numbers, exactly
                assert have[col].to_numpy(dtype=float).tolist() == want[col].to_numpy(dtype=float).tolist(), \
                    (engine, metric, col)
            for col in ("mean", "sd"):  # summation order may differ
                np.testing.assert_allclose(have[col].to_numpy(dtype=float), want[col].to_numpy(dtype=float),
                                           rtol=1e-12, err_msg=f"{engine} {metric} {col}")


def _copy_files(files, folder):
    folder.mkdir()
    for k, f in enumerate(files):
        shutil.copy(f, folder / f"{k:03d}_{f.name}")
    return folder


def test_copy_follows_every_write(department, settings, tmp_path, caplog) -> None:
    root, truth = department
    files = sorted(p for p in root.rglob("*") if p.is_file())
    store = Store(settings.database_url)
    ingest_paths([_copy_files(files[: len(files) // 2], tmp_path / "first")], settings, store=store)
    store.refresh_columnar()
    with store.engine.connect() as conn:
        assert dirty_chunks(conn) == set()
    _assert_same(store, engines=("copy", "sql"))

    # more objects: `dmslab ingest` re-packs what it changed at the end of its run
    ingest_paths([_copy_files(files[len(files) // 2:], tmp_path / "second")], settings, store=store)
    with store.engine.connect() as conn:
        assert dirty_chunks(conn) == set()
    _assert_same(store)

    # a writer that does not refresh (a delete here): the changed chunk is read from the rows, and the reader
    # says so
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1 and len(s.events) >= 2)
    st = table("study")
    with store.engine.begin() as conn:
        conn.execute(st.delete().where(st.c.study_uid == study.study_uid))
    with store.engine.connect() as conn:
        assert dirty_chunks(conn)
    with caplog.at_level(logging.INFO, logger="dmslab.store._columnar"):
        _assert_same(store)
    assert "read from the row tables" in caplog.text
    store.refresh_columnar()
    _assert_same(store)

    # a better dose source supersedes stored events: CT images first, then their RDSR
    images = write_all(ct_images(study), tmp_path / "images")
    ingest_paths([_copy_files(images, tmp_path / "imgs")], settings, store=store)
    _assert_same(store)
    store.refresh_columnar()
    ingest_paths([_copy_files([root / study.files[0]], tmp_path / "rdsr")], settings, store=store)
    superseded = store.read("select count(*) as n from source_object where status = 'superseded'")["n"].iloc[0]
    assert superseded == len(images)
    _assert_same(store)
    store.refresh_columnar()
    _assert_same(store)

    # corrections, a rename and a room change by other writers (plain SQL), then a rebuild
    ev, eq = table("ct_event"), table("equipment")
    with store.engine.begin() as conn:
        first = conn.execute(sa.select(ev.c.id).order_by(ev.c.id).limit(5)).scalars().all()
        conn.execute(ev.update().where(ev.c.id.in_(first)).values(ctdivol_mgy=ev.c.ctdivol_mgy * 3))
        conn.execute(st.update().where(st.c.modality == "CT", st.c.id % 3 == 0)
                     .values(study_description="renamed"))
        conn.execute(eq.update().where(eq.c.id == 1).values(room="Room renamed"))
    _assert_same(store)
    times = sorted(pd.to_datetime(store.table("study")["study_datetime"]))
    period = Filters(start=times[len(times) // 4], end=times[3 * len(times) // 4], rooms=("Room renamed", "CT2"))
    _assert_same(store, period, engines=("copy", "sql"))
    assert store.refresh_columnar() >= 1
    _assert_same(store)
    _assert_same(store, period)
    store.close()


def test_only_copied_columns_mark_a_chunk(settings) -> None:
    """Every copied column marks its chunk when it changes; a column the copy does not hold does not; a delete
    marks it."""
    store = Store(settings.database_url)
    st, ev = table("study"), table("ct_event")
    with store.engine.begin() as conn:
        sid = conn.execute(st.insert().values(study_uid="1.2.3", modality="CT", source_kind="rdsr", n_events=0)
                           .returning(st.c.id)).scalar_one()
        conn.execute(ev.insert().values(study_id=sid, event_uid="e1", ctdivol_mgy=1.0))
    store.refresh_columnar()
    values = {"id": None, "modality": "DX", "equipment_id": None, "study_datetime": pd.Timestamp("2026-01-02 03:04"),
              "standard_name": "Head", "study_description": "x", "exclusion_reason": "qa", "age_years": 40.0,
              "weight_kg": 70.0, "total_dlp_mgycm": 2.0, "total_dap_gym2": 2.0, "total_rp_dose_gy": 2.0,
              "fluoro_time_s": 2.0, "study_id": None, "ctdivol_mgy": 5.0, "acquisition_type": "spiral",
              "dap_gym2": 1.0, "agd_mgy": 1.0}
    for col in COPIED["study"] + COPIED["ct_event"]:
        if values[col] is None:  # keys
            continue
        t = st if col in COPIED["study"] else ev
        key = t.c.id if t is st else t.c.study_id
        with store.engine.begin() as conn:
            conn.execute(t.update().where(key == sid).values({col: values[col]}))
            assert dirty_chunks(conn) == {sid // 32768}, col
        store.refresh_columnar()
    with store.engine.begin() as conn:
        conn.execute(st.update().where(st.c.id == sid).values(flags="checked"))
        assert dirty_chunks(conn) == set()
        conn.execute(ev.delete().where(ev.c.study_id == sid))
        assert dirty_chunks(conn) == {sid // 32768}
    store.refresh_columnar()
    with store.engine.begin() as conn:
        conn.execute(st.delete().where(st.c.id == sid))
        assert dirty_chunks(conn) == {sid // 32768}
    store.close()
