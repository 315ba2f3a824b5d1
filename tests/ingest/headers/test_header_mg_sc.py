"""Mammography dose headers sent as Secondary Capture (Modality MG, vendor "proprietary projection" objects)
are read like a mammography image, with source kind ``header``; other secondary captures are not."""

from __future__ import annotations

import pytest
from _headers_make import SC, STUDY, mg, write

from dmslab.errors import IngestError
from dmslab.ingest import find_importer
from dmslab.ingest.headers import HeaderImporter, parse_header
from dmslab.jobs import ingest_paths
from dmslab.records import SourceRecord
from dmslab.store import Store

SRC = SourceRecord(sha256="0" * 64, path="mem")
SC_MULTIFRAME_WORD = "1.2.840.10008.5.1.4.1.1.7.3"


def _mg_sc(sop_uid: str, sop_class: str = SC, **attrs) -> object:
    """A Hologic-style projection object: SC with Modality MG and the breast dose attributes of :func:`mg`."""
    values = dict(Manufacturer="HOLOGIC, Inc.", ManufacturerModelName="Selenia Dimensions",
                  ImageType=["DERIVED", "PRIMARY", "TOMO_PROJ"], SeriesDescription="L CC Tomo Projection")
    values.update(attrs)
    return write(mg(sop_uid, sop_class=sop_class, **values))


@pytest.mark.parametrize("sop_class", [SC, SC_MULTIFRAME_WORD])
def test_mg_secondary_capture_is_read_as_a_mammography_header(pseudo, sop_class):
    ds = _mg_sc(STUDY + ".60", sop_class)
    assert find_importer(ds).name == "header"
    rep = parse_header(ds, pseudonymise=pseudo, source=SRC)
    assert rep.study.modality == "MG" and rep.study.source_kind == "header"
    assert rep.source.importer == "header"
    (ev,) = rep.proj_events
    # the header's own units: OrganDose 0.0123 dGy = 1.23 mGy, EntranceDoseInmGy mGy, ExposureInuAs uA.s,
    # BodyPartThickness mm
    assert ev.agd_mgy == pytest.approx(1.23) and ev.esak_mgy == pytest.approx(5.1)
    assert (ev.exposure_uas, ev.compression_mm, ev.kvp, ev.laterality) == (60000.0, 53.0, 28.0, "L")
    assert ev.origin == "header" and ev.flags == ()
    assert "quirk mg-secondary-capture" in ev.unit_fixes
    assert rep.study.agd_left_mgy == pytest.approx(1.23)


@pytest.mark.parametrize(("attrs", "why"), [
    ({"Modality": "CT"}, "a CT dose screen is the OCR importer's"),
    ({"Modality": "OT"}, "not a mammography object"),
    ({"OrganDose": None, "EntranceDoseInmGy": None, "ExposureInuAs": None}, "no dose attribute"),
])
def test_other_secondary_captures_are_not_header_objects(attrs, why):
    ds = _mg_sc(STUDY + ".61")
    for k, v in attrs.items():
        if v is None:
            delattr(ds, k)
        else:
            setattr(ds, k, v)
    assert not HeaderImporter().can_ingest(ds), why


def test_mg_sc_without_dose_is_still_no_importer(pseudo):
    ds = _mg_sc(STUDY + ".62")
    for k in ("OrganDose", "EntranceDoseInmGy", "ExposureInuAs"):
        delattr(ds, k)
    with pytest.raises(IngestError) as err:
        find_importer(ds)
    assert err.value.reason == "no_importer"


def test_mg_sc_is_stored_with_header_precedence(settings, tmp_path):
    files = []
    for name, ds in [("sc-left.dcm", _mg_sc(STUDY + ".63")),
                     ("sc-right.dcm", _mg_sc(STUDY + ".64", ImageLaterality="R", AcquisitionTime="102533",
                                              OrganDose="0.0141"))]:
        ds.save_as(tmp_path / name, enforce_file_format=True)
        files.append(tmp_path / name)
    store = Store(settings.database_url)
    try:
        summary = ingest_paths(files, settings, store=store)
        study, sources = store.table("study"), store.table("source_object")
    finally:
        store.close()
    assert summary.ingested == 2 and not summary.rejected
    assert len(study) == 1 and study.loc[0, "modality"] == "MG" and study.loc[0, "source_kind"] == "header"
    assert (study.loc[0, "agd_left_mgy"], study.loc[0, "agd_right_mgy"]) == (pytest.approx(1.23), pytest.approx(1.41))
    assert sorted(sources["source_kind"]) == ["header", "header"] and set(sources["importer"]) == {"header"}
