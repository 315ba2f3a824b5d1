"""A manual report corrects the named events of a stored study (the OCR review path)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from dmslab.ingest.manual import read_manual_csv
from dmslab.jobs import ingest_paths
from dmslab.store import Store
from dmslab.store.schema import table


def test_manual_values_overwrite_and_clear_review_flags(department, settings):
    root, truth = department
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1 and len(s.events) >= 2)
    ingest_paths([root / study.files[0]], settings)
    store = Store(settings.database_url)
    ev = table("ct_event")
    target = study.events[-1].event_uid
    with store.engine.begin() as conn:  # as if OCR had left the value for review
        conn.execute(ev.update().where(ev.c.event_uid == target).values(
            ctdivol_mgy=None, flags="ocr_review: ctdivol_mgy read '1?.5' (conf 41 < 80)"))
    text = (f"study_uid,event_uid,ctdivol_mgy,entered_by,reason\n"
            f"{study.study_uid},{target},12.5,MPE J. Smith,OCR review\n")
    reports = list(read_manual_csv(io.StringIO(text)))
    summary = store.write(reports)
    assert summary.ingested == 1 and summary.new_events == 0
    row = store.read(sa.select(ev.c.ctdivol_mgy, ev.c.flags, ev.c.dlp_mgycm).where(ev.c.event_uid == target))
    assert row["ctdivol_mgy"].iloc[0] == 12.5
    assert row["flags"].iloc[0] is None
    assert row["dlp_mgycm"].iloc[0] == pytest.approx(study.events[-1].dlp_mgycm)  # untouched
    st = store.read("select n_events, total_dlp_mgycm, source_kind from study")
    assert int(st["n_events"].iloc[0]) == len(study.events)
    assert st["total_dlp_mgycm"].iloc[0] == pytest.approx(study.total_dlp_mgycm)
    assert st["source_kind"].iloc[0] == "rdsr"
    store.close()


def test_correct_command(department, settings, tmp_path, capsys):
    from dmslab.cli import main

    root, truth = department
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1)
    ingest_paths([root / study.files[0]], settings)
    target = study.events[-1].event_uid
    csv_path = tmp_path / "fix.csv"
    csv_path.write_text(f"study_uid,event_uid,dlp_mgycm,entered_by,reason\n{study.study_uid},{target},999.5,MPE,typo\n")
    rc = main(["-q", "--home", str(settings.home), "--database-url", settings.database_url, "correct", str(csv_path)])
    assert rc == 0 and "1 written" in capsys.readouterr().out
    store = Store(settings.database_url)
    ev = table("ct_event")
    assert store.read(sa.select(ev.c.dlp_mgycm).where(ev.c.event_uid == target))["dlp_mgycm"].iloc[0] == 999.5
    store.close()
