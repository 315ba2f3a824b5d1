"""Encoding DX, MG and RF studies as TID 10001 Projection X-Ray Radiation Dose SRs."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ._codes import Code, dcm, snomed
from ._ct import irradiation_span
from ._sample_projection import DAP_DEC, RP_DEC
from ._sr import (
    Item,
    ReportHeader,
    code_item,
    container,
    datetime_item,
    dicom_dt,
    document,
    num_item,
    observer_context,
    text_item,
    uidref_item,
)
from ._truth import EventTruth, RoomTruth, StudyTruth

__all__ = ["ProjectionTotals", "projection_totals", "projection_document"]


@dataclass(frozen=True, slots=True)
class ProjectionTotals:
    """Accumulated values of a projection study, each the rounded sum of the rounded events.

    DAP in Gy·m², Dose (RP) in Gy, times in s, AGD in mGy; ``None`` if not applicable.
    """

    dap_gym2: float | None
    rp_gy: float | None
    fluoro_dap_gym2: float | None = None
    fluoro_rp_gy: float | None = None
    fluoro_time_s: float | None = None
    acq_dap_gym2: float | None = None
    acq_rp_gy: float | None = None
    acq_time_s: float | None = None
    agd_left_mgy: float | None = None
    agd_right_mgy: float | None = None


def _sum(values: list[float | None], decimals: int) -> float:
    return round(sum(v for v in values if v is not None), decimals)


def projection_totals(modality: str, events: list[EventTruth]) -> ProjectionTotals:
    """Return the accumulated totals written for ``events`` of a DX, MG or RF study."""
    if modality == "MG":
        return ProjectionTotals(
            dap_gym2=None,
            rp_gy=None,
            agd_left_mgy=_sum([e.agd_mgy for e in events if e.laterality == "L"], 3),
            agd_right_mgy=_sum([e.agd_mgy for e in events if e.laterality == "R"], 3),
        )
    dap = _sum([e.dap_gym2 for e in events], DAP_DEC)
    rp = _sum([e.rp_dose_gy for e in events], RP_DEC)
    if modality != "RF":
        return ProjectionTotals(dap_gym2=dap, rp_gy=rp)
    fl = [e for e in events if e.acquisition_type == "Fluoroscopy"]
    acq = [e for e in events if e.acquisition_type != "Fluoroscopy"]
    return ProjectionTotals(
        dap_gym2=dap,
        rp_gy=rp,
        fluoro_dap_gym2=_sum([e.dap_gym2 for e in fl], DAP_DEC),
        fluoro_rp_gy=_sum([e.rp_dose_gy for e in fl], RP_DEC),
        fluoro_time_s=_sum([e.irradiation_duration_s for e in fl], 1),
        acq_dap_gym2=_sum([e.dap_gym2 for e in acq], DAP_DEC),
        acq_rp_gy=_sum([e.rp_dose_gy for e in acq], RP_DEC),
        acq_time_s=_sum([e.irradiation_duration_s for e in acq], 1),
    )


def _accumulated(modality: str, totals: ProjectionTotals, legacy: bool) -> Item:
    items = [code_item(dcm("113764"), dcm("113622"), "HAS CONCEPT MOD")]
    ref_point = code_item(dcm("113780"), dcm("113860"))
    if modality == "MG":
        for key, value in (("right", totals.agd_right_mgy), ("left", totals.agd_left_mgy)):
            lat = code_item(snomed("laterality", legacy), snomed(key, legacy), "HAS CONCEPT MOD")
            items.append(num_item(dcm("111637"), value or 0.0, "mGy", children=[lat]))
        return container(dcm("113702"), items)
    if modality == "RF":
        items += [
            num_item(dcm("113726"), totals.fluoro_dap_gym2 or 0.0, "Gy.m2"),
            num_item(dcm("113728"), totals.fluoro_rp_gy or 0.0, "Gy"),
            num_item(dcm("113730"), totals.fluoro_time_s or 0.0, "s"),
            num_item(dcm("113727"), totals.acq_dap_gym2 or 0.0, "Gy.m2"),
            num_item(dcm("113729"), totals.acq_rp_gy or 0.0, "Gy"),
            num_item(dcm("113855"), totals.acq_time_s or 0.0, "s"),
        ]
    items += [
        num_item(dcm("113722"), totals.dap_gym2 or 0.0, "Gy.m2"),
        num_item(dcm("113725"), totals.rp_gy or 0.0, "Gy"),
        ref_point,
    ]
    return container(dcm("113702"), items)


def _optional_nums(ev: EventTruth) -> list[Item]:
    spec: list[tuple[str, float | int | None, str]] = [
        ("122130", ev.dap_gym2, "Gy.m2"),
        ("113738", ev.rp_dose_gy, "Gy"),
        ("111631", ev.agd_mgy, "mGy"),
        ("111636", ev.entrance_exposure_mgy, "mGy"),
        ("111633", ev.compression_thickness_mm, "mm"),
        ("111647", ev.compression_force_n, "N"),
        ("112011", ev.primary_angle_deg, "deg"),
        ("112012", ev.secondary_angle_deg, "deg"),
        ("113845", ev.ei, "1"),
        ("113846", ev.tei, "1"),
        ("113847", ev.di, "1"),
        ("113791", ev.pulse_rate, "{pulse}/s"),
        ("113768", ev.n_pulses, "{pulses}"),
        ("113733", ev.kvp, "kV"),
        ("113734", ev.ma, "mA"),
        ("113736", ev.exposure_uas, "uA.s"),
        ("113824", ev.exposure_time_ms, "ms"),
        ("113742", ev.irradiation_duration_s, "s"),
        ("113750", ev.sid_mm, "mm"),
        ("113751", ev.table_longitudinal_mm, "mm"),
        ("113752", ev.table_lateral_mm, "mm"),
        ("113753", ev.table_height_mm, "mm"),
        ("113790", ev.field_area_m2, "m2"),
    ]
    return [num_item(dcm(code), value, unit) for code, value, unit in spec if value is not None]


def _event(ev: EventTruth, legacy: bool) -> Item:
    if ev.acquisition_type == "Fluoroscopy":
        event_type = snomed("fluoroscopy", legacy)
    else:
        event_type = dcm("113611")
    items = [
        code_item(dcm("113764"), dcm("113622"), "HAS CONCEPT MOD"),
        uidref_item(dcm("113769"), ev.event_uid),
        datetime_item(dcm("111526"), dicom_dt(datetime.datetime.fromisoformat(ev.datetime_started))),
        code_item(dcm("113721"), event_type),
        text_item(dcm("125203"), ev.acquisition_protocol),
        code_item(dcm("123014"), snomed(ev.target_region, legacy)),
    ]
    if ev.view is not None:
        items.append(code_item(dcm("111031"), snomed(ev.view.lower(), legacy)))
    if ev.laterality is not None:
        side = snomed("right" if ev.laterality == "R" else "left", legacy)
        items.append(code_item(snomed("laterality", legacy), side))
    if ev.rp_dose_gy is not None:
        items.append(code_item(dcm("113780"), dcm("113860")))
    items += _optional_nums(ev)
    if ev.anode is not None:
        items.append(code_item(dcm("111632"), snomed(ev.anode, legacy)))
    if ev.filter_material is not None:
        items.append(
            container(
                dcm("113771"),
                [
                    code_item(dcm("113772"), dcm("113653")),
                    code_item(dcm("113757"), snomed(ev.filter_material, legacy)),
                    num_item(dcm("113758"), 0.05, "mm"),
                    num_item(dcm("113773"), 0.05, "mm"),
                ],
            )
        )
    return container(dcm("113706"), items)


def projection_document(
    study: StudyTruth, room: RoomTruth, events: list[EventTruth], sop_uid: str, series_number: int
) -> Dataset:
    """Return the Projection X-Ray Radiation Dose SR (TID 10001) of ``events`` of ``study``."""
    legacy = room.legacy_snomed
    modality = room.modality
    procedure: Code = snomed("mammography", legacy) if modality == "MG" else dcm("113704")
    device_type = dcm("113957" if modality == "RF" else "113958")
    first, end = irradiation_span(events)
    content = [
        code_item(dcm("121058"), procedure, "HAS CONCEPT MOD"),
        code_item(dcm("122142"), device_type, "HAS OBS CONTEXT"),
        *observer_context(room),
        datetime_item(dcm("113809"), dicom_dt(first), "HAS OBS CONTEXT"),
        datetime_item(dcm("113810"), dicom_dt(end), "HAS OBS CONTEXT"),
        code_item(
            dcm("113705"),
            dcm("113014"),
            "HAS OBS CONTEXT",
            [uidref_item(dcm("110180"), study.study_uid, "HAS PROPERTIES")],
        ),
        _accumulated(modality, projection_totals(modality, events), legacy),
        *(_event(ev, legacy) for ev in events),
        code_item(dcm("113854"), dcm("113856")),
    ]
    header = ReportHeader(sop_uid, series_number, "10001", end + datetime.timedelta(minutes=2))
    return document(study, room, header, content)
