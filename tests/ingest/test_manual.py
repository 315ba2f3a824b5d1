"""Manual entry / correction CSV: parsing and validation (no store)."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from dmslab.ingest.manual import ManualEntryError, read_manual_csv

HEAD = "study_uid,event_uid,acquisition_protocol,acquisition_type,ctdivol_mgy,dlp_mgycm,phantom_cm," \
       "study_datetime,station_name,modality,total_dlp_mgycm,entered_by,reason\n"


def _read(rows: str):
    return read_manual_csv(io.StringIO(HEAD + rows))


def test_rows_grouped_into_studies():
    reports = _read("1.2.3,1.2.3.9,Head,spiral,47.1,790.5,16,2024-03-01T10:15:00,CT1,CT,800.5,J Smith,OCR review\n"
                    "1.2.3,,Head,constant_angle,,10,,,,,,J Smith,OCR review\n"
                    "1.2.4,,Chest,spiral,8.5,290,32,,CT2,,,A Jones,typed from paper\n")
    assert [r.study.study_uid for r in reports] == ["1.2.3", "1.2.4"]
    a = reports[0]
    assert a.study.source_kind == "manual" and a.study.modality == "CT"
    assert a.study.study_datetime == dt.datetime(2024, 3, 1, 10, 15) and a.study.total_dlp_mgycm == 800.5
    assert a.equipment.station_name == "CT1" and a.source.importer == "manual"
    e0, e1 = a.ct_events
    assert (e0.event_uid, e0.ctdivol_mgy, e0.dlp_mgycm, e0.phantom_cm) == ("1.2.3.9", 47.1, 790.5, 16)
    assert e1.ctdivol_mgy is None and e1.dlp_mgycm == 10.0 and e1.event_uid.startswith("2.25.")
    assert e0.comment == "manual entry by J Smith: OCR review"


def test_derived_event_uids_are_stable():
    row = "1.2.3,,Head,spiral,47.1,790.5,16,,,,,J Smith,x\n"
    assert _read(row)[0].ct_events[0].event_uid == _read(row)[0].ct_events[0].event_uid


@pytest.mark.parametrize(("row", "message"), [
    ("1.2.3,,Head,spiral,abc,790.5,16,,,,,J,x\n", "line 2, column ctdivol_mgy: cannot read 'abc' as float"),
    ("1.2.3,,Head,spiral,5000,790.5,16,,,,,J,x\n", "line 2, column ctdivol_mgy: ctdivol_mgy=5000.0: above"),
    ("1.2.3,,Head,spiral,47,-3,16,,,,,J,x\n", "line 2, column dlp_mgycm: dlp_mgycm=-3.0: below"),
    ("1.2.3,,Head,spiral,47,790,24,,,,,J,x\n", "line 2, column phantom_cm: 24 not allowed"),
    ("1.2.3,,Head,spiral,47,790,16,,,,,,x\n", "line 2, column entered_by: required"),
    (",,Head,spiral,47,790,16,,,,,J,x\n", "line 2, column study_uid: required"),
    ("1.2.3,,Head,spiral,47,790,16,yesterday,,,,J,x\n", "line 2, column study_datetime"),
    ("1.2.3,,Head,spiral,47,790,16,,,MR,,J,x\n", "line 2, column modality: 'MR' not allowed"),
    ("1.2.3,,H,spiral,47,790,16,,CT1,,,J,x\n1.2.3,,H,spiral,47,790,16,,CT2,,,J,x\n",
     "line 3, column station_name: 'CT2' differs from 'CT1' on line 2"),
])
def test_bad_values_name_line_and_column(row, message):
    with pytest.raises(ManualEntryError, match=None) as info:
        _read(row)
    assert message in str(info.value)


def test_unknown_column():
    with pytest.raises(ManualEntryError, match="unknown column"):
        read_manual_csv(io.StringIO("study_uid,ctdi\n1.2.3,4\n"))


def test_file_path(tmp_path):
    p = tmp_path / "manual.csv"
    p.write_text(HEAD + "1.2.3,,Head,spiral,47.1,790.5,16,,,,,J Smith,OCR review\n", encoding="utf-8")
    (rep,) = read_manual_csv(p)
    assert rep.source.path == str(p) and len(rep.source.sha256) == 64
