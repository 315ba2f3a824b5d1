"""The OCR importer's header rule, its missing-tesseract error and the review logic (no tesseract needed)."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset

from dmslab.errors import IngestError
from dmslab.ingest.ocr import OcrImporter, _engine, is_dose_screen
from dmslab.ingest.ocr._checks import agreed_total as _total
from dmslab.ingest.ocr._layouts import Reading, RowReading, ScreenReading
from dmslab.ingest.ocr.screen import Value, _agree
from dmslab.records import SourceRecord

SC = "1.2.840.10008.5.1.4.1.1.7"


def _ds(sop: str = SC, modality: str = "CT", series: str = "", pixels: bool = True) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.Modality, ds.SeriesDescription = sop, modality, series
    if pixels:
        ds.PixelData = b"\0" * 4
    return ds


@pytest.mark.parametrize(("ds", "expected"), [
    (_ds(), True),
    (_ds(modality="OT", series="Dose Report"), True),
    (_ds(modality="OT", series="Patient Protocol"), True),
    (_ds(modality="OT", series="3D volume render"), False),
    (_ds(sop="1.2.840.10008.5.1.4.1.1.2"), False),
    (_ds(sop="1.2.840.10008.5.1.4.1.1.88.67"), False),
    (_ds(pixels=False), False),
])
def test_can_ingest_rule(ds, expected):
    assert is_dose_screen(ds) is expected
    assert OcrImporter().can_ingest(ds) is expected


def test_without_tesseract_a_clear_error(monkeypatch, tmp_path, pseudo):
    from dmslab.synth.screens import write_screen

    truth = write_screen(tmp_path / "s.dcm", "ge", 1)
    monkeypatch.setattr(_engine, "_load", lambda: None)
    with pytest.raises(IngestError) as info:
        OcrImporter().ingest(pydicom.dcmread(truth.path), pseudonymise=pseudo, source=SourceRecord(sha256="x"))
    assert info.value.reason == "no_importer" and "install tesseract-ocr" in info.value.detail


@pytest.mark.parametrize(("a", "b", "value", "reason"), [
    (Value(12.34, "12.34", 95), Value(12.34, "12.34", 91), 12.34, None),
    (Value(12.34, "12.34", 61), Value(12.34, "12.34", 70), None, "conf 70 < 80"),
    (Value(12.34, "12.34", 95), Value(12.84, "12.84", 95), None, "reads disagree"),
    (Value(12.34, "12.34", 95), None, None, "one read only"),
    (None, None, None, "not read"),
])
def test_agreement_and_confidence(a, b, value, reason):
    got, flag = _agree("ctdivol_mgy", a, b, 80.0)
    assert got == value
    assert (flag is None) if reason is None else (reason in flag and flag.startswith("ocr_review: ctdivol_mgy"))


def _reading(total: str) -> ScreenReading:
    return ScreenReading("ge", (RowReading(0, "", {}, True),), Reading(total, 96.0))


def test_total_matching_rows_is_kept():
    total, flags, withdraw, _ = _total((_reading("523.10"), _reading("523.10")), [300.05, 223.05], 80.0)
    assert total == 523.10 and flags == [] and not withdraw


def test_total_disagreeing_with_rows_is_flagged_and_not_stored():
    total, flags, withdraw, _ = _total((_reading("523.10"), _reading("523.10")), [300.05, 232.05], 80.0)
    assert total is None and withdraw
    assert flags == ["ocr_review: total DLP 523.10 != sum of rows 532.10; total and row DLPs not stored"]


def test_a_tesseract_run_past_its_guard_is_killed_and_the_file_rejected_as_unreadable(monkeypatch, tmp_path):
    """OCR_TIMEOUT_S is a liveness guard (a stuck tesseract never stalls an ingest); set below any real run's
    time here, the run is killed and parse_file returns the file as unreadable, with the reason."""
    import shutil

    from dmslab.ingest import parse_file
    from dmslab.pseudonym import Pseudonymiser
    from dmslab.synth.screens import write_screen

    if shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr is not installed")
    truth = write_screen(tmp_path / "s.dcm", "ge", 1)
    monkeypatch.setattr(_engine, "OCR_TIMEOUT_S", 1e-4)
    outcome = parse_file(truth.path, Pseudonymiser(bytes(32)))
    assert outcome.report is None and outcome.reason == "unreadable"
    assert "tesseract did not finish within 0.0001 s" in (outcome.detail or "")
