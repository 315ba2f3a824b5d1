"""``dmslab export`` (issue 15 item 1): CSV, XLSX and Parquet of the synthetic department against its ground
truth — every event once, the exam's events together, units in the headers, the analysis filters, no identifier
unless the settings grant it, ages in bands, streamed in chunks with the same result, never overwriting."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
import pytest

from dmslab.config import load_settings
from dmslab.export import age_band_labels, export
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import IDENTIFIER_COLUMNS, Store, StudyFilter


@pytest.fixture(scope="module")
def site(department, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)
    ingest_paths([department[0]], settings)
    return settings, department[1]


@pytest.fixture()
def store(site):
    s = Store(site[0].database_url, read_only=True)
    yield s
    s.close()


def _ct(truth, *, room=None, start=None, end=None):
    return [s for s in truth.studies if s.modality == "CT" and (room is None or s.station_name == room)
            and (start is None or s.study_datetime >= start) and (end is None or s.study_datetime < end)]


def test_csv_has_every_event_once_grouped_by_exam_with_units(store, site, tmp_path):
    truth = site[1]
    out = tmp_path / "ct.csv"
    summary = export(store, out, modality="CT", where=StudyFilter(include_non_patient=True))
    df = pd.read_csv(out)
    studies = _ct(truth)
    assert summary.exams == len(studies) and summary.events == len(df) == sum(len(s.events) for s in studies)
    assert {"ctdivol_mgy [mGy]", "dlp_mgycm [mGy.cm]", "scan_length_mm [mm]", "kvp [kV]", "weight_kg [kg]",
            "room", "exam", "study_datetime"} <= set(df.columns)
    # per exam: the DLPs of its events, as the ground truth has them, in the exam's room and time
    got = Counter((r.room, r.study_datetime[:16], round(r.dlp, 3))
                  for r in df.groupby("exam").agg(room=("room", "first"), study_datetime=("study_datetime", "first"),
                                                  dlp=("dlp_mgycm [mGy.cm]", "sum")).itertuples())
    want = Counter((s.station_name, s.study_datetime[:16], round(sum(e.dlp_mgycm or 0 for e in s.events), 3))
                   for s in studies)
    assert got == want
    assert df["exam"].is_monotonic_increasing and df["exam"].nunique() == len(studies)
    text = out.read_text()
    assert not any(s.study_uid in text or s.accession_number in text or s.patient_id in text for s in studies)
    assert not IDENTIFIER_COLUMNS & {c.split(" [")[0] for c in df.columns}


def test_filters_select_what_the_analysis_selects(store, site, tmp_path):
    truth = site[1]
    start, end = "2026-01-10", "2026-01-20"
    room = truth.rooms[0].station_name
    where = StudyFilter(start=start, end=end, rooms=(room,), include_non_patient=True)
    summary = export(store, tmp_path / "f.csv", modality="CT", where=where)
    chosen = _ct(truth, room=room, start=start, end=end)
    assert summary.exams == len(chosen) > 0 and summary.events == sum(len(s.events) for s in chosen)
    df = pd.read_csv(tmp_path / "f.csv")
    assert set(df["room"]) == {room} and df["study_datetime"].min() >= start and df["study_datetime"].max() < end


def test_chunks_do_not_change_the_file(store, tmp_path):
    export(store, tmp_path / "one.csv", modality="CT")
    export(store, tmp_path / "many.csv", modality="CT", chunk_rows=7)  # exams cross chunk boundaries
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()


def test_parquet_holds_the_same_values_typed_with_units(store, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    export(store, tmp_path / "ct.csv", modality="CT")
    export(store, tmp_path / "ct.parquet", modality="CT", chunk_rows=50)
    a, b = pd.read_csv(tmp_path / "ct.csv"), pd.read_parquet(tmp_path / "ct.parquet")
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    pd.testing.assert_series_equal(a["dlp_mgycm [mGy.cm]"], b["dlp_mgycm [mGy.cm]"])
    assert b["study_datetime"].dtype.kind == "M"
    schema = pq.read_schema(tmp_path / "ct.parquet")
    assert schema.field("ctdivol_mgy [mGy]").metadata[b"unit"] == b"mGy"
    assert pq.ParquetFile(tmp_path / "ct.parquet").num_row_groups > 1  # written chunk by chunk


def test_xlsx_has_a_summary_and_a_sheet_per_protocol(store, site, tmp_path):
    pytest.importorskip("xlsxwriter")
    pytest.importorskip("openpyxl")
    summary = export(store, tmp_path / "ct.xlsx", modality="CT")
    sheets = pd.read_excel(tmp_path / "ct.xlsx", sheet_name=None)
    s = sheets.pop("Summary").set_index("protocol")
    assert int(s["events"].sum()) == summary.events and int(s["exams"].sum()) == summary.exams
    for protocol, row in s.iterrows():
        sheet = sheets[row["sheets"]]
        assert len(sheet) == row["events"] and sheet["exam"].nunique() == row["exams"]
        names = sheet["standard_name"].fillna(sheet["study_description"])
        assert set(names) == {protocol}
        assert row["median dlp_mgycm [mGy.cm]"] == pytest.approx(sheet["dlp_mgycm [mGy.cm]"].median())
    assert sum(len(v) for v in sheets.values()) == summary.events


def test_identifiers_only_when_asked(store, site, tmp_path):
    truth = site[1]
    export(store, tmp_path / "ids.csv", modality="CT", identifiers=True, where=StudyFilter(include_non_patient=True))
    df = pd.read_csv(tmp_path / "ids.csv")
    assert set(df["study_uid"]) == {s.study_uid for s in _ct(truth)}
    assert set(df["event_uid"]) == {e.event_uid for s in _ct(truth) for e in s.events}
    assert df["patient_key"].str.fullmatch(r"[0-9a-f]{64}").all()  # pseudonyms, never the patient ID
    assert not set(df["patient_key"]) & {s.patient_id for s in truth.studies}


def test_ages_in_bands(store, site, tmp_path):
    truth = site[1]
    bounds = (0, 1, 5, 10, 15, 18, 65)
    export(store, tmp_path / "b.csv", modality="CT", age_bands=bounds, identifiers=True)
    df = pd.read_csv(tmp_path / "b.csv", dtype={"age_band": str}).drop_duplicates("study_uid")
    assert "age_years" not in df.columns
    labels = age_band_labels(bounds)
    age = {s.study_uid: s.patient_age_years for s in truth.studies}
    for uid, band in zip(df["study_uid"], df["age_band"], strict=True):
        expected = next(label for low, label in zip(reversed(bounds), reversed(labels), strict=True)
                        if age[uid] >= low)
        assert band == expected
    with pytest.raises(ValueError, match="ascending"):
        age_band_labels([0, 18, 5])


def test_never_overwrites_and_leaves_no_partial_file(store, tmp_path):
    out = tmp_path / "x.csv"
    out.write_text("keep")
    with pytest.raises(FileExistsError, match="never overwrites"):
        export(store, out, modality="CT")
    assert out.read_text() == "keep"
    with pytest.raises(ValueError, match="unknown export format"):
        export(store, tmp_path / "x.json", modality="CT")
    with pytest.raises(ValueError, match="no export for modality 'US'"):
        export(store, tmp_path / "y.csv", modality="US")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_an_empty_selection_writes_the_header(store, tmp_path):
    summary = export(store, tmp_path / "e.csv", modality="CT", where=StudyFilter(start=dt.datetime(2099, 1, 1)))
    assert summary.events == 0 and "dlp_mgycm [mGy.cm]" in (tmp_path / "e.csv").read_text().splitlines()[0]


def test_the_command_refuses_identifiers_the_settings_do_not_grant(site, tmp_path, monkeypatch, capsys):
    from dmslab.cli import main

    settings = site[0]
    for k in [k for k in __import__("os").environ if k.startswith("DMSLAB_")]:
        monkeypatch.delenv(k)
    base = ["--home", str(settings.home), "--database-url", settings.database_url, "export", "--modality", "CT",
            "--quiet"]
    assert main([*base, "--with-identifiers", str(tmp_path / "a.csv")]) != 0
    assert "export_identifiers" in capsys.readouterr().err and not (tmp_path / "a.csv").exists()
    monkeypatch.setenv("DMSLAB_EXPORT_IDENTIFIERS", "true")
    assert main([*base, "--with-identifiers", str(tmp_path / "a.csv")]) == 0
    assert "with identifiers" in capsys.readouterr().out
    assert "study_uid" in (tmp_path / "a.csv").read_text().splitlines()[0]
    monkeypatch.delenv("DMSLAB_EXPORT_IDENTIFIERS")
    assert main([*base, "--room", site[1].rooms[0].station_name, str(tmp_path / "b.parquet")]) == 0
    assert "anonymised" in capsys.readouterr().out
    assert set(pd.read_parquet(tmp_path / "b.parquet")["room"]) == {site[1].rooms[0].station_name}
