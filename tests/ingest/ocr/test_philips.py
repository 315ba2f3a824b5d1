"""Philips CT "Dose Info" Secondary Capture (header values) against the corpus expectations."""

from __future__ import annotations

import json

import pydicom
import pytest

from dmslab.ingest import find_importer, parse_file
from dmslab.ingest.ocr import OcrImporter, is_philips_dose_info

pytestmark = pytest.mark.requires_corpus
FILE = "CT-SC-Philips_Brilliance16P.dcm"


@pytest.fixture(scope="module")
def expected(corpus):
    values = json.loads((corpus / "expected.json").read_text())["files"][FILE]["values"]
    return {(v["quantity"], v["scope"]): v["value"] for v in values}


@pytest.fixture(scope="module")
def report(corpus):
    from dmslab.pseudonym import Pseudonymiser

    outcome = parse_file(corpus / "openrem" / FILE, Pseudonymiser(bytes(range(32))))
    assert outcome.reason is None, outcome.detail
    return outcome.report


def test_recognised_and_routed_to_ocr_importer(corpus):
    ds = pydicom.dcmread(corpus / "openrem" / FILE)
    assert is_philips_dose_info(ds)
    assert OcrImporter().can_ingest(ds)
    assert find_importer(ds).name == "ocr"


def test_study_values(report, expected):
    s = report.study
    assert s.source_kind == "header" and s.modality == "CT"
    assert s.total_dlp_mgycm == pytest.approx(expected[("study_total_dlp", "study")], rel=1e-6)
    assert len(report.ct_events) == expected[("study_number_of_events", "study")] == s.n_events_reported
    assert s.flags == ()
    assert report.equipment.station_name == "PHILIPS-E71E3F0"


@pytest.mark.parametrize(("acq_type", "quantity"), [("spiral", "study_number_of_spiral_events"),
                                                    ("sequenced", "study_number_of_axial_events"),
                                                    ("stationary", "study_number_of_stationary_events"),
                                                    ("constant_angle", "study_number_of_constant_angle_events")])
def test_event_types(report, expected, acq_type, quantity):
    assert sum(e.acquisition_type == acq_type for e in report.ct_events) == expected[(quantity, "study")]


def test_event_values(report, expected):
    ev = report.ct_events
    assert ev[0].kvp == expected[("kvp", "event[0]")]
    assert [e.dlp_mgycm for e in ev] == pytest.approx([0.0, 196.01, 248.585973, 657.85012])
    assert ev[1].ctdivol_mgy == pytest.approx(7.200978719152135)
    assert ev[1].ma == pytest.approx(165.044374) and ev[1].exposure_time_s == pytest.approx(6.986)
    assert ev[1].scan_length_mm == 231.0 and ev[1].acquisition_protocol == "PRE KIDNEYS"
    assert sum(e.dlp_mgycm for e in ev) == pytest.approx(report.study.total_dlp_mgycm, abs=1e-4)
    assert all(e.flags == () for e in ev)


def test_event_uids_are_stable_and_distinct(report, corpus):
    from dmslab.pseudonym import Pseudonymiser

    again = parse_file(corpus / "openrem" / FILE, Pseudonymiser(bytes(32))).report
    uids = [e.event_uid for e in report.ct_events]
    assert uids == [e.event_uid for e in again.ct_events]
    assert len(set(uids)) == 4 and all(u.startswith("2.25.") for u in uids)
