"""Encoding a CT study as a TID 10011 CT Radiation Dose SR."""

from __future__ import annotations

import datetime

from pydicom.dataset import Dataset

from ._codes import dcm, snomed
from ._sample_ct import total_dlp
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

__all__ = ["ct_document", "irradiation_span"]

_ACQ_TYPE = {"Constant Angle Acquisition": "113805", "Sequenced Acquisition": "113804"}


def irradiation_span(events: list[EventTruth]) -> tuple[datetime.datetime, datetime.datetime]:
    """Return start and end of irradiation (end = last start + its duration, s resolution)."""
    first = datetime.datetime.fromisoformat(events[0].datetime_started)
    last = events[-1]
    seconds = last.exposure_time_s or last.irradiation_duration_s
    if seconds is None and last.exposure_time_ms is not None:
        seconds = last.exposure_time_ms / 1000.0
    end = datetime.datetime.fromisoformat(last.datetime_started) + datetime.timedelta(
        seconds=int(round(seconds or 0.0)) + 1
    )
    return first, end


def _parameters(ev: EventTruth) -> Item:
    items = [
        num_item(dcm("113824"), ev.exposure_time_s or 0.0, "s"),
        num_item(dcm("113825"), ev.scan_length_mm or 0.0, "mm"),
        num_item(dcm("113826"), ev.collimation_single_mm or 0.0, "mm"),
        num_item(dcm("113827"), ev.collimation_total_mm or 0.0, "mm"),
    ]
    if ev.pitch is not None:
        items.append(num_item(dcm("113828"), ev.pitch, "{ratio}"))
    items.append(num_item(dcm("113823"), 1, "{X-Ray sources}"))
    source = [
        text_item(dcm("113832"), "A"),
        num_item(dcm("113733"), ev.kvp or 0.0, "kV"),
        num_item(dcm("113833"), ev.max_ma or 0.0, "mA"),
        num_item(dcm("113734"), ev.ma or 0.0, "mA"),
    ]
    if ev.rotation_time_s is not None:
        source.append(num_item(dcm("113834"), ev.rotation_time_s, "s"))
    items.append(container(dcm("113831"), source))
    return container(dcm("113822"), items)


def _acquisition(ev: EventTruth, legacy: bool) -> Item:
    if ev.acquisition_type == "Spiral Acquisition":
        acq_type = snomed("spiral", legacy)
    else:
        acq_type = dcm(_ACQ_TYPE[ev.acquisition_type])
    start = datetime.datetime.fromisoformat(ev.datetime_started)
    items = [
        text_item(dcm("125203"), ev.acquisition_protocol),
        code_item(dcm("123014"), snomed(ev.target_region, legacy)),
        code_item(dcm("113820"), acq_type),
        uidref_item(dcm("113769"), ev.event_uid),
        datetime_item(dcm("111526"), dicom_dt(start)),
        _parameters(ev),
    ]
    if ev.ctdivol_mgy is not None and ev.dlp_mgycm is not None:
        phantom = dcm("113690" if ev.phantom_cm == 16 else "113691")
        items.append(
            container(
                dcm("113829"),
                [
                    num_item(dcm("113830"), ev.ctdivol_mgy, "mGy"),
                    code_item(dcm("113835"), phantom),
                    num_item(dcm("113838"), ev.dlp_mgycm, "mGy.cm"),
                ],
            )
        )
    return container(dcm("113819"), items)


def ct_document(
    study: StudyTruth, room: RoomTruth, events: list[EventTruth], sop_uid: str, series_number: int
) -> Dataset:
    """Return the CT Radiation Dose SR (TID 10011) of ``events`` of ``study``.

    ``events`` may be the first events only (partial, cumulative report); the accumulated DLP is
    the sum of the events' rounded DLPs (mGy·cm).
    """
    legacy = room.legacy_snomed
    first, end = irradiation_span(events)
    content = [
        code_item(dcm("121058"), snomed("ct", legacy), "HAS CONCEPT MOD"),
        *observer_context(room),
        datetime_item(dcm("113809"), dicom_dt(first), "HAS OBS CONTEXT"),
        datetime_item(dcm("113810"), dicom_dt(end), "HAS OBS CONTEXT"),
        code_item(
            dcm("113705"),
            dcm("113014"),
            "HAS OBS CONTEXT",
            [uidref_item(dcm("110180"), study.study_uid, "HAS PROPERTIES")],
        ),
        container(
            dcm("113811"),
            [
                num_item(dcm("113812"), len(events), "{events}"),
                num_item(dcm("113813"), total_dlp(events), "mGy.cm"),
            ],
        ),
        *(_acquisition(ev, legacy) for ev in events),
        code_item(dcm("113854"), dcm("113856")),
    ]
    header = ReportHeader(sop_uid, series_number, "10011", end + datetime.timedelta(minutes=2))
    return document(study, room, header, content)
