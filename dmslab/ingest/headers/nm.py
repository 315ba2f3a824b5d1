"""NM and PET images: one :class:`NmEventRecord` per Radiopharmaceutical Information Sequence item.

Every image of an NM/PET study repeats the administration; the event key (the image's
Radiopharmaceutical Administration Event UID (0008,3012), else a UID derived from study UID, start
date/time and radionuclide) makes the store keep it once.

References
----------
DICOM PS3.3 C.8.4.10 NM Isotope Module and C.8.9.2 PET Isotope Module; ``shared/reference/units.md``.
"""

from __future__ import annotations

import datetime as dt
import logging

from pydicom.dataset import Dataset

from dmslab.ingest._header import header_text, parse_da_tm, parse_dt, sequence_items
from dmslab.ingest.headers._common import code_of, derived_uid, first, number, put, study_uid_of
from dmslab.ingest.headers._quirks import activity_unit
from dmslab.ingest.rdsr._extract import Extractor
from dmslab.records import NmEventRecord

__all__ = ["nm_events"]

logger = logging.getLogger(__name__)


def _when(ds: Dataset, item: Dataset, which: str) -> tuple[dt.datetime | None, str | None]:
    """Start/stop datetime of the administration and its raw text (DT attribute, else study date + TM)."""
    raw = header_text(item, f"Radiopharmaceutical{which}DateTime")
    if raw:
        return parse_dt(raw), raw
    time = header_text(item, f"Radiopharmaceutical{which}Time")
    if not time:
        return None, None
    date = header_text(ds, "StudyDate")
    return parse_da_tm(date, time), f"{date or ''}{time}"


def _event(ds: Dataset, item: Dataset, i: int) -> NmEventRecord:
    ex = Extractor("nm_event", f"{header_text(ds, 'SOPInstanceUID') or 'image'}.radiopharmaceutical[{i}]")
    nuclide = code_of(first(item, "RadionuclideCodeSequence"))
    if nuclide is not None:
        ex.values["radionuclide_code"] = f"{nuclide[0].scheme}:{nuclide[0].value}"
        ex.values["radionuclide"] = nuclide[1]
    agent = code_of(first(item, "RadiopharmaceuticalCodeSequence"))
    text = header_text(item, "Radiopharmaceutical")
    if agent is not None:
        ex.values["agent_code"] = f"{agent[0].scheme}:{agent[0].value}"
        ex.values["agent"] = agent[1]
        if text:
            ex.values["comment"] = f"radiopharmaceutical: {text}"
    else:
        ex.values["agent"] = text
    total = number(item, "RadionuclideTotalDose")
    if total is not None:
        unit, why = activity_unit(total)
        put(ex, "activity_mbq", total, unit, "activity_mbq", fixed=why)
    put(ex, "half_life_s", number(item, "RadionuclideHalfLife"), "s", "time_s")
    put(ex, "volume_ml", number(item, "RadiopharmaceuticalVolume"), "cm3", "volume_ml")
    start, start_raw = _when(ds, item, "Start")
    ex.values["start_datetime"] = start
    ex.values["stop_datetime"] = _when(ds, item, "Stop")[0]
    route = code_of(first(item, "AdministrationRouteCodeSequence"))
    ex.values["route"] = route[1] if route is not None else header_text(item, "RadiopharmaceuticalRoute")
    uid = header_text(item, "RadiopharmaceuticalAdministrationEventUID")
    if not uid:
        uid = derived_uid(study_uid_of(ds), start_raw.split(".")[0] if start_raw else None,
                          ex.values.get("radionuclide_code") or ex.values.get("agent"), str(i))
    ex.values = {k: v for k, v in ex.values.items() if v is not None}
    record: NmEventRecord = ex.build(NmEventRecord, event_uid=uid, origin="header")
    return record


def nm_events(ds: Dataset) -> tuple[NmEventRecord, ...]:
    """Every administration of the Radiopharmaceutical Information Sequence (0054,0016); activity in MBq."""
    seq = sequence_items(ds, "RadiopharmaceuticalInformationSequence")
    return tuple(_event(ds, item, i) for i, item in enumerate(seq))
