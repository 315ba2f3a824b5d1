"""XA/RF, Enhanced XA/XRF, Enhanced CT and breast tomosynthesis/projection headers: hand-made objects with
values from the PS3.3 attribute definitions, read back from file, checked in canonical units."""

from __future__ import annotations

import datetime as dt

import pytest
from _headers_make import STUDY, P, base, code, write
from pydicom.dataset import Dataset

from dmslab.errors import IngestError
from dmslab.ingest import find_importer
from dmslab.ingest.headers import parse_header
from dmslab.jobs import ingest_paths
from dmslab.records import SourceRecord
from dmslab.store import Store

SRC = SourceRecord(sha256="0" * 64, path="mem")
XA, RF, EXA, EXRF = P + "12.1", P + "12.2", P + "12.1.1", P + "12.2.1"
ECT, TOMO, BPX_PRES, BPX_PROC = P + "2.1", P + "13.1.3", P + "13.1.4", P + "13.1.5"
EVENT = "1.2.826.0.1.3680043.10.1234.77"


def _item(**attrs) -> Dataset:
    item = Dataset()
    for k, v in attrs.items():
        setattr(item, k, v)
    return item


def _parse(ds, pseudo):
    rep = parse_header(write(ds), pseudonymise=pseudo, source=SRC)
    assert find_importer(write(ds)).name == "header"
    return rep


def xa_run(sop: str, sop_class: str = XA, **attrs) -> Dataset:
    """A cardiac acquisition run: 80 kV, 400 mA, 120 ms, DAP 12.5 dGy.cm2, entrance 3 dGy, SID 1100 mm."""
    values = dict(RadiationSetting="GR", KVP="80", XRayTubeCurrent="400", ExposureTime="120",
                  ImageAndFluoroscopyAreaDoseProduct="12.5", EntranceDose=3, DistanceSourceToDetector="1100",
                  DistanceSourceToPatient="785", PositionerPrimaryAngle="-30", PositionerSecondaryAngle="20",
                  AcquisitionDate="20240305", AcquisitionTime="103001", AcquisitionNumber="3",
                  ProtocolName="LCA", FilterMaterial="COPPER", FilterThicknessMinimum="0.2",
                  FilterThicknessMaximum="0.2")
    values.update(attrs)
    return base(sop_class, sop, "XA" if sop_class in (XA, EXA) else "RF", **values)


def test_xa_single_image_in_canonical_units(pseudo):
    rep = _parse(xa_run(STUDY + ".100"), pseudo)
    (ev,) = rep.proj_events
    assert rep.study.modality == "RF" and rep.study.source_kind == "header"
    assert ev.dap_gym2 == pytest.approx(12.5e-5)  # 12.5 dGy.cm2 = 12.5 x 1e-1 Gy x 1e-4 m2
    assert rep.study.total_dap_gym2 == pytest.approx(12.5e-5)
    assert ev.esak_mgy == pytest.approx(300.0)  # Entrance Dose (0040,0302) 3 dGy
    assert (ev.kvp, ev.ma, ev.exposure_time_ms) == (80.0, 400.0, 120.0)
    assert (ev.dsd_mm, ev.dsi_mm) == (1100.0, 785.0)
    assert (ev.primary_angle_deg, ev.secondary_angle_deg) == (-30.0, 20.0)
    assert ev.event_type == "stationary" and ev.plane is None and ev.origin == "header"
    assert ev.filter_material == "Copper or Copper compound" and ev.filter_thickness_mm == pytest.approx(0.2)
    assert ev.n_pulses is None and rep.study.fluoro_time_s is None


def test_xa_cine_run_is_one_event_with_frames_rate_and_mode(pseudo):
    ds = xa_run(STUDY + ".101", NumberOfFrames="45", CineRate="15", RadiationMode="PULSED",
                PositionerMotion="DYNAMIC", EntranceDoseInmGy="12.3")
    (ev,) = _parse(ds, pseudo).proj_events
    assert ev.esak_mgy == pytest.approx(12.3)  # the mGy attribute wins over the dGy one
    assert (ev.n_pulses, ev.pulse_rate) == (45.0, 15.0)
    assert ev.event_type == "rotational" and ev.fluoro_mode == "DCM:113631"


def test_rf_fluoroscopy_loop_adds_fluoro_time(pseudo):
    ds = xa_run(STUDY + ".102", RF, RadiationSetting="SC", ExposureTime="45000", NumberOfFrames="300",
                FrameTime="133.33", RadiationMode="CONTINUOUS")
    rep = _parse(ds, pseudo)
    (ev,) = rep.proj_events
    assert ev.event_type == "fluoroscopy" and ev.fluoro_mode == "DCM:113630"
    assert ev.pulse_rate == pytest.approx(7.5, abs=1e-3)
    assert rep.study.fluoro_time_s == pytest.approx(45.0)


