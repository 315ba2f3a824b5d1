"""Examination protocols of the synthetic department and their dose models.

CT reference levels are the UK national DRLs (UKHSA, per examination: CTDIvol in mGy,
DLP in mGy·cm). Other values are plausible typical values, not references.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CtProtocol",
    "DxProtocol",
    "RfProtocol",
    "CT_PROTOCOLS",
    "DX_PROTOCOLS",
    "RF_PROTOCOLS",
    "MG_PROTOCOL",
    "HEAD_PROTOCOL",
]


@dataclass(frozen=True, slots=True)
class CtProtocol:
    """A CT protocol.

    ``drl_ctdivol_mgy``/``drl_dlp_mgycm`` are the UK NDRLs (``None`` if none exists);
    ``ref_ctdivol_mgy`` is the CTDIvol (mGy) whose ``median_fraction`` is the median of the
    helical events (log-normal with geometric SD ``gsd``); ``length_cm`` is the range of the
    main scan length (cm); ``n_events_p`` gives P(1, 2, 3 helical/sequenced events); later
    events (e.g. delayed phases) cover 30–60 % of that length.
    """

    name: str
    region: str
    phantom_cm: int
    drl_ctdivol_mgy: float | None
    drl_dlp_mgycm: float
    ref_ctdivol_mgy: float
    median_fraction: float
    gsd: float
    length_cm: tuple[float, float]
    kvp: float
    frequency: float
    n_events_p: tuple[float, float, float]


HEAD_PROTOCOL = "CT Head Routine"

#: Routine heads are scanned at fixed mA (no tube current modulation): little spread (GSD 1.1).
CT_PROTOCOLS: tuple[CtProtocol, ...] = (
    CtProtocol(
        HEAD_PROTOCOL, "head", 16, 47.0, 790.0, 47.0, 0.7, 1.1, (14.0, 18.0), 120.0, 0.35, (0.92, 0.08, 0.0)
    ),
    CtProtocol(
        "CT Sinus", "sinus", 16, 12.0, 160.0, 12.0, 0.7, 1.25, (9.0, 13.0), 100.0, 0.05, (1.0, 0.0, 0.0)
    ),
    CtProtocol(
        "CT C-Spine Trauma",
        "cspine",
        32,
        16.0,
        400.0,
        16.0,
        0.7,
        1.3,
        (18.0, 24.0),
        120.0,
        0.07,
        (0.95, 0.05, 0.0),
    ),
    CtProtocol(
        "CT Chest Lung Cancer",
        "chest",
        32,
        8.5,
        290.0,
        8.5,
        0.7,
        1.3,
        (26.0, 34.0),
        120.0,
        0.12,
        (0.9, 0.1, 0.0),
    ),
    CtProtocol(
        "CT Chest Abdomen Pelvis",
        "chest_abdomen_pelvis",
        32,
        None,
        660.0,
        9.0,
        0.7,
        1.3,
        (60.0, 75.0),
        120.0,
        0.18,
        (0.7, 0.25, 0.05),
    ),
    CtProtocol(
        "CT Pulmonary Angiogram",
        "chest",
        32,
        9.1,
        310.0,
        9.1,
        0.65,
        1.3,
        (28.0, 35.0),
        100.0,
        0.08,
        (0.95, 0.05, 0.0),
    ),
    CtProtocol(
        "CT Abdomen Pelvis",
        "abdomen_pelvis",
        32,
        10.0,
        530.0,
        10.0,
        0.7,
        1.3,
        (40.0, 50.0),
        120.0,
        0.10,
        (0.7, 0.25, 0.05),
    ),
    CtProtocol(
        "CT KUB Stones",
        "abdomen_pelvis",
        32,
        6.3,
        290.0,
        6.3,
        0.6,
        1.3,
        (38.0, 46.0),
        120.0,
        0.05,
        (0.95, 0.05, 0.0),
    ),
)


@dataclass(frozen=True, slots=True)
class DxProtocol:
    """A radiography protocol: median DAP per view (Gy·m²), kVp, mAs, SID (mm), P(1, 2, 3 views)."""

    name: str
    region: str
    kvp: float
    dap_gym2: float
    mas: float
    sid_mm: float
    n_views_p: tuple[float, float, float]
    frequency: float


DX_PROTOCOLS: tuple[DxProtocol, ...] = (
    DxProtocol("Chest PA", "chest", 125.0, 1.0e-5, 2.0, 1800.0, (0.85, 0.15, 0.0), 0.5),
    DxProtocol("Abdomen AP", "abdomen", 77.0, 2.0e-4, 20.0, 1150.0, (0.9, 0.1, 0.0), 0.15),
    DxProtocol("Lumbar Spine AP", "lspine", 81.0, 1.2e-4, 20.0, 1150.0, (0.3, 0.6, 0.1), 0.15),
    DxProtocol("Knee", "knee", 63.0, 2.0e-5, 4.0, 1150.0, (0.2, 0.7, 0.1), 0.2),
)


@dataclass(frozen=True, slots=True)
class RfProtocol:
    """A fluoroscopy protocol.

    Event counts are inclusive ranges; ``fluoro_rate_mgy_s`` is the reference-point dose rate
    (mGy/s), ``acq_mgy_per_frame`` the reference-point dose per acquired frame (mGy).
    """

    name: str
    region: str
    n_fluoro: tuple[int, int]
    n_acq: tuple[int, int]
    fluoro_s: tuple[float, float]
    fluoro_rate_mgy_s: float
    fluoro_pulse_rate: float
    acq_frames: tuple[int, int]
    acq_frame_rate: float
    acq_mgy_per_frame: float
    cardiac: bool
    frequency: float


RF_PROTOCOLS: tuple[RfProtocol, ...] = (
    RfProtocol(
        "Barium Swallow", "esophagus", (3, 8), (1, 4), (5.0, 40.0), 0.3, 7.5, (1, 3), 2.0, 1.0, False, 0.3
    ),
    RfProtocol("ERCP", "biliary", (3, 10), (1, 3), (10.0, 60.0), 0.3, 7.5, (1, 4), 2.0, 1.0, False, 0.25),
    RfProtocol(
        "Coronary Angiography",
        "heart",
        (5, 12),
        (6, 10),
        (5.0, 30.0),
        0.8,
        15.0,
        (45, 90),
        15.0,
        0.15,
        True,
        0.25,
    ),
    RfProtocol("PCI", "heart", (10, 25), (10, 20), (10.0, 60.0), 0.8, 15.0, (45, 90), 15.0, 0.15, True, 0.2),
)

MG_PROTOCOL = "Screening Mammography"
