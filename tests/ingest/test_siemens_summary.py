"""Siemens proprietary radiation summary SR (99SMS_RADSUM): totals from a hand-built document."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dmslab.ingest import parse_file


def _code(scheme: str, value: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _num(value: str, code: str, unit: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "NUM"
    item.ConceptNameCodeSequence = [_code("99SMS_RADSUM", code, code)]
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = [_code("UCUM", unit, unit)]
    item.MeasuredValueSequence = [mv]
    return item


def _summary(path, dap: str = "25.3", unit: str = "Gy.cm^2"):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.88.22", "1.2.3.4.5"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4", "1.2.3.4.1"
    ds.StudyDate, ds.StudyTime, ds.Modality = "20200101", "101010", "SR"
    ds.PatientID, ds.Manufacturer, ds.ManufacturerModelName = "P1", "SIEMENS", "ARCADIS Varic"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code("99SMS_RADSUM", "C-10", "Radiation Summary")]
    ds.ContentSequence = [_num("12", "C-200", "1"), _num("95.5", "C-202", "s"), _num(dap, "C-204", unit)]
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_totals_in_canonical_units_with_the_unit_quirk_recorded(tmp_path, pseudo):
    out = parse_file(_summary(tmp_path / "sum.dcm"), pseudo)
    assert out.reason is None, out.detail
    rep = out.report
    assert rep.study.modality == "RF" and rep.n_events == 0
    assert rep.study.total_dap_gym2 == pytest.approx(25.3e-4) and rep.study.fluoro_time_s == 95.5
    assert rep.planes[0].n_frames == 12 and rep.planes[0].dap_total_gym2 == pytest.approx(25.3e-4)
    assert "dap_total_gym2: Gy.cm^2" in rep.planes[0].unit_fixes
    assert rep.source.importer == "siemens_summary"


def test_summary_without_dap_is_rejected_with_reason(tmp_path, pseudo):
    path = _summary(tmp_path / "sum.dcm")
    ds = pydicom.dcmread(path)
    del ds.ContentSequence[2]
    ds.save_as(path)
    assert parse_file(path, pseudo).reason == "missing_required_concept"
