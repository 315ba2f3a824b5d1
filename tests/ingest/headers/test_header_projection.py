"""DX/CR and MG image headers: values, unit conversions and vendor quirks (no database, no corpus)."""

from __future__ import annotations

import datetime as dt

import pytest
from _headers_make import CR, MG_PROC, SC, STUDY, dx, mg, set_raw, write

from dmslab.errors import IngestError, VendorQuirkWarning
from dmslab.ingest import find_importer
from dmslab.ingest.headers import HeaderImporter, parse_header
from dmslab.records import SourceRecord

SRC = SourceRecord(sha256="0" * 64, path="mem")


def _parse(ds, pseudo):
    return parse_header(write(ds), pseudonymise=pseudo, source=SRC)


def test_dx_values_in_canonical_units_with_conversions_recorded(pseudo):
    rep = _parse(dx(), pseudo)
    ev = rep.proj_events[0]
    assert rep.study.modality == "DX" and rep.study.source_kind == "header"
    assert ev.dap_gym2 == pytest.approx(2.5e-5)
    assert rep.study.total_dap_gym2 == pytest.approx(2.5e-5)
    assert ev.esak_mgy == pytest.approx(0.35)
    assert ev.exposure_uas == pytest.approx(4000.0)
    assert (ev.kvp, ev.exposure_time_ms, ev.ma, ev.dsd_mm) == (70.0, 12.0, 250.0, 1100.0)
    assert (ev.ei, ev.tei, ev.di) == (250.0, 300.0, -0.8)
    assert ev.filter_material == "Aluminum or Aluminum compound+Copper or Copper compound"
    assert ev.filter_thickness_mm == pytest.approx(1.1)
    assert ev.grid == "DCM:111642+DCM:111643"
    assert ev.event_datetime == dt.datetime(2024, 3, 5, 10, 17, 33)
    assert "dap_gym2: dGy.cm2" in ev.unit_fixes and "exposure_uas: mAs" in ev.unit_fixes
    assert ev.flags == ()
    assert rep.source.importer == "header" and rep.source.sop_instance_uid == STUDY + ".10"
    assert rep.study.study_datetime == dt.datetime(2024, 3, 5, 10, 15)
    assert rep.study.age_years == 54.0 and rep.patient is not None and rep.patient.sex == "F"


def test_exposure_in_uas_preferred_over_mas(pseudo):
    ev = _parse(dx(ExposureInuAs="3950"), pseudo).proj_events[0]
    assert ev.exposure_uas == 3950.0
    assert not any(f.startswith("exposure_uas") for f in ev.unit_fixes)


def test_kodak_comma_filters_swapped_thickness_and_sid_in_dm(pseudo):
    ds = dx(Manufacturer="KODAK", DistanceSourceToDetector="11.5", RelativeXRayExposure="1430")
    set_raw(ds, 0x00187050, "CS", "ALUMINUM,COPPER")
    set_raw(ds, 0x00187052, "DS", "1.06,0.206")
    set_raw(ds, 0x00187054, "DS", "0.94,0.194")
    with pytest.warns(VendorQuirkWarning, match="swapped"):
        ev = _parse(ds, pseudo).proj_events[0]
    assert ev.filter_material == "Aluminum or Aluminum compound+Copper or Copper compound"
    assert ev.filter_thickness_mm == pytest.approx(1.06 + 0.206)
    assert ev.dsd_mm == pytest.approx(1150.0)
    assert "dsd_mm: dm (quirk kodak_sid_dm)" in ev.unit_fixes
    assert any("kodak_swapped_min_max" in f for f in ev.unit_fixes)
    assert ev.relative_exposure == 1430 and ev.relative_exposure_kind == "EI (Mbels)"


def test_siemens_filter_type_gives_material_and_thickness(pseudo):
    ds = dx(Manufacturer="SIEMENS", FilterType="CU_0.2_MM")
    del ds.FilterMaterial, ds.FilterThicknessMinimum, ds.FilterThicknessMaximum
    ev = _parse(ds, pseudo).proj_events[0]
    assert (ev.filter_material, ev.filter_thickness_mm) == ("Copper or Copper compound", 0.2)


