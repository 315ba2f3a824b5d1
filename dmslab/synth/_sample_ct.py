"""Sampling the irradiation events of one CT study (values rounded as encoded)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._model import CT_STYLE
from ._protocols import CtProtocol
from ._truth import EventTruth, RoomTruth

__all__ = ["CtRequest", "sample_ct_events", "total_dlp", "CAP_FRACTION"]

#: Non-injected studies are scaled down to 0.9 × DRL if they would exceed this fraction of it.
CAP_FRACTION = 0.95
#: CTDIvol (mGy) per 100 mAs (effective) at 120 kV for the 16 cm and 32 cm phantoms.
_CTDI_PER_100MAS = {16: 17.0, 32: 7.5}


@dataclass(frozen=True, slots=True)
class CtRequest:
    """Modifiers of one CT study: CTDIvol factor (protocol change) and target study DLP (mGy·cm)."""

    ctdi_factor: float = 1.0
    dlp_target: float | None = None


def total_dlp(events: list[EventTruth]) -> float:
    """Return the study DLP (mGy·cm): sum of the events' rounded DLPs, rounded to 0.01."""
    return round(sum(e.dlp_mgycm for e in events if e.dlp_mgycm is not None), 2)


def _localizer(
    rng: np.random.Generator, style: str, proto: CtProtocol, uid: str, start: datetime.datetime
) -> EventTruth:
    length = 256.0 if proto.phantom_cm == 16 else round(float(rng.uniform(400.0, 600.0)), 1)
    single = 0.6 if style == "siemens" else 0.625
    ev = EventTruth(
        event_uid=uid,
        acquisition_protocol="Topogram" if style == "siemens" else "Scout",
        acquisition_type="Constant Angle Acquisition",
        datetime_started=start.isoformat(),
        target_region=proto.region,
        scan_length_mm=length,
        kvp=120.0,
        ma=35.0 if style == "siemens" else 10.0,
        exposure_time_s=round(length / 100.0, 2),
        collimation_single_mm=single,
        collimation_total_mm=round(single * 2, 3),
    )
    ev.max_ma = ev.ma
    if style == "ge" and rng.random() < 0.5:
        return ev  # real GE scanners report no CT Dose for about half of the scouts
    ev.ctdivol_mgy = round(float(rng.uniform(0.1, 0.3)), 2)
    ev.phantom_cm = proto.phantom_cm
    ev.dlp_mgycm = round(ev.ctdivol_mgy * length / 10.0, 2)
    return ev


def _scale(
    proto: CtProtocol, raw: list[tuple[float, float, float]], loc_dlp: float, request: CtRequest
) -> float:
    main = sum(ctdi * length * over for length, over, ctdi in raw)
    if main <= 0:
        return 1.0
    if request.dlp_target is not None:
        return max(request.dlp_target - loc_dlp, 0.0) / main
    if loc_dlp + main > CAP_FRACTION * proto.drl_dlp_mgycm:
        return max(0.9 * proto.drl_dlp_mgycm - loc_dlp, 0.0) / main
    return 1.0


@dataclass(frozen=True, slots=True)
class _Scan:
    """A helical/sequenced scan before rounding: length (cm), overscan factor, CTDIvol (mGy)."""

    length_cm: float
    over: float
    ctdi: float
    sequenced: bool


def _main_event(style: str, proto: CtProtocol, uid: str, start: datetime.datetime, scan: _Scan) -> EventTruth:
    head = proto.phantom_cm == 16
    length_cm, over, ctdi, sequenced = scan.length_cm, scan.over, scan.ctdi, scan.sequenced
    single = 0.6 if style == "siemens" else 0.625
    total = single * (24 if sequenced else 64)
    rot = 1.0 if head else 0.5
    if sequenced:
        pitch = 1.0
    elif style == "siemens":
        pitch = 0.55 if head else 0.8
    else:
        pitch = 0.516 if head else 0.984
    length_mm = round(length_cm * 10.0, 1)
    ctdi_r = round(ctdi, 2)
    mas_eff = ctdi_r / (_CTDI_PER_100MAS[proto.phantom_cm] * (proto.kvp / 120.0) ** 2.5) * 100.0
    ma = float(max(round(mas_eff * pitch / rot), 10))
    return EventTruth(
        event_uid=uid,
        acquisition_protocol=proto.name,
        acquisition_type="Sequenced Acquisition" if sequenced else "Spiral Acquisition",
        datetime_started=start.isoformat(),
        target_region=proto.region,
        ctdivol_mgy=ctdi_r,
        dlp_mgycm=round(ctdi_r * length_mm / 10.0 * over, 2),
        phantom_cm=proto.phantom_cm,
        scan_length_mm=length_mm,
        pitch=pitch,
        kvp=proto.kvp,
        ma=ma,
        max_ma=ma if head else float(round(ma * 1.4)),
        exposure_time_s=round(length_mm * over / (pitch * total) * rot, 2),
        rotation_time_s=rot,
        collimation_single_mm=single,
        collimation_total_mm=round(total, 3),
    )


def sample_ct_events(
    rng: np.random.Generator,
    room: RoomTruth,
    proto: CtProtocol,
    start: datetime.datetime,
    new_uid: Callable[[], str],
    request: CtRequest = CtRequest(),
) -> list[EventTruth]:
    """Return 1–2 localizers followed by 1–3 helical or sequenced events.

    Main-event CTDIvol is log-normal (median ``ref_ctdivol × median_fraction``, geometric SD
    ``gsd``) times ``request.ctdi_factor``; DLP = CTDIvol × scan length × (1 + overscan).
    Studies are rescaled to ``request.dlp_target`` if given, else capped below the DRL DLP.
    """
    style = CT_STYLE.get(room.manufacturer, "siemens")
    moment = start + datetime.timedelta(seconds=int(rng.integers(20, 120)))
    events: list[EventTruth] = []
    for _ in range(1 if rng.random() < 0.6 else 2):
        events.append(_localizer(rng, style, proto, new_uid(), moment))
        moment += datetime.timedelta(seconds=int(rng.integers(15, 60)))
    n_main = int(rng.choice(3, p=np.asarray(proto.n_events_p) / sum(proto.n_events_p))) + 1
    sequenced = (
        style == "siemens" and proto.phantom_cm == 16 and proto.region == "head" and bool(rng.random() < 0.5)
    )
    median = proto.ref_ctdivol_mgy * proto.median_fraction
    raw: list[tuple[float, float, float]] = []
    for j in range(n_main):
        length = float(rng.uniform(*proto.length_cm)) * (1.0 if j == 0 else float(rng.uniform(0.3, 0.6)))
        ctdi = median * math.exp(float(rng.normal(0.0, math.log(proto.gsd)))) * request.ctdi_factor
        over = 1.0 if sequenced else 1.0 + float(rng.uniform(0.01, 0.08))
        raw.append((length, round(over, 3), ctdi))
    scale = _scale(proto, raw, total_dlp(events), request)
    for length, over, ctdi in raw:
        ev = _main_event(style, proto, new_uid(), moment, _Scan(length, over, ctdi * scale, sequenced))
        events.append(ev)
        gap = (ev.exposure_time_s or 0.0) + float(rng.integers(30, 180))
        moment += datetime.timedelta(seconds=int(gap))
    return events
