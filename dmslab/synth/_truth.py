"""Ground-truth dataclasses of a synthetic department and their JSON form.

Every numeric value is stored exactly as it was encoded in the DICOM files (rounded first,
then both encoded and stored), so ingest tests can compare with ``==``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config import DepartmentConfig

__all__ = [
    "RoomTruth",
    "EventTruth",
    "StudyTruth",
    "ProtocolChange",
    "DrlExceedance",
    "HighDoseFluoro",
    "Injected",
    "GroundTruth",
]


@dataclass(slots=True)
class RoomTruth:
    """One room = one device (station name is the room name, e.g. ``"CT1"``)."""

    station_name: str
    modality: str
    manufacturer: str
    model: str
    serial: str
    device_observer_uid: str
    software_versions: str = ""
    legacy_snomed: bool = False


@dataclass(slots=True)
class EventTruth:
    """One irradiation event; fields not applicable to the modality are ``None``.

    Units are in the field names (mGy, mGy·cm, cm, mm, s, ms, Gy·m², Gy, kV, mA, µA·s,
    N, deg, m²). ``view`` is ``"CC"``/``"MLO"`` and ``laterality`` ``"R"``/``"L"`` (MG).
    ``target_region`` is the key of :data:`dmslab.synth._codes.SNOMED`.
    """

    event_uid: str
    acquisition_protocol: str
    acquisition_type: str
    datetime_started: str
    target_region: str
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    phantom_cm: int | None = None
    scan_length_mm: float | None = None
    pitch: float | None = None
    kvp: float | None = None
    ma: float | None = None
    max_ma: float | None = None
    exposure_time_s: float | None = None
    rotation_time_s: float | None = None
    collimation_single_mm: float | None = None
    collimation_total_mm: float | None = None
    dap_gym2: float | None = None
    rp_dose_gy: float | None = None
    agd_mgy: float | None = None
    entrance_exposure_mgy: float | None = None
    compression_thickness_mm: float | None = None
    compression_force_n: float | None = None
    anode: str | None = None
    filter_material: str | None = None
    laterality: str | None = None
    view: str | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    pulse_rate: float | None = None
    n_pulses: int | None = None
    irradiation_duration_s: float | None = None
    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    sid_mm: float | None = None
    table_longitudinal_mm: float | None = None
    table_lateral_mm: float | None = None
    table_height_mm: float | None = None
    field_area_m2: float | None = None
    ei: float | None = None
    tei: float | None = None
    di: float | None = None


@dataclass(slots=True)
class StudyTruth:
    """One study as the ingester should end up with it (the complete report)."""

    study_uid: str
    accession_number: str
    study_id: str
    patient_id: str
    patient_name: str
    patient_sex: str
    patient_birth_date: str
    patient_age_years: int
    patient_weight_kg: float
    patient_height_m: float
    study_datetime: str
    station_name: str
    modality: str
    protocol: str
    files: list[str] = field(default_factory=list)
    sop_instance_uids: list[str] = field(default_factory=list)
    total_dlp_mgycm: float | None = None
    total_dap_gym2: float | None = None
    total_rp_dose_gy: float | None = None
    agd_left_mgy: float | None = None
    agd_right_mgy: float | None = None
    fluoro_time_s: float | None = None
    fluoro_dap_gym2: float | None = None
    fluoro_rp_dose_gy: float | None = None
    acquisition_dap_gym2: float | None = None
    acquisition_rp_dose_gy: float | None = None
    acquisition_time_s: float | None = None
    events: list[EventTruth] = field(default_factory=list)


@dataclass(slots=True)
class ProtocolChange:
    """A step change of ``quantity`` by ``factor`` for studies on/after ``date``."""

    date: str
    station_name: str
    protocol: str
    quantity: str
    factor: float


@dataclass(slots=True)
class DrlExceedance:
    """A study whose ``quantity`` (study total) exceeds the UK national DRL ``drl``."""

    study_uid: str
    protocol: str
    quantity: str
    value: float
    drl: float


@dataclass(slots=True)
class HighDoseFluoro:
    """The fluoroscopy study deliberately above the 5 Gy reference-point trigger."""

    study_uid: str
    total_rp_dose_gy: float
    total_dap_gym2: float


@dataclass(slots=True)
class Injected:
    """Deliberately injected findings an analysis should detect."""

    protocol_change: ProtocolChange | None = None
    drl_exceedances: list[DrlExceedance] = field(default_factory=list)
    high_dose_fluoro: HighDoseFluoro | None = None


@dataclass(slots=True)
class GroundTruth:
    """Everything written by :func:`dmslab.synth.generate_department`."""

    config: DepartmentConfig
    rooms: list[RoomTruth]
    studies: list[StudyTruth]
    injected: Injected

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict."""
        return {
            "config": self.config.to_dict(),
            "rooms": [dataclasses.asdict(r) for r in self.rooms],
            "studies": [dataclasses.asdict(s) for s in self.studies],
            "injected": dataclasses.asdict(self.injected),
        }

    def to_json(self) -> str:
        """Return the ground truth as a JSON document (deterministic key order)."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        """Inverse of :meth:`to_dict`."""
        inj = data["injected"]
        pc, hd = inj.get("protocol_change"), inj.get("high_dose_fluoro")
        studies = []
        for s in data["studies"]:
            s = dict(s)
            s["events"] = [EventTruth(**e) for e in s["events"]]
            studies.append(StudyTruth(**s))
        return cls(
            config=DepartmentConfig.from_dict(data["config"]),
            rooms=[RoomTruth(**r) for r in data["rooms"]],
            studies=studies,
            injected=Injected(
                protocol_change=ProtocolChange(**pc) if pc else None,
                drl_exceedances=[DrlExceedance(**d) for d in inj.get("drl_exceedances", [])],
                high_dose_fluoro=HighDoseFluoro(**hd) if hd else None,
            ),
        )

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> GroundTruth:
        """Read a ``ground_truth.json`` written by :func:`generate_department`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
