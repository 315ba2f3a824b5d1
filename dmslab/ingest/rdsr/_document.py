"""Read one X-Ray Radiation Dose SR document (TID 10001 or TID 10011) into a :class:`DoseReport`."""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

from dmslab import codes as c
from dmslab.codes import CodeKey
from dmslab.errors import IngestError
from dmslab.ingest._header import (
    equipment_from,
    header_text,
    parse_da_tm,
    parse_dt,
    patient_from,
    sequence_items,
    study_header_values,
)
from dmslab.ingest.rdsr._extract import Extractor
from dmslab.ingest.rdsr._tree import Item, concept_of, read_tree
from dmslab.ingest.rdsr.ct import ct_accumulated, ct_events
from dmslab.ingest.rdsr.projection import planes, proj_events
from dmslab.pseudonym import Pseudonymiser
from dmslab.quirks import note
from dmslab.records import DoseReport, PlaneRecord, ProjEventRecord, SourceRecord, StudyRecord

__all__ = ["SR_SOP_CLASSES", "parse_xray_rdsr", "is_xray_dose_report"]

logger = logging.getLogger(__name__)

SR_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.67": "X-Ray Radiation Dose SR",
    "1.2.840.10008.5.1.4.1.1.88.76": "Enhanced X-Ray Radiation Dose SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
    "1.2.840.10008.5.1.4.1.1.88.35": "Extensible SR",
    "1.2.840.10008.5.1.4.1.1.88.68": "Radiopharmaceutical Radiation Dose SR",
}
_OBSERVER = {
    c.DEVICE_OBSERVER_UID: "device_observer_uid",
    c.DEVICE_OBSERVER_NAME: "station_name",
    c.DEVICE_OBSERVER_MANUFACTURER: "manufacturer",
    c.DEVICE_OBSERVER_MODEL: "model",
    c.DEVICE_OBSERVER_SERIAL: "serial",
}


def is_xray_dose_report(ds: Dataset) -> bool:
    """True for an SR whose root concept is DCM 113701 X-Ray Radiation Dose Report."""
    return str(ds.get("SOPClassUID", "")) in SR_SOP_CLASSES and concept_of(ds) == c.XRAY_DOSE_REPORT


def _template(ds: Dataset, root: Item) -> str:
    seq = sequence_items(ds, "ContentTemplateSequence")
    tid = (header_text(seq[0], "TemplateIdentifier") or "") if seq else ""
    if tid in ("10001", "10011"):
        return tid
    proc = root.child(c.PROCEDURE_REPORTED)
    if root.child(c.CT_ACQUISITION) is not None or root.child(c.CT_ACCUMULATED) is not None or (
        proc is not None and proc.value == c.CT_PROCEDURE
    ):
        inferred = "10011"
    elif root.child(c.IRRADIATION_EVENT) is not None or root.child(c.ACCUMULATED_XRAY_DOSE) is not None:
        inferred = "10001"
    else:
        raise IngestError("unsupported_template", f"template {tid or '(none)'} with neither CT nor projection content")
    if tid:
        raise IngestError("unsupported_template", f"TID {tid} is not an X-ray dose template (10001/10011)")
    logger.debug("no template identifier; inferred TID %s from content", inferred)
    return inferred + "?"


