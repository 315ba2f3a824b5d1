"""Sampling the department: rooms, patients and the schedule of studies."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from ._config import DepartmentConfig
from ._protocols import CT_PROTOCOLS, DX_PROTOCOLS, MG_PROTOCOL, RF_PROTOCOLS
from ._sr import make_uid
from ._truth import RoomTruth

__all__ = [
    "Patient",
    "Slot",
    "make_rooms",
    "make_schedule",
    "PatientPool",
    "working_days",
    "MODALITY_RATE",
    "age_years",
    "CT_STYLE",
]

#: Mean studies per room-day relative to ``studies_per_room_per_day`` (CT = 1).
MODALITY_RATE = {"CT": 1.0, "DX": 1.5, "MG": 0.8, "RF": 0.5}
#: Latest study start (hours after midnight) so that all events end before 18:00.
_LATEST_START_H = {"CT": 17.5, "DX": 17.75, "MG": 17.6, "RF": 16.0}

_VENDORS: dict[str, list[tuple[str, str, str, bool]]] = {
    "CT": [
        ("SIEMENS", "SOMATOM Definition AS", "syngo CT VA48A", True),
        ("GE MEDICAL SYSTEMS", "Revolution CT", "revo_ct_22mw.42", False),
    ],
    "DX": [("Philips Medical Systems", "DigitalDiagnost", "4.3.5", False)],
    "MG": [("HOLOGIC, Inc.", "Selenia Dimensions", "1.10.2.3", True)],
    "RF": [("Siemens", "Artis zee", "VD11C", False)],
}
#: Station name -> ``"siemens"``/``"ge"`` CT behaviour is derived from the manufacturer.
CT_STYLE = {"SIEMENS": "siemens", "GE MEDICAL SYSTEMS": "ge"}

_SURNAMES = (
    "SMITH",
    "JONES",
    "TAYLOR",
    "BROWN",
    "WILLIAMS",
    "WILSON",
    "JOHNSON",
    "DAVIES",
    "PATEL",
    "WRIGHT",
    "ROBINSON",
    "THOMPSON",
    "EVANS",
    "WALKER",
    "WHITE",
    "ROBERTS",
    "GREEN",
    "HALL",
    "WOOD",
    "JACKSON",
    "CLARKE",
    "KHAN",
    "HUGHES",
    "EDWARDS",
    "HILL",
    "MOORE",
    "LEWIS",
    "HARRIS",
    "MARTIN",
    "COOPER",
)
_GIVEN = {
    "M": (
        "Oliver",
        "George",
        "Harry",
        "Jack",
        "Jacob",
        "Noah",
        "Charlie",
        "Thomas",
        "Oscar",
        "William",
        "James",
        "Mohammed",
        "David",
        "Peter",
        "Arjun",
    ),
    "F": (
        "Olivia",
        "Amelia",
        "Isla",
        "Ava",
        "Emily",
        "Sophie",
        "Grace",
        "Mia",
        "Poppy",
        "Ella",
        "Margaret",
        "Susan",
        "Fatima",
        "Priya",
        "Helen",
    ),
}


@dataclass(frozen=True, slots=True)
class Patient:
    """A synthetic patient (weight kg, height m, rounded as encoded)."""

    patient_id: str
    name: str
    sex: str
    birth_date: datetime.date
    weight_kg: float
    height_m: float


@dataclass(frozen=True, slots=True)
class Slot:
    """A scheduled study before dose sampling."""

    room: RoomTruth
    start: datetime.datetime
    protocol: str


def make_rooms(config: DepartmentConfig, rng: np.random.Generator) -> list[RoomTruth]:
    """Return the rooms (devices) of the department, CT first, then DX, MG, RF."""
    rooms: list[RoomTruth] = []
    counts = {"CT": config.ct_rooms, "DX": config.dx_rooms, "MG": config.mg_rooms, "RF": config.rf_rooms}
    for modality, count in counts.items():
        for i in range(count):
            manufacturer, model, software, legacy = _VENDORS[modality][i % len(_VENDORS[modality])]
            station = f"{modality}{i + 1}"
            serial = str(int(rng.integers(10_000, 99_999)))
            rooms.append(
                RoomTruth(
                    station_name=station,
                    modality=modality,
                    manufacturer=manufacturer,
                    model=model,
                    serial=serial,
                    device_observer_uid=make_uid(config.seed, "device", station),
                    software_versions=software,
                    legacy_snomed=legacy,
                )
            )
    return rooms


def working_days(config: DepartmentConfig) -> list[datetime.date]:
    """Return the Monday–Friday dates of the period ``[start, end)``."""
    days = []
    day = config.start
    while day < config.end:
        if day.weekday() < 5:
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


def _protocol_names(modality: str) -> tuple[list[str], np.ndarray]:
    if modality == "CT":
        names, freq = [p.name for p in CT_PROTOCOLS], [p.frequency for p in CT_PROTOCOLS]
    elif modality == "DX":
        names, freq = [p.name for p in DX_PROTOCOLS], [p.frequency for p in DX_PROTOCOLS]
    elif modality == "RF":
        names, freq = [p.name for p in RF_PROTOCOLS], [p.frequency for p in RF_PROTOCOLS]
    else:
        names, freq = [MG_PROTOCOL], [1.0]
    p = np.asarray(freq, dtype=float)
    return names, p / p.sum()


def make_schedule(config: DepartmentConfig, rooms: list[RoomTruth], rng: np.random.Generator) -> list[Slot]:
    """Return all studies of the period ordered by day, room and start time.

    Per room and working day the number of studies is Poisson distributed; start times are
    uniform between 08:00 and a modality-dependent latest start (to the second).
    """
    slots: list[Slot] = []
    tables = {m: _protocol_names(m) for m in MODALITY_RATE}
    for day in working_days(config):
        midnight = datetime.datetime.combine(day, datetime.time())
        for room in rooms:
            lam = config.studies_per_room_per_day * MODALITY_RATE[room.modality]
            n = int(rng.poisson(lam))
            if n == 0:
                continue
            latest = _LATEST_START_H[room.modality] * 3600.0
            seconds = np.sort(rng.uniform(8 * 3600.0, latest, size=n)).astype(int)
            names, p = tables[room.modality]
            choices = rng.choice(len(names), size=n, p=p)
            for sec, idx in zip(seconds, choices, strict=True):
                start = midnight + datetime.timedelta(seconds=int(sec))
                slots.append(Slot(room, start, names[int(idx)]))
    return slots


class PatientPool:
    """Creates patients and lets some of them come back for another study."""

    def __init__(self, rng: np.random.Generator, return_probability: float = 0.15) -> None:
        self._rng = rng
        self._return_p = return_probability
        self._general: list[Patient] = []
        self._screening: list[Patient] = []
        self._count = 0

    def pick(self, modality: str, day: datetime.date) -> Patient:
        """Return a patient for a study on ``day`` (MG: women aged 47–73)."""
        pool = self._screening if modality == "MG" else self._general
        p_return = 0.03 if modality == "MG" else self._return_p
        if pool and self._rng.random() < p_return:
            return pool[int(self._rng.integers(len(pool)))]
        patient = self._new("F" if modality == "MG" else None, day, modality == "MG")
        pool.append(patient)
        return patient

    def _new(self, sex: str | None, day: datetime.date, screening: bool) -> Patient:
        rng = self._rng
        self._count += 1
        if sex is None:
            sex = "M" if rng.random() < 0.5 else "F"
        age_days = rng.uniform(47, 74) * 365.25 if screening else rng.triangular(18, 65, 95) * 365.25
        birth = day - datetime.timedelta(days=int(age_days))
        if sex == "M":
            weight, height = rng.normal(82.0, 14.0), rng.normal(1.76, 0.07)
        else:
            weight, height = rng.normal(70.0, 14.0), rng.normal(1.63, 0.065)
        surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
        given = _GIVEN[sex][int(rng.integers(len(_GIVEN[sex])))]
        return Patient(
            patient_id=f"SYN{self._count:07d}",
            name=f"{surname}^{given}",
            sex=sex,
            birth_date=birth,
            weight_kg=round(float(np.clip(weight, 40.0, 160.0)), 1),
            height_m=round(float(np.clip(height, 1.40, 2.05)), 2),
        )


def age_years(birth: datetime.date, day: datetime.date) -> int:
    """Return the age in completed years on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
