"""Sampling the irradiation events of DX, MG and RF studies (values rounded as encoded).

Rounding: DAP to 1e-8 Gy·m², Dose (RP) to 1e-6 Gy, AGD to 1e-3 mGy, times to 0.1 s / 0.1 ms.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._protocols import MG_PROTOCOL, DxProtocol, RfProtocol
from ._truth import EventTruth

__all__ = ["sample_dx_events", "sample_mg_events", "sample_rf_events", "RF_CAP_GY", "DAP_DEC", "RP_DEC"]

DAP_DEC = 8
RP_DEC = 6
#: Non-injected fluoroscopy studies are scaled down below this total Dose (RP), Gy.
RF_CAP_GY = 3.0
_RP_DISTANCE_MM = 600.0  # source to reference point (15 cm towards the source from isocentre)


def _lognormal(rng: np.random.Generator, median: float, gsd: float) -> float:
    return median * math.exp(float(rng.normal(0.0, math.log(gsd))))


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


def sample_dx_events(
    rng: np.random.Generator, proto: DxProtocol, start: datetime.datetime, new_uid: Callable[[], str]
) -> list[EventTruth]:
    """Return 1–3 radiographic exposures (DAP Gy·m², Dose (RP) Gy, EI/TEI/DI)."""
    n = int(rng.choice(3, p=np.asarray(proto.n_views_p) / sum(proto.n_views_p))) + 1
    moment = start + datetime.timedelta(seconds=int(rng.integers(30, 180)))
    events = []
    for _ in range(n):
        dap = round(float(np.clip(_lognormal(rng, proto.dap_gym2, 1.4), 5e-6, 4e-4)), DAP_DEC)
        area_rp = float(rng.uniform(0.05, 0.12))
        uas = round(_lognormal(rng, proto.mas * 1000.0, 1.3), 0)
        tei = 400.0
        ei = round(tei * math.exp(float(rng.normal(0.0, 0.25))), 1)
        events.append(
            EventTruth(
                event_uid=new_uid(),
                acquisition_protocol=proto.name,
                acquisition_type="Stationary Acquisition",
                datetime_started=_iso(moment),
                target_region=proto.region,
                dap_gym2=dap,
                rp_dose_gy=round(dap / area_rp, RP_DEC),
                kvp=proto.kvp + float(rng.integers(-3, 4)),
                exposure_uas=uas,
                exposure_time_ms=round(uas / 400.0, 1),
                sid_mm=proto.sid_mm,
                field_area_m2=round(float(rng.uniform(0.04, 0.16)), 4),
                ei=ei,
                tei=tei,
                di=round(10.0 * math.log10(ei / tei), 2),
            )
        )
        moment += datetime.timedelta(seconds=int(rng.integers(30, 120)))
    return events


def _mg_view(
    rng: np.random.Generator, uid: str, moment: datetime.datetime, side: str, view: str, thickness: float
) -> EventTruth:
    agd = round(
        float(np.clip(1.3 * math.exp(0.015 * (thickness - 50.0)) * _lognormal(rng, 1.0, 1.12), 0.8, 3.0)), 3
    )
    uas = round(float(rng.uniform(60_000.0, 200_000.0)), 0)
    return EventTruth(
        event_uid=uid,
        acquisition_protocol=MG_PROTOCOL,
        acquisition_type="Stationary Acquisition",
        datetime_started=_iso(moment),
        target_region="breast",
        agd_mgy=agd,
        entrance_exposure_mgy=round(agd * float(rng.uniform(3.5, 5.5)), 2),
        compression_thickness_mm=round(thickness, 1),
        compression_force_n=round(float(rng.uniform(60, 150)), 1),
        anode="tungsten",
        filter_material="rhodium" if thickness < 60.0 else "silver",
        laterality=side,
        view=view,
        kvp=float(round(25.0 + thickness / 7.0)),
        exposure_uas=uas,
        exposure_time_ms=round(uas / 120.0, 1),
        sid_mm=700.0,
    )


def sample_mg_events(
    rng: np.random.Generator, start: datetime.datetime, new_uid: Callable[[], str]
) -> list[EventTruth]:
    """Return the four screening views RCC, LCC, RMLO, LMLO (AGD mGy, thickness mm, force N)."""
    base = {side: float(np.clip(rng.normal(55.0, 12.0), 25.0, 85.0)) for side in ("R", "L")}
    moment = start + datetime.timedelta(seconds=int(rng.integers(60, 180)))
    events = []
    for view in ("CC", "MLO"):
        for side in ("R", "L"):
            thickness = base[side] + (float(rng.uniform(0.0, 8.0)) if view == "MLO" else 0.0)
            events.append(_mg_view(rng, new_uid(), moment, side, view, thickness))
            moment += datetime.timedelta(seconds=int(rng.integers(40, 90)))
    return events


@dataclass(slots=True)
class _RawRf:
    fluoro: bool
    duration_s: float
    pulse_rate: float
    n_pulses: int
    rp_gy: float
    field_area_m2: float
    sid_mm: float


def _raw_rf(rng: np.random.Generator, proto: RfProtocol, fluoro: bool) -> _RawRf:
    sid = float(round(rng.uniform(950.0, 1200.0)))
    area = round(float(rng.uniform(0.02, 0.05)), 4)
    if fluoro:
        duration = round(float(rng.uniform(*proto.fluoro_s)), 1)
        rate = proto.fluoro_pulse_rate
        pulses = max(int(round(duration * rate)), 1)
        rp = _lognormal(rng, proto.fluoro_rate_mgy_s, 1.3) * duration / 1000.0
    else:
        pulses = int(rng.integers(proto.acq_frames[0], proto.acq_frames[1] + 1))
        rate = proto.acq_frame_rate
        duration = round(pulses / rate, 1)
        rp = _lognormal(rng, proto.acq_mgy_per_frame, 1.3) * pulses / 1000.0
    return _RawRf(fluoro, duration, rate, pulses, rp, area, sid)


def _rf_event(
    rng: np.random.Generator,
    proto: RfProtocol,
    raw: _RawRf,
    scale: float,
    uid: str,
    moment: datetime.datetime,
) -> EventTruth:
    rp = round(raw.rp_gy * scale, RP_DEC)
    area_rp = raw.field_area_m2 * (_RP_DISTANCE_MM / raw.sid_mm) ** 2
    if proto.cardiac:
        primary, secondary = float(rng.uniform(-45, 45)), float(rng.uniform(-30, 30))
    else:
        primary, secondary = float(rng.uniform(-20, 20)), 0.0
    return EventTruth(
        event_uid=uid,
        acquisition_protocol=proto.name,
        acquisition_type="Fluoroscopy" if raw.fluoro else "Stationary Acquisition",
        datetime_started=_iso(moment),
        target_region=proto.region,
        dap_gym2=round(rp * area_rp, DAP_DEC),
        rp_dose_gy=rp,
        kvp=float(round(rng.uniform(70.0, 100.0))),
        ma=round(float(rng.uniform(5.0, 30.0) if raw.fluoro else rng.uniform(200.0, 600.0)), 1),
        pulse_rate=raw.pulse_rate,
        n_pulses=raw.n_pulses,
        irradiation_duration_s=raw.duration_s,
        primary_angle_deg=round(primary, 1),
        secondary_angle_deg=round(secondary, 1),
        sid_mm=raw.sid_mm,
        table_longitudinal_mm=round(float(rng.uniform(-300, 300)), 1),
        table_lateral_mm=round(float(rng.uniform(-40, 40)), 1),
        table_height_mm=round(float(rng.uniform(150, 250)), 1),
        field_area_m2=raw.field_area_m2,
    )


def sample_rf_events(
    rng: np.random.Generator,
    proto: RfProtocol,
    start: datetime.datetime,
    new_uid: Callable[[], str],
    rp_target_gy: float | None = None,
) -> list[EventTruth]:
    """Return interleaved fluoroscopy and acquisition events, starting with fluoroscopy.

    The total Dose (RP) is rescaled to ``rp_target_gy`` if given, otherwise capped below
    :data:`RF_CAP_GY` Gy.
    """
    n_f = int(rng.integers(proto.n_fluoro[0], proto.n_fluoro[1] + 1))
    n_a = int(rng.integers(proto.n_acq[0], proto.n_acq[1] + 1))
    kinds = [True] + list(rng.permutation([True] * (n_f - 1) + [False] * n_a))
    raws = [_raw_rf(rng, proto, bool(k)) for k in kinds]
    total = sum(r.rp_gy for r in raws)
    if rp_target_gy is not None:
        scale = rp_target_gy / total
    else:
        scale = min(1.0, 0.9 * RF_CAP_GY / total)
    moment = start + datetime.timedelta(seconds=int(rng.integers(120, 300)))
    events = []
    for raw in raws:
        events.append(_rf_event(rng, proto, raw, scale, new_uid(), moment))
        moment += datetime.timedelta(seconds=int(raw.duration_s + rng.integers(10, 60)))
    return events
