"""Generating a synthetic department: sampling, injections, encoding and writing."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._config import DepartmentConfig
from ._ct import ct_document
from ._model import PatientPool, Slot, age_years, make_rooms, make_schedule, working_days
from ._projection import projection_document, projection_totals
from ._protocols import CT_PROTOCOLS, DX_PROTOCOLS, HEAD_PROTOCOL, RF_PROTOCOLS
from ._sample_ct import CtRequest, sample_ct_events, total_dlp
from ._sample_projection import sample_dx_events, sample_mg_events, sample_rf_events
from ._sr import make_uid, write_report
from ._truth import (
    DrlExceedance,
    EventTruth,
    GroundTruth,
    HighDoseFluoro,
    Injected,
    ProtocolChange,
    RoomTruth,
    StudyTruth,
)

__all__ = ["generate_department"]

logger = logging.getLogger(__name__)

_CT = {p.name: p for p in CT_PROTOCOLS}
_DX = {p.name: p for p in DX_PROTOCOLS}
_RF = {p.name: p for p in RF_PROTOCOLS}
_CHANGE_FACTOR = 0.75
_SERIES_FULL, _SERIES_PARTIAL = 997, 996


class _Uids:
    """Deterministic UID source: ``make_uid(seed, kind, counter)``."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._n = 0

    def __call__(self, kind: str = "event") -> str:
        self._n += 1
        return make_uid(self._seed, kind, self._n)


@dataclass(slots=True)
class _Plan:
    change: ProtocolChange | None = None
    dlp_targets: dict[int, float] = field(default_factory=dict)
    rp_target: tuple[int, float] | None = None


@dataclass(frozen=True, slots=True)
class _Report:
    study: StudyTruth
    room: RoomTruth
    events: list[EventTruth]
    sop_uid: str
    series_number: int


