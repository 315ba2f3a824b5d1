"""Tests of ``dmslab.synth``: the synthetic department and its ground truth.

The consistency checks read the written files back with pydicom and walk the SR content tree
with the test-only helpers in ``sr_tree.py``, independently of the generator's code path.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import statistics
import subprocess
from decimal import Decimal
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from sr_tree import child_code, child_num, children, code, event_uid, num, nums, walk

from dmslab.synth import DepartmentConfig, GroundTruth, StudyTruth, generate_department

RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
SMALL = DepartmentConfig(months=1, studies_per_room_per_day=5.0, multi_rdsr_fraction=0.1)
TINY = DepartmentConfig(ct_rooms=2, months=1, studies_per_room_per_day=0.5, seed=7)
UK_DRL_DLP = {
    "CT Head Routine": 790.0,
    "CT Sinus": 160.0,
    "CT C-Spine Trauma": 400.0,
    "CT Chest Lung Cancer": 290.0,
    "CT Chest Abdomen Pelvis": 660.0,
    "CT Pulmonary Angiogram": 310.0,
    "CT Abdomen Pelvis": 530.0,
    "CT KUB Stones": 290.0,
}


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("dept")
    return out, generate_department(out, SMALL)


@pytest.fixture(scope="module")
def files(dept: tuple[Path, GroundTruth]) -> dict[str, Dataset]:
    """Every written file, read back, by relative path."""
    out, _ = dept
    return {p.relative_to(out).as_posix(): pydicom.dcmread(p) for p in sorted(out.rglob("*.dcm"))}


def full_report(study: StudyTruth, files: dict[str, Dataset]) -> Dataset:
    return files[study.files[-1]]


def studies_of(truth: GroundTruth, modality: str) -> list[StudyTruth]:
    return [s for s in truth.studies if s.modality == modality]


# --- structure, counts, ground truth ------------------------------------------------------------
def test_files_on_disk_match_ground_truth(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    out, truth = dept
    listed = [f for s in truth.studies for f in s.files]
    assert len(listed) == len(set(listed)) == len(files)
    assert set(listed) == set(files)
    assert GroundTruth.from_json(out / "ground_truth.json") == truth
    assert (out / "ground_truth.json").read_text(encoding="utf-8") == truth.to_json()
    assert {s.modality for s in truth.studies} == {"CT", "DX", "MG", "RF"}
    assert {r.station_name for r in truth.rooms} == {"CT1", "CT2", "DX1", "MG1", "RF1"}
    assert {s.station_name for s in truth.studies} == {r.station_name for r in truth.rooms}
    accessions = [s.accession_number for s in truth.studies]
    assert len(accessions) == len(set(accessions))
    patients = [s.patient_id for s in truth.studies]
    assert len(set(patients)) < len(patients), "some patients should come back"


def test_dicom_headers(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    rooms = {r.station_name: r for r in truth.rooms}
    for study in truth.studies:
        for rel, sop in zip(study.files, study.sop_instance_uids, strict=True):
            ds = files[rel]
            assert ds.SOPClassUID == RDSR and ds.file_meta.MediaStorageSOPClassUID == RDSR
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
            assert ds.SOPInstanceUID == sop and rel == f"{study.station_name}/{sop}.dcm"
            assert ds.StudyInstanceUID == study.study_uid
            assert ds.PatientID == study.patient_id and ds.AccessionNumber == study.accession_number
            assert ds.PatientAge == f"{study.patient_age_years:03d}Y"
            assert float(ds.PatientWeight) == study.patient_weight_kg
            assert ds.StudyDescription == study.protocol and ds.Modality == "SR"
            room = rooms[study.station_name]
            assert (ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber) == (
                room.manufacturer,
                room.model,
                room.serial,
            )
            assert code(ds) == ("DCM", "113701")
            template = "10011" if study.modality == "CT" else "10001"
            assert ds.ContentTemplateSequence[0].TemplateIdentifier == template
            observer = children(ds, "121012")
            assert observer[0].UID == room.device_observer_uid


def test_snomed_generations(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    """Siemens-style CT1 and MG1 write legacy SRT codes, GE-style CT2 writes SCT."""
    _, truth = dept
    schemes: dict[str, set[str]] = {}
    per_room: dict[str, int] = {}
    for study in truth.studies:
        per_room[study.station_name] = per_room.get(study.station_name, 0) + 1
        if per_room[study.station_name] > 15:
            continue
        ds = full_report(study, files)
        for item in walk(ds):
            for attr in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
                if attr in item:
                    scheme = code(item, attr)[0]
                    if scheme in ("SRT", "SCT"):
                        schemes.setdefault(study.station_name, set()).add(scheme)
    assert schemes["CT1"] == {"SRT"} and schemes["MG1"] == {"SRT"}
    assert schemes["CT2"] == {"SCT"}
    spiral = {
        child_code(a, "113820")
        for s in studies_of(truth, "CT")
        for a in children(full_report(s, files), "113819")
    }
    assert {("SRT", "P5-08001"), ("SCT", "116152004"), ("DCM", "113805")} <= spiral


# --- CT ----------------------------------------------------------------------------------------
def test_ct_total_dlp_is_sum_of_events(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    for study in studies_of(truth, "CT"):
        for rel in study.files:
            ds = files[rel]
            acquisitions = children(ds, "113819")
            accumulated = children(ds, "113811")[0]
            assert child_num(accumulated, "113812") == len(acquisitions)
            dlps = [nums(d)["113838"] for a in acquisitions for d in children(a, "113829")]
            assert child_num(accumulated, "113813") == sum(dlps, Decimal(0))
        full = full_report(study, files)
        assert float(child_num(children(full, "113811")[0], "113813") or 0) == study.total_dlp_mgycm
        assert [event_uid(a) for a in children(full, "113819")] == [e.event_uid for e in study.events]


def test_ct_dlp_is_ctdivol_times_length(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    checked = 0
    for study in studies_of(truth, "CT"):
        for acq in children(full_report(study, files), "113819"):
            length = child_num(children(acq, "113822")[0], "113825")
            for dose in children(acq, "113829"):
                ctdi, dlp = child_num(dose, "113830"), child_num(dose, "113838")
                assert ctdi is not None and dlp is not None and length is not None
                product = ctdi * length / 10
                assert product - Decimal("0.01") <= dlp <= product * Decimal("1.10") + Decimal("0.01")
                phantom = child_code(dose, "113835")
                assert phantom in {("DCM", "113690"), ("DCM", "113691")}
                checked += 1
    assert checked > 100


def test_ge_localizers_sometimes_without_dose(
    dept: tuple[Path, GroundTruth], files: dict[str, Dataset]
) -> None:
    _, truth = dept
    with_dose = without_dose = 0
    for study in studies_of(truth, "CT"):
        for acq, event in zip(children(full_report(study, files), "113819"), study.events, strict=True):
            if child_code(acq, "113820") != ("DCM", "113805"):
                assert children(acq, "113829"), "helical/sequenced events always carry CT Dose"
                continue
            has_dose = bool(children(acq, "113829"))
            assert has_dose == (event.ctdivol_mgy is not None)
            if study.station_name == "CT1":
                assert has_dose
            elif has_dose:
                with_dose += 1
            else:
                without_dose += 1
    assert with_dose > 0 and without_dose > 0


def test_multi_rdsr_partial_reports(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    multi = [s for s in truth.studies if len(s.files) > 1]
    assert multi and all(s.modality == "CT" and len(s.files) == 2 for s in multi)
    for study in multi:
        partial, full = (files[f] for f in study.files)
        assert partial.StudyInstanceUID == full.StudyInstanceUID == study.study_uid
        assert partial.SOPInstanceUID != full.SOPInstanceUID
        first = [event_uid(a) for a in children(partial, "113819")]
        every = [event_uid(a) for a in children(full, "113819")]
        assert 1 <= len(first) < len(every) and every[: len(first)] == first


def test_protocol_change_visible(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    change = truth.injected.protocol_change
    assert change is not None and change.quantity == "ctdivol_mgy"
    start, end = SMALL.start, SMALL.start + datetime.timedelta(days=31)
    assert start < datetime.date.fromisoformat(change.date) < end
    before: list[float] = []
    after: list[float] = []
    for study in truth.studies:
        if study.station_name != change.station_name or study.protocol != change.protocol:
            continue
        ds = full_report(study, files)
        values = [
            float(child_num(d, "113830") or 0)
            for a in children(ds, "113819")
            if child_code(a, "113820") != ("DCM", "113805")
            for d in children(a, "113829")
        ]
        (after if ds.StudyDate >= change.date.replace("-", "") else before).extend(values)
    assert len(before) >= 10 and len(after) >= 10
    ratio = statistics.median(after) / statistics.median(before)
    assert ratio == pytest.approx(change.factor, rel=0.10)


def test_drl_exceedances(dept: tuple[Path, GroundTruth]) -> None:
    _, truth = dept
    injected = truth.injected.drl_exceedances
    assert 3 <= len(injected) <= 5
    by_uid = {s.study_uid: s for s in truth.studies}
    for item in injected:
        study = by_uid[item.study_uid]
        assert item.drl == UK_DRL_DLP[study.protocol] and item.protocol == study.protocol
        assert item.value == study.total_dlp_mgycm
        assert 1.5 * item.drl <= item.value <= 2.0 * item.drl
    over = {s.study_uid for s in studies_of(truth, "CT") if (s.total_dlp_mgycm or 0) > UK_DRL_DLP[s.protocol]}
    assert over == {i.study_uid for i in injected}


# --- projection ------------------------------------------------------------------------------
def _events(ds: Dataset) -> list[Dataset]:
    return children(ds, "113706")


def test_rf_totals_equal_sum_of_events(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    fluoro = {("SCT", "44491008"), ("SRT", "P5-06000")}
    for study in studies_of(truth, "RF"):
        ds = full_report(study, files)
        acc = children(ds, "113702")[0]
        assert child_code(acc, "113764") == ("DCM", "113622")
        events = _events(ds)
        is_fl = [child_code(e, "113721") in fluoro for e in events]
        assert any(is_fl) and not all(is_fl)
        values = [nums(e) for e in events]

        def total(
            value: str, pick: bool | None, vs: list[dict[str, Decimal]] = values, fl: list[bool] = is_fl
        ) -> Decimal:
            return sum(
                (v[value] for v, f in zip(vs, fl, strict=True) if pick is None or f == pick), Decimal(0)
            )

        acc_values = nums(acc)
        assert acc_values["113722"] == total("122130", None)
        assert acc_values["113725"] == total("113738", None)
        assert acc_values["113726"] == total("122130", True)
        assert acc_values["113728"] == total("113738", True)
        assert acc_values["113730"] == total("113742", True)
        assert acc_values["113727"] == total("122130", False)
        assert acc_values["113729"] == total("113738", False)
        assert acc_values["113855"] == total("113742", False)
        assert float(acc_values["113725"]) == study.total_rp_dose_gy
        assert float(acc_values["113730"]) == study.fluoro_time_s
        for v in values:
            assert {"113791", "113768", "113733", "113734", "112011", "112012", "113750", "113790"} <= set(v)


def test_high_dose_fluoro(dept: tuple[Path, GroundTruth]) -> None:
    _, truth = dept
    high = truth.injected.high_dose_fluoro
    assert high is not None and high.total_rp_dose_gy > 5.0
    above = [s for s in truth.studies if (s.total_rp_dose_gy or 0) > 5.0]
    assert [s.study_uid for s in above] == [high.study_uid]
    assert above[0].total_dap_gym2 == high.total_dap_gym2 and above[0].protocol == "PCI"


def test_mg_accumulated_agd_per_breast(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    sides = {
        ("SRT", "G-A100"): "R",
        ("SRT", "G-A101"): "L",
        ("SCT", "24028007"): "R",
        ("SCT", "7771000"): "L",
    }
    for study in studies_of(truth, "MG"):
        ds = full_report(study, files)
        per_side: dict[str, Decimal] = {"R": Decimal(0), "L": Decimal(0)}
        views = []
        for event in _events(ds):
            lateralities = [c for c in children(event) if code(c)[1] in ("G-C171", "272741003")]
            side = sides[code(lateralities[0], "ConceptCodeSequence")]
            per_side[side] += child_num(event, "111631") or Decimal("NaN")
            views.append((side, child_code(event, "111031")))
            assert child_num(event, "111633") is not None and child_num(event, "111647") is not None
        assert len(views) == len(set(views)) == 4
        accumulated: dict[str, Decimal] = {}
        for item in children(children(ds, "113702")[0], "111637"):
            lat = children(item)[0]
            accumulated[sides[code(lat, "ConceptCodeSequence")]] = num(item)
        assert accumulated == per_side
        assert (
            float(accumulated["L"]) == study.agd_left_mgy and float(accumulated["R"]) == study.agd_right_mgy
        )


def test_dx_totals_and_exposure_index(dept: tuple[Path, GroundTruth], files: dict[str, Dataset]) -> None:
    _, truth = dept
    for study in studies_of(truth, "DX"):
        ds = full_report(study, files)
        events = _events(ds)
        assert 1 <= len(events) <= 3
        acc = children(ds, "113702")[0]
        assert child_num(acc, "113722") == sum(
            (child_num(e, "122130") or Decimal(0) for e in events), Decimal(0)
        )
        assert float(child_num(acc, "113722") or 0) == study.total_dap_gym2
        for event, truth_event in zip(events, study.events, strict=True):
            dap = child_num(event, "122130")
            assert dap is not None and Decimal("1e-6") < dap < Decimal("1e-3")
            assert float(dap) == truth_event.dap_gym2
            assert child_num(event, "113845") is not None and child_num(event, "113847") is not None


# --- dcmtk ---------------------------------------------------------------------------------------
@pytest.mark.requires_dcmtk
def test_dsrdump_accepts_every_file(dept: tuple[Path, GroundTruth]) -> None:
    exe = shutil.which("dsrdump")
    if exe is None:
        pytest.skip("dcmtk dsrdump not installed (apt-get install dcmtk)")
    out, _ = dept
    paths = [str(p) for p in sorted(out.rglob("*.dcm"))]
    for i in range(0, len(paths), 200):
        batch = paths[i : i + 200]
        proc = subprocess.run([exe, *batch], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        problems = [
            line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith(("E:", "F:", "W:"))
        ]
        assert problems == []
        assert proc.stdout.count("X-Ray Radiation Dose SR Document") == len(batch)


# --- determinism, progress, validation ---------------------------------------------------------
def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    first = generate_department(tmp_path / "a", TINY, progress=lambda d, t: calls.append((d, t)))
    second = generate_department(tmp_path / "b", TINY)
    other = generate_department(tmp_path / "c", dataclasses.replace(TINY, seed=8))
    assert first.to_json() == second.to_json()
    assert (tmp_path / "a" / "ground_truth.json").read_bytes() == (
        tmp_path / "b" / "ground_truth.json"
    ).read_bytes()
    chosen = next(s for s in first.studies if s.modality == "CT").files[0]
    assert (tmp_path / "a" / chosen).read_bytes() == (tmp_path / "b" / chosen).read_bytes()
    assert first.to_json() != other.to_json()
    assert not {s.study_uid for s in first.studies} & {s.study_uid for s in other.studies}
    total = sum(len(s.files) for s in first.studies)
    assert calls == [(i, total) for i in range(1, total + 1)]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"ct_rooms": -1}, "ct_rooms"),
        ({"rf_rooms": 1.5}, "rf_rooms"),
        ({"months": 0}, "months"),
        ({"studies_per_room_per_day": -0.1}, "studies_per_room_per_day"),
        ({"multi_rdsr_fraction": 1.5}, "multi_rdsr_fraction"),
    ],
)
def test_config_validation(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DepartmentConfig(**kwargs)  # type: ignore[arg-type]


def test_config_period() -> None:
    assert DepartmentConfig(start=datetime.date(2026, 1, 31), months=1).end == datetime.date(2026, 2, 28)
    assert DepartmentConfig(months=3).end == datetime.date(2026, 4, 5)
