"""NM/PET and CT image headers (no database, no corpus)."""

from __future__ import annotations

import datetime as dt

import pytest
from _headers_make import NM, STUDY, ct, nm, write

from dmslab.errors import IngestError
from dmslab.ingest.headers import parse_header
from dmslab.ingest.headers._quirks import activity_unit
from dmslab.records import SourceRecord

SRC = SourceRecord(sha256="0" * 64, path="mem")


def _parse(ds, pseudo):
    return parse_header(write(ds), pseudonymise=pseudo, source=SRC)


def test_pet_administration_in_mbq_with_codes(pseudo):
    rep = _parse(nm(STUDY + ".30"), pseudo)
    assert rep.study.modality == "NM" and rep.study.source_kind == "header"
    (ev,) = rep.nm_events
    assert ev.activity_mbq == pytest.approx(350.0) and "activity_mbq: Bq" in ev.unit_fixes
    assert (ev.radionuclide, ev.radionuclide_code) == ("^18^Fluorine", "SCT:77004003")
    assert (ev.agent, ev.agent_code) == ("Fluorodeoxyglucose F^18^", "SCT:35321007")
    assert ev.comment == "radiopharmaceutical: FDG"
    assert ev.half_life_s == 6586.2
    assert ev.start_datetime == dt.datetime(2024, 3, 5, 9, 5)


def test_siemens_nm_activity_written_in_mbq_is_recognised(pseudo):
    (ev,) = _parse(nm(STUDY + ".31", sop_class=NM, total_dose="764"), pseudo).nm_events
    assert ev.activity_mbq == 764.0
    assert ev.unit_fixes == ("activity_mbq: MBq (quirk nm_total_dose_mbq)",)


@pytest.mark.parametrize(("value", "unit"), [(0.5, "MBq"), (99_999.0, "MBq"), (100_000.0, "Bq"), (3.7e4 * 1e3, "Bq")])
def test_activity_unit_rule_by_magnitude(value, unit):
    assert activity_unit(value)[0] == unit


def test_images_of_one_administration_share_the_event(pseudo):
    a = _parse(nm(STUDY + ".30"), pseudo).nm_events[0]
    b = _parse(nm(STUDY + ".32"), pseudo).nm_events[0]
    later = _parse(nm(STUDY + ".33", RadiopharmaceuticalStartDateTime="20240305140000"), pseudo).nm_events[0]
    linked = _parse(nm(STUDY + ".34", RadiopharmaceuticalAdministrationEventUID="1.2.3.9"), pseudo).nm_events[0]
    assert a.event_uid == b.event_uid != later.event_uid
    assert linked.event_uid == "1.2.3.9"


def test_start_time_without_datetime_uses_study_date(pseudo):
    ds = nm(STUDY + ".35")
    item = ds.RadiopharmaceuticalInformationSequence[0]
    del item.RadiopharmaceuticalStartDateTime
    item.RadiopharmaceuticalStartTime = "083000"
    assert _parse(ds, pseudo).nm_events[0].start_datetime == dt.datetime(2024, 3, 5, 8, 30)


def test_ct_slice_event(pseudo):
    rep = _parse(ct(STUDY + ".40"), pseudo)
    assert rep.study.modality == "CT"
    (ev,) = rep.ct_events
    assert (ev.ctdivol_mgy, ev.kvp, ev.ma, ev.pitch, ev.collimation_mm, ev.phantom_cm) == (
        12.5, 120.0, 200.0, 0.98, 40.0, 32)
    assert ev.exposure_time_s == pytest.approx(0.5) and "exposure_time_s: ms" in ev.unit_fixes


def test_ct_slices_of_one_acquisition_are_one_event(pseudo):
    a = _parse(ct(STUDY + ".40"), pseudo).ct_events[0]
    b = _parse(ct(STUDY + ".41"), pseudo).ct_events[0]
    c = _parse(ct(STUDY + ".42", AcquisitionNumber="3"), pseudo).ct_events[0]
    d = _parse(ct(STUDY + ".43", IrradiationEventUID="1.2.3.7"), pseudo).ct_events[0]
    assert a.event_uid == b.event_uid != c.event_uid and d.event_uid == "1.2.3.7"


@pytest.mark.parametrize("image_type", [["DERIVED", "SECONDARY", "MPR"], ["ORIGINAL", "SECONDARY"],
                                        ["DERIVED", "PRIMARY", "AXIAL"]])
def test_ct_secondary_reconstruction_is_rejected(pseudo, image_type):
    with pytest.raises(IngestError) as err:
        _parse(ct(STUDY + ".44", ImageType=image_type), pseudo)
    assert err.value.reason == "not_a_dose_report" and "secondary reconstruction" in err.value.detail


def test_ct_derived_primary_image_with_event_uid_joins_its_event(pseudo):
    rep = _parse(ct(STUDY + ".45", ImageType=["DERIVED", "PRIMARY", "AXIAL"], IrradiationEventUID="1.2.3.7"), pseudo)
    assert rep.ct_events[0].event_uid == "1.2.3.7"


def test_implausible_ctdivol_is_flagged_not_dropped(pseudo):
    ev = _parse(ct(STUDY + ".46", CTDIvol=5000.0), pseudo).ct_events[0]
    assert ev.ctdivol_mgy == 5000.0 and ev.flags