def _plan(config: DepartmentConfig, slots: list[Slot], rng: np.random.Generator) -> _Plan:
    plan = _Plan()
    days = working_days(config)
    if config.ct_rooms > 0 and days:
        plan.change = ProtocolChange(
            date=days[len(days) // 2].isoformat(),
            station_name="CT1",
            protocol=HEAD_PROTOCOL,
            quantity="ctdivol_mgy",
            factor=_CHANGE_FACTOR,
        )
    ct = [
        i
        for i, s in enumerate(slots)
        if s.room.modality == "CT" and not (s.room.station_name == "CT1" and s.protocol == HEAD_PROTOCOL)
    ]
    if ct:
        k = min(int(rng.integers(3, 6)), len(ct))
        for i in sorted(int(x) for x in rng.choice(ct, size=k, replace=False)):
            plan.dlp_targets[i] = _CT[slots[i].protocol].drl_dlp_mgycm * float(rng.uniform(1.55, 1.95))
    rf = [i for i, s in enumerate(slots) if s.room.modality == "RF"]
    pci = [i for i in rf if slots[i].protocol == "PCI"] or rf
    if pci:
        plan.rp_target = (int(pci[int(rng.integers(len(pci)))]), float(rng.uniform(6.0, 8.0)))
    return plan


def _events(slot: Slot, index: int, plan: _Plan, rng: np.random.Generator, uids: _Uids) -> list[EventTruth]:
    modality = slot.room.modality
    if modality == "CT":
        factor = 1.0
        change = plan.change
        if (
            change is not None
            and slot.room.station_name == change.station_name
            and slot.protocol == change.protocol
            and slot.start.date().isoformat() >= change.date
        ):
            factor = change.factor
        request = CtRequest(ctdi_factor=factor, dlp_target=plan.dlp_targets.get(index))
        return sample_ct_events(rng, slot.room, _CT[slot.protocol], slot.start, uids, request)
    if modality == "DX":
        return sample_dx_events(rng, _DX[slot.protocol], slot.start, uids)
    if modality == "MG":
        return sample_mg_events(rng, slot.start, uids)
    target = plan.rp_target[1] if plan.rp_target is not None and plan.rp_target[0] == index else None
    return sample_rf_events(rng, _RF[slot.protocol], slot.start, uids, target)


def _study(
    slot: Slot, index: int, patients: PatientPool, uids: _Uids, events: list[EventTruth]
) -> StudyTruth:
    patient = patients.pick(slot.room.modality, slot.start.date())
    study = StudyTruth(
        study_uid=uids("study"),
        accession_number=f"ACC{index + 1:08d}",
        study_id=f"{index + 1}",
        patient_id=patient.patient_id,
        patient_name=patient.name,
        patient_sex=patient.sex,
        patient_birth_date=patient.birth_date.isoformat(),
        patient_age_years=age_years(patient.birth_date, slot.start.date()),
        patient_weight_kg=patient.weight_kg,
        patient_height_m=patient.height_m,
        study_datetime=slot.start.isoformat(),
        station_name=slot.room.station_name,
        modality=slot.room.modality,
        protocol=slot.protocol,
        events=events,
    )
    if study.modality == "CT":
        study.total_dlp_mgycm = total_dlp(events)
        return study
    t = projection_totals(study.modality, events)
    study.total_dap_gym2, study.total_rp_dose_gy = t.dap_gym2, t.rp_gy
    study.agd_left_mgy, study.agd_right_mgy = t.agd_left_mgy, t.agd_right_mgy
    study.fluoro_time_s, study.fluoro_dap_gym2, study.fluoro_rp_dose_gy = (
        t.fluoro_time_s,
        t.fluoro_dap_gym2,
        t.fluoro_rp_gy,
    )
    study.acquisition_dap_gym2, study.acquisition_rp_dose_gy = t.acq_dap_gym2, t.acq_rp_gy
    study.acquisition_time_s = t.acq_time_s
    return study


def _reports(
    study: StudyTruth, room: RoomTruth, config: DepartmentConfig, rng: np.random.Generator, uids: _Uids
) -> list[_Report]:
    reports = []
    n = len(study.events)
    if study.modality == "CT" and n >= 2 and rng.random() < config.multi_rdsr_fraction:
        k = int(rng.integers(1, n))
        reports.append(_Report(study, room, study.events[:k], uids("sop"), _SERIES_PARTIAL))
    reports.append(_Report(study, room, study.events, uids("sop"), _SERIES_FULL))
    for report in reports:
        study.sop_instance_uids.append(report.sop_uid)
        study.files.append(f"{room.station_name}/{report.sop_uid}.dcm")
    return reports


def _injected(plan: _Plan, slots_to_study: dict[int, StudyTruth]) -> Injected:
    injected = Injected(protocol_change=plan.change)
    for index in plan.dlp_targets:
        study = slots_to_study[index]
        injected.drl_exceedances.append(
            DrlExceedance(
                study_uid=study.study_uid,
                protocol=study.protocol,
                quantity="dlp_mgycm",
                value=study.total_dlp_mgycm or 0.0,
                drl=_CT[study.protocol].drl_dlp_mgycm,
            )
        )
    if plan.rp_target is not None:
        study = slots_to_study[plan.rp_target[0]]
        injected.high_dose_fluoro = HighDoseFluoro(
            study_uid=study.study_uid,
            total_rp_dose_gy=study.total_rp_dose_gy or 0.0,
            total_dap_gym2=study.total_dap_gym2 or 0.0,
        )
    return injected


def _write(out: Path, reports: list[_Report], progress: Callable[[int, int], None] | None) -> None:
    for done, rep in enumerate(reports, start=1):
        builder = ct_document if rep.room.modality == "CT" else projection_document
        ds = builder(rep.study, rep.room, rep.events, rep.sop_uid, rep.series_number)
        write_report(out / rep.room.station_name / f"{rep.sop_uid}.dcm", ds)
        if progress is not None:
            progress(done, len(reports))


def generate_department(
    out_dir: str | os.PathLike[str],
    config: DepartmentConfig = DepartmentConfig(),  # noqa: B008 (frozen, immutable)
    *,
    progress: Callable[[int, int], None] | None = None,
) -> GroundTruth:
    """Write a synthetic department's dose reports and ground truth to ``out_dir``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created if needed). Files go to ``<station name>/<SOPInstanceUID>.dcm``
        and ``ground_truth.json``.
    config : DepartmentConfig
        Department size, period and seed; the output is a deterministic function of it.
    progress : callable, optional
        Called as ``progress(done, total)`` after each DICOM file is written.

    Returns
    -------
    GroundTruth
        The same ground truth as written to ``ground_truth.json``.

    Notes
    -----
    Injected findings are exhaustive: non-injected CT studies are kept below 0.95 × the UK DRL
    DLP and non-injected fluoroscopy studies below 3 Gy Dose (RP), so the studies listed in
    ``injected.drl_exceedances`` / ``injected.high_dose_fluoro`` are the only ones above.
    Existing files in ``out_dir`` are neither removed nor listed in the ground truth.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.is_dir() and next(out.rglob("*.dcm"), None) is not None:
        logger.warning("%s already holds DICOM files; they are not part of the new ground truth", out)
    rng = np.random.default_rng(config.seed)
    rooms = make_rooms(config, rng)
    slots = make_schedule(config, rooms, rng)
    plan = _plan(config, slots, rng)
    uids, patients = _Uids(config.seed), PatientPool(rng)
    studies: dict[int, StudyTruth] = {}
    reports: list[_Report] = []
    for index, slot in enumerate(slots):
        events = _events(slot, index, plan, rng, uids)
        studies[index] = _study(slot, index, patients, uids, events)
        reports += _reports(studies[index], slot.room, config, rng, uids)
    for room in rooms:
        (out / room.station_name).mkdir(parents=True, exist_ok=True)
    _write(out, reports, progress)
    truth = GroundTruth(
        config=config, rooms=rooms, studies=list(studies.values()), injected=_injected(plan, studies)
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "ground_truth.json").write_text(truth.to_json(), encoding="utf-8")
    elapsed = time.perf_counter() - t0
    logger.info("wrote %d studies / %d files to %s in %.1f s", len(studies), len(reports), out, elapsed)
    return truth