def test_biplane_runs_at_the_same_time_stay_two_events(pseudo):
    a = _parse(xa_run(STUDY + ".103", SeriesInstanceUID=STUDY + ".9.1"), pseudo).proj_events[0]
    b = _parse(xa_run(STUDY + ".104", SeriesInstanceUID=STUDY + ".9.2"), pseudo).proj_events[0]
    again = _parse(xa_run(STUDY + ".105", SeriesInstanceUID=STUDY + ".9.1"), pseudo).proj_events[0]
    assert a.event_uid != b.event_uid and a.event_uid == again.event_uid


@pytest.mark.parametrize(("image_type", "event_uid", "kept"), [
    (["DERIVED", "PRIMARY", "SUBTRACTION"], None, False), (["ORIGINAL", "SECONDARY"], None, False),
    (["DERIVED", "PRIMARY"], EVENT, True), (["ORIGINAL", "PRIMARY", "SINGLE PLANE"], None, True)])
def test_derived_xa_copy_of_a_run_is_not_an_exposure(pseudo, image_type, event_uid, kept):
    ds = xa_run(STUDY + ".106", ImageType=image_type)
    if event_uid:
        ds.IrradiationEventUID = event_uid
    if kept:
        assert _parse(ds, pseudo).proj_events[0].dap_gym2 == pytest.approx(12.5e-5)
    else:
        with pytest.raises(IngestError, match="derived") as err:
            _parse(ds, pseudo)
        assert err.value.reason == "not_a_dose_report"


def test_enhanced_xa_reads_functional_groups(pseudo):
    ds = base(EXA, STUDY + ".110", "XA", RadiationSetting="GR", ImageAndFluoroscopyAreaDoseProduct="30.0",
              ExposureTimeInms=4200.0, NumberOfFrames="3", AcquisitionDateTime="20240305103500")
    ds.SharedFunctionalGroupsSequence = [_item(
        XRayGeometrySequence=[_item(DistanceSourceToIsocenter=760.0, DistanceSourceToDetector=1200.0)],
        IrradiationEventIdentificationSequence=[_item(IrradiationEventUID=EVENT)])]
    ds.PerFrameFunctionalGroupsSequence = [_item(
        FrameAcquisitionSequence=[_item(KVP="85", XRayTubeCurrentInmA=512.5)],
        PositionerPositionSequence=[_item(PositionerPrimaryAngle="-90", PositionerSecondaryAngle="0")])
        for _ in range(2)] + [_item(
        FrameAcquisitionSequence=[_item(KVP="86", XRayTubeCurrentInmA=510.0)],
        PositionerPositionSequence=[_item(PositionerPrimaryAngle="110", PositionerSecondaryAngle="5")])]
    rep = _parse(ds, pseudo)
    (ev,) = rep.proj_events
    assert ev.event_uid == EVENT and rep.study.modality == "RF"
    assert ev.dap_gym2 == pytest.approx(30e-5)
    assert (ev.kvp, ev.ma, ev.exposure_time_ms) == (85.0, 512.5, 4200.0)  # first frame
    assert (ev.dsi_mm, ev.dsd_mm) == (760.0, 1200.0)
    assert (ev.primary_angle_deg, ev.primary_end_angle_deg) == (-90.0, 110.0)
    assert (ev.secondary_angle_deg, ev.secondary_end_angle_deg) == (0.0, 5.0)
    assert ev.n_pulses == 3.0


def test_enhanced_xrf_is_read_like_rf(pseudo):
    ds = base(EXRF, STUDY + ".111", "RF", RadiationSetting="SC", ImageAndFluoroscopyAreaDoseProduct="4",
              ExposureTimeInms=60000.0, AcquisitionDateTime="20240305104000")
    ds.SharedFunctionalGroupsSequence = [_item(FrameAcquisitionSequence=[_item(KVP="70", XRayTubeCurrentInmA=8.0)])]
    rep = _parse(ds, pseudo)
    assert rep.proj_events[0].event_type == "fluoroscopy" and rep.proj_events[0].ma == 8.0
    assert rep.study.fluoro_time_s == pytest.approx(60.0) and rep.study.total_dap_gym2 == pytest.approx(4e-5)