def test_decimal_in_integer_string_is_read(pseudo):
    ds = dx()
    set_raw(ds, 0x00181150, "IS", "12.5")  # ExposureTime, illegal decimal (Kodak)
    assert _parse(ds, pseudo).proj_events[0].exposure_time_ms == 12.5


def test_implausible_dap_is_stored_flagged(pseudo):
    ev = _parse(dx(ImageAndFluoroscopyAreaDoseProduct="250000"), pseudo).proj_events[0]
    assert ev.dap_gym2 == pytest.approx(2.5)
    assert any(f.startswith("dap_gym2=") and "above plausible maximum" in f for f in ev.flags)


def test_mammogram_agd_in_mgy_laterality_view_and_study_agd(pseudo):
    rep = _parse(mg(STUDY + ".20"), pseudo)
    ev = rep.proj_events[0]
    assert rep.study.modality == "MG"
    assert ev.agd_mgy == pytest.approx(1.23) and "agd_mgy: dGy" in ev.unit_fixes
    assert (ev.esak_mgy, ev.compression_mm, ev.compression_n) == (5.1, 53.0, 90.0)
    assert (ev.laterality, ev.view) == ("L", "cranio-caudal")
    assert ev.anode == "Tungsten or Tungsten compound" and ev.filter_material == "Rhodium or Rhodium compound"
    assert ev.exposure_uas == 60000.0
    assert rep.study.agd_left_mgy == pytest.approx(1.23) and rep.study.agd_right_mgy is None


def test_for_processing_and_presentation_copies_share_the_event_uid(pseudo):
    pres = _parse(mg(STUDY + ".20"), pseudo).proj_events[0]
    proc = _parse(mg(STUDY + ".21", sop_class=MG_PROC, ContentTime="102240"), pseudo).proj_events[0]
    other = _parse(mg(STUDY + ".22", AcquisitionTime="102512.000000"), pseudo).proj_events[0]
    right = _parse(mg(STUDY + ".23", ImageLaterality="R"), pseudo).proj_events[0]
    assert pres.event_uid == proc.event_uid and pres.event_uid.startswith("2.25.")
    assert len({pres.event_uid, other.event_uid, right.event_uid}) == 3


def test_irradiation_event_uid_wins(pseudo):
    ev = _parse(mg(STUDY + ".20", IrradiationEventUID="1.2.3.4.5"), pseudo).proj_events[0]
    assert ev.event_uid == "1.2.3.4.5"


@pytest.mark.parametrize(("force", "model", "want", "fixed"), [
    ("90", "Senograph DS ADS_43.10.1", 90.0, False),  # plausible in N: kept
    ("900", "Senograph DS ADS_43.10.1", 90.0, True),  # implausible in N from a Senograph DS: dN
    ("900", "Selenia Dimensions", 900.0, False),  # other models: as sent, flagged implausible
])
def test_ge_senograph_ds_compression_force_quirk(pseudo, force, model, want, fixed):
    ev = _parse(mg(STUDY + ".20", CompressionForce=force, ManufacturerModelName=model), pseudo).proj_events[0]
    assert ev.compression_n == pytest.approx(want)
    assert ("compression_n: dN (quirk ge_senograph_ds_dn)" in ev.unit_fixes) is fixed
    assert bool(ev.flags) is (want > 500)


def test_importer_reads_images_but_not_secondary_captures_or_srs():
    imp = HeaderImporter()
    assert imp.can_ingest(dx()) and imp.can_ingest(dx(SOPClassUID=CR)) and imp.can_ingest(mg("1.2"))
    assert not imp.can_ingest(dx(SOPClassUID=SC))
    assert not imp.can_ingest(dx(SOPClassUID="1.2.840.10008.5.1.4.1.1.88.67"))
    assert find_importer(dx()).name == "header"


def test_image_without_study_uid_is_rejected(pseudo):
    ds = dx()
    del ds.StudyInstanceUID
    with pytest.raises(IngestError) as err:
        _parse(ds, pseudo)
    assert err.value.reason == "missing_required_concept"
