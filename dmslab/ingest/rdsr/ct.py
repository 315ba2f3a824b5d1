"""CT Radiation Dose (TID 10011): accumulated data (TID 10012) and CT acquisitions (TID 10013-10015)."""

from __future__ import annotations

from statistics import fmean

from dmslab import codes as c
from dmslab.errors import IngestError
from dmslab.ingest.rdsr._extract import Extractor, NumSpec
from dmslab.ingest.rdsr._tree import Item
from dmslab.records import CtEventRecord

__all__ = ["ct_accumulated", "ct_events"]

_EVENT_NUMS: NumSpec = {
    c.MEAN_CTDIVOL: ("ctdivol_mgy", "dose_mgy"),
    c.DLP: ("dlp_mgycm", "dlp"),
    c.SCANNING_LENGTH: ("scan_length_mm", "length_mm"),
    c.EXPOSED_RANGE: ("exposed_range_mm", "length_mm"),
    c.PITCH_FACTOR: ("pitch", "ratio"),
    c.TOTAL_COLLIMATION: ("collimation_mm", "length_mm"),
    c.SINGLE_COLLIMATION: ("single_collimation_mm", "length_mm"),
    c.NUMBER_OF_SOURCES: ("n_sources", "count"),
    c.EXPOSURE_TIME: ("exposure_time_s", "time_s"),
    c.SSDE: ("ssde_mgy", "dose_mgy"),
    c.EFFECTIVE_DOSE: ("effective_dose_msv", "effective_dose"),
    c.CTDIVOL_ALERT_VALUE: ("alert_ctdivol_mgy", "dose_mgy"),
    c.DLP_ALERT_VALUE: ("alert_dlp_mgycm", "dlp"),
    c.CTDIVOL_NOTIFICATION_VALUE: ("notification_ctdivol_mgy", "dose_mgy"),
    c.DLP_NOTIFICATION_VALUE: ("notification_dlp_mgycm", "dlp"),
    c.CTDIVOL_FORWARD: ("forward_ctdivol_mgy", "dose_mgy"),
    c.ACCUM_CTDIVOL_FORWARD: ("accumulated_forward_ctdivol_mgy", "dose_mgy"),
    c.DLP_FORWARD: ("forward_dlp_mgycm", "dlp"),
    c.ACCUM_DLP_FORWARD: ("accumulated_forward_dlp_mgycm", "dlp"),
}
_PHANTOM_CM = {c.PHANTOM_HEAD_16: 16, c.PHANTOM_BODY_32: 32}


def _sources(ex: Extractor, event: Item) -> None:
    """X-ray source parameters (113831), one container per tube: kVp of the first, mean mA, max of max mA."""
    params = event.child(c.CT_ACQUISITION_PARAMETERS)
    containers = params.children_of(c.CT_SOURCE_PARAMETERS) if params else []
    kvps: list[float] = []
    mas: list[float] = []
    maxes: list[float] = []
    rot: list[float] = []
    for src in containers:
        for code, field, quantity, bucket in (
            (c.KVP, "kvp", "voltage_kv", kvps),
            (c.TUBE_CURRENT, "ma", "current_ma", mas),
            (c.MAX_TUBE_CURRENT, "max_ma", "current_ma", maxes),
            (c.ROTATION_TIME, "rotation_time_s", "time_s", rot),
        ):
            v = ex.num(src.child(code), field, quantity)
            if v is not None:
                bucket.append(v)
    if kvps:
        ex.values["kvp"] = kvps[0]
    if mas:
        ex.values["ma"] = fmean(mas)
    if maxes:
        ex.values["max_ma"] = max(maxes)
    if rot:
        ex.values["rotation_time_s"] = rot[0]


def _event(event: Item, i: int) -> CtEventRecord:
    ex = Extractor("ct_event", f"event[{i}]")
    idx = event.index()
    uid_items = idx.get(c.IRRADIATION_EVENT_UID)
    uid = uid_items[0].value if uid_items else None
    if not uid:
        raise IngestError("missing_required_concept",
                          f"CT Acquisition event[{i}] has no Irradiation Event UID (113769)")
    ex.take(idx, _EVENT_NUMS)
    dw_items = idx.get(c.WATER_EQUIVALENT_DIAMETER)
    dw = ex.num(dw_items[0] if dw_items else None, "dw_cm", "length_mm")
    if dw is not None:
        ex.values["dw_cm"] = dw / 10.0
    _sources(ex, event)
    ex.text(idx, c.ACQUISITION_PROTOCOL, "acquisition_protocol")
    ex.code(idx, c.CT_ACQUISITION_TYPE, "acquisition_type")
    ex.code(idx, c.TARGET_REGION, "target_region_code", meaning_field="target_region", labelled=False)
    phantom = idx.get(c.PHANTOM_TYPE)
    if phantom and phantom[0].value in _PHANTOM_CM:
        ex.values["phantom_cm"] = _PHANTOM_CM[phantom[0].value]
    ex.text(idx, c.MODULATION_TYPE, "modulation_type")
    ex.text(idx, c.REASON_FOR_PROCEEDING, "reason_for_proceeding")
    comment = event.child(c.COMMENT)
    if comment is not None and comment.value:
        ex.values["comment"] = comment.value
    record: CtEventRecord = ex.build(CtEventRecord, event_uid=uid)
    return record


def ct_events(root: Item) -> tuple[CtEventRecord, ...]:
    """Every CT Acquisition (113819) container, in document order."""
    return tuple(_event(ev, i) for i, ev in enumerate(root.children_of(c.CT_ACQUISITION)))


def ct_accumulated(root: Item, ex: Extractor) -> None:
    """CT Accumulated Dose Data (113811) into the study extractor."""
    acc = root.child(c.CT_ACCUMULATED)
    if acc is None:
        return
    idx = acc.index()
    ex.take(idx, {c.CT_DLP_TOTAL: ("total_dlp_mgycm", "dlp"), c.TOTAL_EVENTS: ("n_events_reported", "count")})
