"""Small image datasets with known header dose values, written and read back like files from a modality."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian

P = "1.2.840.10008.5.1.4.1.1."
CR, DX_PRES, DX_PROC, MG_PRES, MG_PROC = P + "1", P + "1.1", P + "1.1.1", P + "1.2", P + "1.2.1"
CT, NM, PET, SC = P + "2", P + "20", P + "128", P + "7"
STUDY = "1.2.826.0.1.3680043.10.1234.1"


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def base(sop_class: str, sop_uid: str, modality: str, **attrs: Any) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, sop_uid, modality
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = STUDY + ".2"
    ds.StudyDate, ds.StudyTime = "20240305", "101500"
    ds.PatientID, ds.PatientSex, ds.PatientAge = "PAT1", "F", "054Y"
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = "ACME", "Model X", "ROOM1"
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


def dx(sop_uid: str = STUDY + ".10", **attrs: Any) -> Dataset:
    """A DX For-Processing image: DAP 2.5 dGy.cm2, 70 kV, 4 mAs, 12 ms, 250 mA, SID 1100 mm, EI 250."""
    values = dict(KVP="70", Exposure="4", ExposureTime="12", XRayTubeCurrent="250",
                  ImageAndFluoroscopyAreaDoseProduct="2.5", EntranceDoseInmGy="0.35", DistanceSourceToDetector="1100",
                  ExposureIndex="250", TargetExposureIndex="300", DeviationIndex="-0.8", ProtocolName="CHEST PA",
                  AcquisitionDate="20240305", AcquisitionTime="101733", Grid=["FOCUSED", "RECIPROCATING"],
                  FilterMaterial=["ALUMINUM", "COPPER"], FilterThicknessMinimum=["1.0", "0.1"],
                  FilterThicknessMaximum=["1.0", "0.1"])
    values.update(attrs)
    return base(DX_PROC, sop_uid, "DX", **values)


def mg(sop_uid: str, sop_class: str = MG_PRES, **attrs: Any) -> Dataset:
    """A mammogram: AGD 0.0123 dGy (1.23 mGy), ESAK 5.1 mGy, 53 mm, 90 N, left CC, 28 kV, 60 mAs, W/Rh."""
    values = dict(KVP="28", ExposureInuAs="60000", ExposureTime="900", XRayTubeCurrent="67", OrganDose="0.0123",
                  EntranceDoseInmGy="5.1", BodyPartThickness="53", CompressionForce="90", ImageLaterality="L",
                  AnodeTargetMaterial="TUNGSTEN", FilterMaterial="RHODIUM", AcquisitionDate="20240305",
                  AcquisitionTime="102233.000000", ViewCodeSequence=[code("399162004", "SCT", "cranio-caudal")])
    values.update(attrs)
    return base(sop_class, sop_uid, "MG", **values)


def nm(sop_uid: str, sop_class: str = PET, total_dose: str = "350000000", **item_attrs: Any) -> Dataset:
    """A PET/NM image with one radiopharmaceutical item (F-18 FDG, start 09:05, half-life 6586.2 s)."""
    item = Dataset()
    item.Radiopharmaceutical = "FDG"
    item.RadionuclideTotalDose = total_dose
    item.RadionuclideHalfLife = "6586.2"
    item.RadiopharmaceuticalStartDateTime = "20240305090500.000000"
    item.RadionuclideCodeSequence = [code("C-111A1", "SRT", "^18^Fluorine")]
    item.RadiopharmaceuticalCodeSequence = [code("C-B1031", "SRT", "Fluorodeoxyglucose F^18^")]
    for k, v in item_attrs.items():
        setattr(item, k, v)
    ds = base(sop_class, sop_uid, "PT" if sop_class == PET else "NM")
    ds.RadiopharmaceuticalInformationSequence = [item]
    return ds


def ct(sop_uid: str, **attrs: Any) -> Dataset:
    """A CT slice: CTDIvol 12.5 mGy (body phantom), 120 kV, 200 mA, 500 ms, pitch 0.98, 40 mm collimation."""
    values = dict(ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], CTDIvol=12.5, KVP="120", XRayTubeCurrent="200",
                  ExposureTime="500", SpiralPitchFactor=0.98, TotalCollimationWidth=40.0, AcquisitionNumber="2",
                  CTDIPhantomTypeCodeSequence=[code("113691", "DCM", "IEC Body Dosimetry Phantom")])
    values.update(attrs)
    return base(CT, sop_uid, "CT", **values)


def set_raw(ds: Dataset, keyword_tag: int, vr: str, text: str) -> None:
    """Put a raw (unvalidated) value, e.g. an illegal DS with commas, as a modality would write it."""
    data = text.encode("ascii")
    ds[keyword_tag] = RawDataElement(Tag(keyword_tag), vr, len(data), data, 0, False, True)


def write(ds: Dataset, path: Path | None = None) -> Dataset:
    """Encode ``ds`` as an explicit-VR little-endian file and read it back (raw elements, like ingest)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    if path is not None:
        path.write_bytes(buf.getvalue())
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))