def _projection_modality(root: Item, events: tuple[ProjEventRecord, ...], acc: tuple[PlaneRecord, ...]) -> str:
    proc = root.child(c.PROCEDURE_REPORTED)
    if proc is not None and proc.value == c.MAMMOGRAPHY_PROCEDURE:
        return "MG"
    device = root.child(c.ACQUISITION_DEVICE_TYPE)
    if device is not None and device.value == c.FLUORO_GUIDED_DEVICE:
        return "RF"
    if any(e.event_type == "fluoroscopy" for e in events):
        return "RF"
    if any(p.fluoro_time_s or p.fluoro_dap_gym2 for p in acc):
        return "RF"
    if any(e.agd_mgy is not None for e in events) or any(p.agd_left_mgy or p.agd_right_mgy for p in acc):
        return "MG"
    return "DX"


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _study(ds: Dataset, root: Item, pseudonymise: Pseudonymiser, modality: str,
           acc: tuple[PlaneRecord, ...], fixes: tuple[str, ...] = ()) -> StudyRecord:
    ex = Extractor("study", "study")
    ex.fixes.extend(fixes)
    when = parse_da_tm(header_text(ds, "StudyDate"), header_text(ds, "StudyTime"))
    if when is None:
        start = root.child(c.START_OF_IRRADIATION)
        when = parse_dt(start.value if start is not None else None)
    ex.values.update(study_header_values(ds, pseudonymise, when))
    proc = sequence_items(ds, "ProcedureCodeSequence")
    if proc:
        ex.values["procedure_code"] = f"{proc[0].get('CodingSchemeDesignator', '')}:{proc[0].get('CodeValue', '')}"
    if modality == "CT":
        ct_accumulated(root, ex)
    else:
        ex.values.update(
            total_dap_gym2=_sum([p.dap_total_gym2 for p in acc]),
            total_rp_dose_gy=_sum([p.rp_total_gy for p in acc]),
            fluoro_time_s=_sum([p.fluoro_time_s for p in acc]),
            agd_left_mgy=_sum([p.agd_left_mgy for p in acc]),
            agd_right_mgy=_sum([p.agd_right_mgy for p in acc]),
        )
    values = {k: v for k, v in ex.values.items() if v is not None}
    ex.values = values
    record: StudyRecord = ex.build(StudyRecord, study_uid=str(ds.StudyInstanceUID), modality=modality,
                                   source_kind="rdsr")
    return record


def _observer(root: Item) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for child in root.children:
        field = _OBSERVER.get(child.concept) if isinstance(child.concept, CodeKey) else None
        if field and field not in out and isinstance(child.value, str):
            out[field] = child.value or None
    return out


def parse_xray_rdsr(ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
    """Parse an X-Ray Radiation Dose SR (CT TID 10011 or projection TID 10001).

    Raises
    ------
    IngestError
        ``not_a_dose_report`` when the root concept is not DCM 113701, ``unsupported_template`` or
        ``missing_required_concept`` when the content cannot be a dose report, ``unknown_unit`` when a
        dose value comes in a unit dmslab cannot convert.
    """
    if concept_of(ds) != c.XRAY_DOSE_REPORT:
        raise IngestError("not_a_dose_report", "SR root concept is not DCM 113701 X-Ray Radiation Dose Report")
    if not str(ds.get("StudyInstanceUID", "")).strip():
        raise IngestError("missing_required_concept", "no Study Instance UID")
    root = read_tree(ds)
    tid = _template(ds, root)
    fixes: tuple[str, ...] = ()
    if tid.endswith("?"):  # inferred from content
        tid, fixes = tid[:-1], (note("no-template-identifier"),)
    patient, _ = patient_from(ds, pseudonymise)
    equipment = equipment_from(ds, _observer(root))
    if tid == "10011":
        events = ct_events(root)
        study = _study(ds, root, pseudonymise, "CT", (), fixes)
        return DoseReport(source=_with(source, tid, ds), equipment=equipment, patient=patient, study=study,
                          ct_events=events)
    pevents = proj_events(root)
    acc = planes(root)
    modality = _projection_modality(root, pevents, acc)
    study = _study(ds, root, pseudonymise, modality, acc, fixes)
    return DoseReport(source=_with(source, tid, ds), equipment=equipment, patient=patient, study=study,
                      proj_events=pevents, planes=acc)


def _with(source: SourceRecord, tid: str, ds: Dataset) -> SourceRecord:
    return SourceRecord(sha256=source.sha256, path=source.path, importer="rdsr", template=tid,
                        sop_instance_uid=str(ds.get("SOPInstanceUID", "")) or None,
                        sop_class_uid=str(ds.get("SOPClassUID", "")) or None,
                        study_uid=str(ds.get("StudyInstanceUID", "")) or None)
