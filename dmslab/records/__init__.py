"""Normalized records: the contract between parsers (``dmslab.ingest``) and the store.

Frozen, slotted dataclasses whose field names are the column names of ``data_contracts/`` and carry the
canonical unit (``ctdivol_mgy``, ``dap_gym2``). Absent values are ``None``. ``flags`` lists plausibility
problems found against the contracts; ``unit_fixes`` lists values whose unit was converted or fixed
(``"dap_gym2: dGy.cm2"``). Nothing here touches pydicom or SQL. The MPPS records live in
:mod:`dmslab.records._mpps`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from dmslab.records._mpps import MPPS_STATUSES, MppsMessage, MppsRecord

__all__ = [
    "CtEventRecord",
    "DoseReport",
    "MPPS_STATUSES",
    "EquipmentRecord",
    "MppsMessage",
    "MppsRecord",
    "NmEventRecord",
    "NmOrganDoseRecord",
    "PatientRecord",
    "PlaneRecord",
    "ProjEventRecord",
    "SourceRecord",
    "StudyRecord",
    "record_values",
]

Flags = tuple[str, ...]


def record_values(record: Any) -> dict[str, Any]:
    """The record's fields as a dict (tuples of flags/unit fixes joined with ``"; "``, empty -> None)."""
    out: dict[str, Any] = {}
    for f in fields(record):
        v = getattr(record, f.name)
        if f.name in ("flags", "unit_fixes"):
            v = "; ".join(v) if v else None
        out[f.name] = v
    return out


