"""CT Dose Check (TID 10015): the forward estimates (DCM 113913 / 113914, notification details) and the
accumulated forward estimates (DCM 113905 / 113906, alert details) each in their own column.

The object is built here with pydicom: one spiral CT acquisition with both Dose Check containers.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from _sr_items import code as _code
from _sr_items import item as _item
from pydicom.dataset import Dataset

from dmslab.ingest.rdsr import parse_xray_rdsr
from dmslab.records import SourceRecord
from dmslab.store import Store

SRC = SourceRecord(sha256="0" * 64, path="mem")


def _num(code: str, value: str, unit: str) -> Dataset:
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = [_code(unit, "UCUM", unit)]
    return _item("NUM", (code, "DCM", "value"), MeasuredValueSequence=[mv])


def _container(code: str, children: list[Dataset]) -> Dataset:
    return _item("CONTAINER", (code, "DCM", "container"), ContinuityOfContent="SEPARATE", ContentSequence=children)


def ct_rdsr(alert: list[Dataset], notification: list[Dataset]) -> Dataset:
    dose = _container("113829", [_num("113830", "12.5", "mGy"), _num("113838", "600", "mGy.cm"),
                                 *([_container("113900", alert)] if alert else []),
                                 *([_container("113908", notification)] if notification else [])])
    acq = _container("113819", [
        _item("TEXT", ("125203", "DCM", "Acquisition Protocol"), TextValue="Abdomen"),
        _item("CODE", ("113820", "DCM", "CT Acquisition Type"), ConceptCodeSequence=[_code("P5-08001", "SRT", "x")]),
        _item("UIDREF", ("113769", "DCM", "Irradiation Event UID"), UID="1.2.3.7.1"),
        dose])
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.88.67", "1.2.3.7.99", "SR"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.PatientID = "1.2.3.7", "20240305", "100000", "P7"
    ds.Manufacturer = "ACME"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [_code("113701", "DCM", "X-Ray Radiation Dose Report")]
    tpl = Dataset()
    tpl.MappingResource, tpl.TemplateIdentifier = "DCMR", "10011"
    ds.ContentTemplateSequence = [tpl]
    ds.ContentSequence = [
        _item("CODE", ("121058", "DCM", "Procedure reported"), rel="HAS CONCEPT MOD",
              ConceptCodeSequence=[_code("P5-08000", "SRT", "Computed Tomography X-Ray")]),
        _container("113811", [_num("113812", "1", "{events}"), _num("113813", "600", "mGy.cm")]),
        acq]
    return ds


ALERT = [_num("113903", "2000", "mGy.cm"), _num("113904", "100", "mGy"), _num("113905", "2100", "mGy.cm"),
         _num("113906", "105", "mGy")]
NOTIFICATION = [_num("113911", "500", "mGy.cm"), _num("113912", "30", "mGy"), _num("113913", "600", "mGy.cm"),
                _num("113914", "12.5", "mGy")]
FIELDS = ("alert_dlp_mgycm", "alert_ctdivol_mgy", "accumulated_forward_dlp_mgycm", "accumulated_forward_ctdivol_mgy",
          "notification_dlp_mgycm", "notification_ctdivol_mgy", "forward_dlp_mgycm", "forward_ctdivol_mgy")


@pytest.mark.parametrize(("alert", "notification", "want"), [
    (ALERT, NOTIFICATION, (2000.0, 100.0, 2100.0, 105.0, 500.0, 30.0, 600.0, 12.5)),
    (ALERT, [], (2000.0, 100.0, 2100.0, 105.0, None, None, None, None)),  # no longer read as the forward estimate
    ([], NOTIFICATION, (None, None, None, None, 500.0, 30.0, 600.0, 12.5)),
])
def test_forward_and_accumulated_forward_estimates_are_kept_apart(pseudo, db_url, alert, notification, want):
    rep = parse_xray_rdsr(ct_rdsr(alert, notification), pseudonymise=pseudo, source=SRC)
    (ev,) = rep.ct_events
    assert tuple(getattr(ev, f) for f in FIELDS) == want
    assert ev.flags == ()
    store = Store(db_url)
    store.write([rep])
    with store.engine.connect() as conn:
        row = conn.execute(sa.text(f"select {', '.join(FIELDS)} from ct_event")).one()
    store.close()
    assert tuple(row) == want
