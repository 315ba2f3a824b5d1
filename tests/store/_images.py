"""Image objects of a synthetic study: what a modality sends besides (or instead of) its RDSR.

The images carry the ground truth's values in their header attributes but, like many modalities, no
Irradiation Event UID: the header importer derives its own event keys, so without the precedence rule a
study sent as RDSR and as images would count every exposure twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dmslab.synth import StudyTruth

P = "1.2.840.10008.5.1.4.1.1."
CT_IMAGE, DX_PROC, PET_IMAGE, XA_IMAGE = P + "2", P + "1.1.1", P + "128", P + "12.1"


def _ds(truth: StudyTruth, sop_class: str, modality: str, series: str, sop: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, sop, modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID = truth.study_uid, series
    when = dt.datetime.fromisoformat(truth.study_datetime)
    ds.StudyDate, ds.StudyTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    ds.PatientID, ds.PatientSex = truth.patient_id, truth.patient_sex
    ds.AccessionNumber = truth.accession_number
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = "ACME", "Imager", truth.station_name
    return ds


def ct_images(truth: StudyTruth, *, slices: int = 2, event_uids: bool = False) -> list[Dataset]:
    """``slices`` CT images per irradiation event: CTDIvol (mGy) and kV of the truth; with ``event_uids`` the
    images name the RDSR's Irradiation Event UIDs, as modern scanners do."""
    out = []
    for i, ev in enumerate(truth.events):
        series = generate_uid(entropy_srcs=[truth.study_uid, "series", str(i)])
        for k in range(slices):
            ds = _ds(truth, CT_IMAGE, "CT", series, generate_uid(entropy_srcs=[truth.study_uid, "ct", str(i), str(k)]))
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.AcquisitionNumber = str(i + 1)
            if event_uids:
                ds.IrradiationEventUID = ev.event_uid
            ds.ProtocolName = ev.acquisition_protocol
            if ev.ctdivol_mgy is not None:
                ds.CTDIvol = ev.ctdivol_mgy
            if ev.kvp is not None:
                ds.KVP = ev.kvp
            out.append(ds)
    return out


def dx_images(truth: StudyTruth) -> list[Dataset]:
    """One DX For-Processing image per exposure: DAP in dGy.cm2 (Gy.m2 x 1e5), kV, µAs, ms, SID, EI."""
    out = []
    series = generate_uid(entropy_srcs=[truth.study_uid, "dx-series"])
    for i, ev in enumerate(truth.events):
        ds = _ds(truth, DX_PROC, "DX", series, generate_uid(entropy_srcs=[truth.study_uid, "dx", str(i)]))
        started = dt.datetime.fromisoformat(ev.datetime_started)
        ds.AcquisitionDate, ds.AcquisitionTime = started.strftime("%Y%m%d"), started.strftime("%H%M%S")
        ds.ImageAndFluoroscopyAreaDoseProduct = f"{ev.dap_gym2 * 1e5:.6g}"
        ds.KVP = f"{ev.kvp:g}"
        ds.ExposureInuAs = int(ev.exposure_uas)
        ds.ExposureTime = str(round(ev.exposure_time_ms))
        ds.ProtocolName = ev.acquisition_protocol
        out.append(ds)
    return out


def xa_images(truth: StudyTruth) -> list[Dataset]:
    """One XA object per fluoroscopy run or acquisition (SC / GR), DAP in dGy.cm2, each in its own series."""
    out = []
    for i, ev in enumerate(truth.events):
        series = generate_uid(entropy_srcs=[truth.study_uid, "xa-series", str(i)])
        ds = _ds(truth, XA_IMAGE, "XA", series, generate_uid(entropy_srcs=[truth.study_uid, "xa", str(i)]))
        started = dt.datetime.fromisoformat(ev.datetime_started)
        ds.AcquisitionDate, ds.AcquisitionTime = started.strftime("%Y%m%d"), started.strftime("%H%M%S")
        ds.RadiationSetting = "SC" if ev.acquisition_type == "Fluoroscopy" else "GR"
        ds.ImageAndFluoroscopyAreaDoseProduct = f"{ev.dap_gym2 * 1e5:.6g}"
        ds.KVP = f"{ev.kvp:g}"
        if ev.irradiation_duration_s is not None:
            ds.ExposureTime = str(round(ev.irradiation_duration_s * 1000))
        out.append(ds)
    return out


def pet_image(truth: StudyTruth, activity_bq: float = 350e6) -> Dataset:
    """A PET image of the same study (PET/CT): one F-18 FDG administration of ``activity_bq``."""
    ds = _ds(truth, PET_IMAGE, "PT", generate_uid(entropy_srcs=[truth.study_uid, "pet"]),
             generate_uid(entropy_srcs=[truth.study_uid, "pet", "1"]))
    item = Dataset()
    item.Radiopharmaceutical = "FDG"
    item.RadionuclideTotalDose = f"{activity_bq:.0f}"
    item.RadiopharmaceuticalStartDateTime = ds.StudyDate + "090500"
    nuclide = Dataset()
    nuclide.CodeValue, nuclide.CodingSchemeDesignator, nuclide.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
    item.RadionuclideCodeSequence = [nuclide]
    ds.RadiopharmaceuticalInformationSequence = [item]
    return ds


def write_all(datasets: list[Dataset], folder: Path) -> list[Path]:
    """Write each dataset as ``<folder>/<SOP Instance UID>.dcm`` (explicit VR little endian)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