@dataclass(frozen=True, slots=True)
class EquipmentRecord:
    """The device that produced the dose object (identity = all five identifying fields)."""

    manufacturer: str | None = None
    model: str | None = None
    station_name: str | None = None
    serial: str | None = None
    device_observer_uid: str | None = None
    institution: str | None = None
    software_versions: str | None = None

    @property
    def identity(self) -> tuple[str | None, ...]:
        """The fields that tell one device from another."""
        return (self.manufacturer, self.model, self.station_name, self.serial, self.device_observer_uid)


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A pseudonymised patient: ``patient_key`` is a keyed HMAC of the Patient ID, never the ID."""

    patient_key: str
    sex: str | None = None
    birth_year: int | None = None


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """One examination as described by one dose object."""

    study_uid: str
    modality: str
    source_kind: str
    accession_key: str | None = None
    study_datetime: dt.datetime | None = None
    study_description: str | None = None
    requested_procedure: str | None = None
    procedure_code: str | None = None
    age_years: float | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    total_dlp_mgycm: float | None = None
    total_dap_gym2: float | None = None
    total_rp_dose_gy: float | None = None
    fluoro_time_s: float | None = None
    agd_left_mgy: float | None = None
    agd_right_mgy: float | None = None
    n_events_reported: int | None = None
    exclusion_reason: str | None = None
    flags: Flags = ()
    unit_fixes: Flags = ()


@dataclass(frozen=True, slots=True)
class CtEventRecord:
    """One CT irradiation event (TID 10013). Localizers may carry no dose (``ctdivol_mgy is None``)."""

    event_uid: str
    acquisition_protocol: str | None = None
    acquisition_type: str | None = None
    target_region: str | None = None
    target_region_code: str | None = None
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    phantom_cm: int | None = None
    scan_length_mm: float | None = None
    exposed_range_mm: float | None = None
    pitch: float | None = None
    collimation_mm: float | None = None
    single_collimation_mm: float | None = None
    n_sources: int | None = None
    kvp: float | None = None
    ma: float | None = None
    max_ma: float | None = None
    exposure_time_s: float | None = None
    rotation_time_s: float | None = None
    modulation_type: str | None = None
    ssde_mgy: float | None = None
    dw_cm: float | None = None
    effective_dose_msv: float | None = None
    alert_ctdivol_mgy: float | None = None
    alert_dlp_mgycm: float | None = None
    notification_ctdivol_mgy: float | None = None
    notification_dlp_mgycm: float | None = None
    forward_ctdivol_mgy: float | None = None
    forward_dlp_mgycm: float | None = None
    accumulated_forward_ctdivol_mgy: float | None = None
    accumulated_forward_dlp_mgycm: float | None = None
    reason_for_proceeding: str | None = None
    origin: str | None = None
    comment: str | None = None
    flags: Flags = ()
    unit_fixes: Flags = ()


@dataclass(frozen=True, slots=True)
class ProjEventRecord:
    """One projection irradiation event (TID 10003): DX exposure, MG view, RF/XA run."""

    event_uid: str
    plane: str | None = None
    event_type: str | None = None
    event_datetime: dt.datetime | None = None
    acquisition_protocol: str | None = None
    target_region: str | None = None
    target_region_code: str | None = None
    view: str | None = None
    laterality: str | None = None
    dap_gym2: float | None = None
    rp_dose_gy: float | None = None
    agd_mgy: float | None = None
    esak_mgy: float | None = None
    reference_point: str | None = None
    kvp: float | None = None
    ma: float | None = None
    average_ma: float | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    pulse_width_ms: float | None = None
    pulse_rate: float | None = None
    n_pulses: float | None = None
    irradiation_duration_s: float | None = None
    focal_spot_mm: float | None = None
    fluoro_mode: str | None = None
    anode: str | None = None
    filter_material: str | None = None
    filter_thickness_mm: float | None = None
    hvl_mm: float | None = None
    grid: str | None = None
    field_area_m2: float | None = None
    field_h_mm: float | None = None
    field_w_mm: float | None = None
    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    primary_end_angle_deg: float | None = None
    secondary_end_angle_deg: float | None = None
    column_angulation_deg: float | None = None
    table_long_mm: float | None = None
    table_lat_mm: float | None = None
    table_height_mm: float | None = None
    dsi_mm: float | None = None
    dsd_mm: float | None = None
    dsrp_mm: float | None = None
    compression_mm: float | None = None
    compression_n: float | None = None
    ei: float | None = None
    tei: float | None = None
    di: float | None = None
    relative_exposure: float | None = None
    relative_exposure_kind: str | None = None
    patient_thickness_mm: float | None = None
    origin: str | None = None
    comment: str | None = None
    flags: Flags = ()
    unit_fixes: Flags = ()


@dataclass(frozen=True, slots=True)
class PlaneRecord:
    """Accumulated dose of one acquisition plane (TID 10002 with 10004/10005/10007)."""

    plane: str
    dap_total_gym2: float | None = None
    rp_total_gy: float | None = None
    fluoro_dap_gym2: float | None = None
    fluoro_rp_gy: float | None = None
    fluoro_time_s: float | None = None
    acq_dap_gym2: float | None = None
    acq_rp_gy: float | None = None
    acq_time_s: float | None = None
    n_frames: int | None = None
    agd_left_mgy: float | None = None
    agd_right_mgy: float | None = None
    agd_both_mgy: float | None = None
    reference_point: str | None = None
    dsrp_mm: float | None = None
    calibration_factor: float | None = None
    flags: Flags = ()
    unit_fixes: Flags = ()


@dataclass(frozen=True, slots=True)
class NmEventRecord:
    """One radiopharmaceutical administration (TID 10022 or NM/PET image header). Activities in MBq."""

    event_uid: str
    radionuclide: str | None = None
    radionuclide_code: str | None = None
    agent: str | None = None
    agent_code: str | None = None
    half_life_s: float | None = None
    activity_mbq: float | None = None
    pre_activity_mbq: float | None = None
    post_activity_mbq: float | None = None
    start_datetime: dt.datetime | None = None
    stop_datetime: dt.datetime | None = None
    route: str | None = None
    volume_ml: float | None = None
    effective_dose_msv: float | None = None
    effective_dose_method: str | None = None
    effective_dose_authority_code: str | None = None
    effective_dose_authority: str | None = None
    origin: str | None = None
    comment: str | None = None
    flags: Flags = ()
    unit_fixes: Flags = ()


@dataclass(frozen=True, slots=True)
class NmOrganDoseRecord:
    """One organ dose estimate of one administration (TID 10022 Organ Dose Information); dose in mGy, mass in g.

    A model estimate for a reference person (the reference authority's biokinetic model scaled by the
    administered activity), not a dose measured on the patient.
    """

    event_uid: str
    organ_scheme: str | None = None
    organ_value: str | None = None
    organ_meaning: str | None = None
    laterality_code: str | None = None
    laterality: str | None = None
    dose_mgy: float | None = None
    mass_g: float | None = None
    method: str | None = None
    reference_authority_code: str | None = None
    reference_authority: str | None = None
    flags: Flags = ()
    unit_fixes: Flags = ()


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """The DICOM object a report was read from."""

    sha256: str
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    study_uid: str | None = None
    path: str | None = None
    importer: str | None = None
    template: str | None = None


@dataclass(frozen=True, slots=True)
class DoseReport:
    """Everything one dose object says, normalized: what a parser returns and the store writes."""

    source: SourceRecord
    equipment: EquipmentRecord
    patient: PatientRecord | None
    study: StudyRecord
    ct_events: tuple[CtEventRecord, ...] = ()
    proj_events: tuple[ProjEventRecord, ...] = ()
    planes: tuple[PlaneRecord, ...] = field(default=())
    nm_events: tuple[NmEventRecord, ...] = ()
    nm_organ_doses: tuple[NmOrganDoseRecord, ...] = ()

    @property
    def n_events(self) -> int:
        """Irradiation events (and radiopharmaceutical administrations) in this object."""
        return len(self.ct_events) + len(self.proj_events) + len(self.nm_events)

    @property
    def flagged(self) -> bool:
        """True when any value of the report failed a plausibility check."""
        parts: list[Any] = [self.study, *self.ct_events, *self.proj_events, *self.planes, *self.nm_events,
                            *self.nm_organ_doses]
        return any(p.flags for p in parts)
