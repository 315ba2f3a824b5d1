"""Choosing what ``dmslab qr`` retrieves, without a network: filters, source ranking, already-imported objects."""

from __future__ import annotations

import datetime as dt

import pytest

from dmslab.net.qr import QrFilter, SeriesInfo, SourceKind, classify_series, plan_study

P = "1.2.840.10008.5.1.4.1.1."
RDSR, ESR, SC, CT, DX = P + "88.67", P + "88.22", P + "7", P + "2", P + "1.1"


def test_windows_cover_the_range_without_overlap() -> None:
    qf = QrFilter(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 20), chunk_days=7)
    assert list(qf.windows()) == ["20260101-20260107", "20260108-20260114", "20260115-20260120"]
    assert list(QrFilter(date_from=dt.date(2026, 1, 1)).windows()) == ["20260101-"]
    assert list(QrFilter().windows()) == [""]
    with pytest.raises(ValueError, match="after"):
        QrFilter(date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 1, 1))


def test_description_and_station_patterns() -> None:
    qf = QrFilter(include=("ct *", "*abdomen*"), exclude=("*research*",), station_names=("CT?",))
    assert qf.description_ok("CT Head") and qf.description_ok("MRI ABDOMEN")
    assert not qf.description_ok("CT head RESEARCH") and not qf.description_ok("XR chest")
    assert qf.station_ok("ct1") and not qf.station_ok("CT12")


@pytest.mark.parametrize(("series", "kind"), [
    (SeriesInfo("1", "SR", "Radiation Dose Information", instances={"a": RDSR}), SourceKind.RDSR),
    (SeriesInfo("1", "SR", "Dose Report", instances={"a": ESR}), SourceKind.ENHANCED_SR),
    (SeriesInfo("1", "SR", "Radiology report", instances={"a": ESR}), SourceKind.NONE),
    (SeriesInfo("1", "CT", "Dose Report", instances={"a": SC}), SourceKind.DOSE_SCREEN),
    (SeriesInfo("1", "OT", "Key images", instances={"a": SC}), SourceKind.NONE),
    (SeriesInfo("1", "CT", "Abdomen 5 mm"), SourceKind.IMAGES),
    (SeriesInfo("1", "PR", ""), SourceKind.NONE),
])
def test_classify_series(series: SeriesInfo, kind: SourceKind) -> None:
    assert classify_series(series) is kind


def test_plan_takes_only_the_best_kind_minus_known_objects() -> None:
    series = [SeriesInfo("s1", "SR", "Radiation Dose Information", instances={"r1": RDSR, "r2": RDSR}),
              SeriesInfo("s2", "CT", "Dose Report", instances={"sc": SC}),
              SeriesInfo("s3", "CT", "Abdomen", instances={"i1": CT, "i2": CT})]
    plan, already = plan_study("st", series, known={"r1"})
    assert plan.kind is SourceKind.RDSR and already == 1
    assert plan.objects == [("s1", "r2", RDSR)]


def test_plan_images_one_per_ct_series_every_projection_image() -> None:
    series = [SeriesInfo("s1", "CT", "Head", instances={"c2": CT, "c1": CT, "c3": CT}),
              SeriesInfo("s2", "DX", "Chest", instances={"d1": DX, "d2": DX})]
    plan, already = plan_study("st", series, known=set())
    assert plan.kind is SourceKind.IMAGES and already == 0
    assert plan.objects == [("s1", "c1", CT), ("s2", "d1", DX), ("s2", "d2", DX)]
    assert plan_study("st", [SeriesInfo("s", "KO", "")], known=set())[0].kind is SourceKind.NONE