def test_enhanced_ct_reads_the_ct_exposure_macro(pseudo):
    ds = base(ECT, STUDY + ".120", "CT", ImageType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"], ProtocolName="HEAD")
    ds.SharedFunctionalGroupsSequence = [_item(
        CTExposureSequence=[_item(CTDIvol=48.7, ExposureTimeInms=1500.0, XRayTubeCurrentInmA=180.0,
                                  CTDIPhantomTypeCodeSequence=[code("113690", "DCM", "IEC Head Dosimetry Phantom")])],
        CTXRayDetailsSequence=[_item(KVP="100")],
        CTAcquisitionDetailsSequence=[_item(RevolutionTime=0.5, TotalCollimationWidth=40.0)],
        CTTableDynamicsSequence=[_item(SpiralPitchFactor=0.55)],
        IrradiationEventIdentificationSequence=[_item(IrradiationEventUID=EVENT + ".1")])]
    ds.PerFrameFunctionalGroupsSequence = [_item(FrameContentSequence=[_item(FrameAcquisitionNumber=1)])]
    (ev,) = _parse(ds, pseudo).ct_events
    assert ev.event_uid == EVENT + ".1" and ev.origin == "header"
    assert (ev.ctdivol_mgy, ev.phantom_cm, ev.kvp, ev.ma) == (48.7, 16, 100.0, 180.0)
    assert (ev.exposure_time_s, ev.rotation_time_s, ev.pitch, ev.collimation_mm) == (1.5, 0.5, 0.55, 40.0)


def tomo(sop: str, sop_class: str = TOMO, **acq) -> Dataset:
    """A right MLO tomosynthesis: AGD 0.0185 dGy (1.85 mGy), entrance 7.2 mGy, 55 mm, 110 N, 32 kV, 80 mAs."""
    values = dict(KVP="32", XRayTubeCurrentInmA=100.0, ExposureTimeInms=800.0, ExposureInmAs=80.0,
                  OrganDose="0.0185", EntranceDoseInmGy="7.2", BodyPartThickness="55", CompressionForce="110",
                  AnodeTargetMaterial="TUNGSTEN", FilterMaterial="ALUMINUM", FilterThicknessMinimum="0.7",
                  FilterThicknessMaximum="0.7")
    values.update(acq)
    ds = base(sop_class, sop, "MG", AcquisitionDateTime="20240305104512",
              ViewCodeSequence=[code("399368009", "SCT", "medio-lateral oblique")])
    ds.SharedFunctionalGroupsSequence = [_item(FrameAnatomySequence=[_item(
        FrameLaterality="R", AnatomicRegionSequence=[code("76752008", "SCT", "Breast")])])]
    if sop_class == TOMO:
        ds.XRay3DAcquisitionSequence = [_item(**values)]
    else:
        for k, v in values.items():
            setattr(ds, k, v)
    return ds


def test_breast_tomosynthesis_reads_the_acquisition_sequence(pseudo):
    rep = _parse(tomo(STUDY + ".130"), pseudo)
    (ev,) = rep.proj_events
    assert rep.study.modality == "MG"
    assert ev.agd_mgy == pytest.approx(1.85) and rep.study.agd_right_mgy == pytest.approx(1.85)
    assert ev.esak_mgy == pytest.approx(7.2)
    assert (ev.compression_mm, ev.compression_n, ev.kvp, ev.ma) == (55.0, 110.0, 32.0, 100.0)
    assert ev.exposure_uas == pytest.approx(80000.0) and ev.exposure_time_ms == 800.0
    assert ev.anode == "Tungsten or Tungsten compound" and ev.filter_material == "Aluminum or Aluminum compound"
    assert (ev.laterality, ev.view, ev.target_region) == ("R", "medio-lateral oblique", "Breast")
    assert ev.event_datetime == dt.datetime(2024, 3, 5, 10, 45, 12)


@pytest.mark.parametrize("sop_class", [BPX_PRES, BPX_PROC])
def test_breast_projection_reads_like_mammography(pseudo, sop_class):
    (ev,) = _parse(tomo(STUDY + ".131", sop_class), pseudo).proj_events
    assert ev.agd_mgy == pytest.approx(1.85) and ev.laterality == "R" and ev.compression_n == 110.0


def test_tomosynthesis_and_its_projections_are_one_event_in_the_store(settings, tmp_path):
    for name, ds in [("tomo.dcm", tomo(STUDY + ".140")), ("proc.dcm", tomo(STUDY + ".141", BPX_PROC)),
                     ("pres.dcm", tomo(STUDY + ".142", BPX_PRES))]:
        write(ds, tmp_path / name)
    ingest_paths([tmp_path], settings)
    store = Store(settings.database_url)
    study = store.table("study")
    assert len(study) == 1 and int(study.loc[0, "n_events"]) == 1
    assert study.loc[0, "agd_right_mgy"] == pytest.approx(1.85)
    store.close()
