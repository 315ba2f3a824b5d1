"""Seed inputs of the fuzz targets: the public vendor corpus (``../shared/corpus``), a small synthetic department
(:mod:`dmslab.synth`) and a few hand-made pixel pages and manual-entry CSVs. Built fresh into a folder per run
(nothing here is committed: the vendor files are not ours, and the synthetic ones are generated)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DMSLAB_CORPUS", ROOT.parent / "shared" / "corpus"))
MAX_SEED_BYTES = 64 * 1024  # larger files add exec time, not new structure
_SR_PREFIX = b"1.2.840.10008.5.1.4.1.1.88."

CSV_SEEDS = (
    "study_uid,ctdivol_mgy,dlp_mgycm,entered_by,reason\n1.2.3,12.5,450,MPE,OCR review\n",
    "study_uid,event_uid,acquisition_protocol,acquisition_type,ctdivol_mgy,dlp_mgycm,phantom_cm,scan_length_mm,kvp,"
    "study_datetime,station_name,modality,total_dlp_mgycm,entered_by,reason\n"
    "1.2.3,1.2.3.1,Head,Sequenced Acquisition,55.1,880,16,160,120,2024-03-01T10:00:00,CT1,CT,1300,MPE,lost RDSR\n"
    "1.2.3,1.2.3.2,Head,Spiral Acquisition,20,420,16,210,120,2024-03-01T10:00:00,CT1,CT,1300,MPE,lost RDSR\n",
    "study_uid,ctdivol_mgy,entered_by,reason\n\"1.2.9\",\"3.5\",\"A, B\",\"typed \"\"by hand\"\"\"\n",
)


def corpus_files() -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    return [p.read_bytes() for p in sorted(CORPUS.rglob("*.dcm")) if p.stat().st_size <= MAX_SEED_BYTES]


def synthetic_files(work: Path) -> list[bytes]:
    """A few RDSRs of each modality from a one-month department with few studies (written once into ``work``)."""
    from dmslab.synth import DepartmentConfig, generate_department

    out = work / "department"
    if not out.is_dir():
        generate_department(out, DepartmentConfig(months=1, studies_per_room_per_day=0.2, multi_rdsr_fraction=0.2))
    files = sorted(p for p in out.rglob("*.dcm"))
    return [p.read_bytes() for p in files[:: max(1, len(files) // 24)] if p.stat().st_size <= MAX_SEED_BYTES]


def _page(photometric: str, bits: int, frames: int, implicit: bool) -> bytes:
    """A small Secondary Capture with a few dark "text" bars on a light page."""
    rng = np.random.default_rng(bits + frames)
    rows, cols = 24, 40
    page = np.full((rows, cols), 220, dtype=np.uint16 if bits > 8 else np.uint8)
    page[4:7, 3:30] = 20
    page[12:15, 5:25] = 30
    page = (page + rng.integers(0, 8, page.shape)).astype(page.dtype)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "2.25.1"
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.7", "2.25.1", "CT"
    ds.SeriesDescription = "Dose Report"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = rows, cols, bits, bits, bits - 1
    ds.PixelRepresentation, ds.PhotometricInterpretation = 0, photometric
    arr = page
    if photometric in ("RGB", "YBR_FULL"):
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        arr = np.repeat(page[..., None], 3, axis=-1)
    else:
        ds.SamplesPerPixel = 1
    if frames > 1:
        ds.NumberOfFrames = frames
        arr = np.stack([arr] * frames)
    ds.PixelData = arr.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def pages() -> list[bytes]:
    kinds = [("MONOCHROME2", 8, 1, False), ("MONOCHROME1", 16, 1, True), ("RGB", 8, 1, False),
             ("YBR_FULL", 8, 1, False), ("MONOCHROME2", 8, 2, False)]
    return [_page(*k) for k in kinds]


def dataset_part(data: bytes) -> bytes | None:
    """The encoded dataset after preamble and file meta (what a C-STORE carries)."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:  # not a seed then
        return None
    start = 132 + 12 + int(ds.file_meta.get("FileMetaInformationGroupLength", 0))
    return data[start:] if data[128:132] == b"DICM" else None


def build(kind: str, work: Path) -> Iterator[bytes]:
    """The seeds of one kind: ``dicom``, ``sr``, ``dataset``, ``sc`` or ``csv``."""
    if kind == "csv":
        yield from (s.encode("utf-8") for s in CSV_SEEDS)
        return
    files = corpus_files() + synthetic_files(work)
    if kind == "dicom":
        yield from files + pages()[:2]
    elif kind == "sr":
        yield from (f for f in files if _SR_PREFIX in f[128:512])
    elif kind == "sc":
        yield from pages() + [f for f in files if b"\xe0\x7f\x10\x00" in f]
    elif kind == "dataset":
        for f in files:
            part = dataset_part(f)
            if part:
                yield part[:4096]
        yield b"1.2.840.10008.5.1.4.1.1.88.67|1.2.826.0.1.3680043.8.498.1|1.2.840.10008.1.2.1|CT_ROOM1"
    else:
        raise ValueError(f"unknown seed kind {kind!r}")


def write(kind: str, folder: Path, work: Path) -> int:
    """Write the seeds of ``kind`` into ``folder`` (named by content hash); return how many."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in build(kind, work):
        name = folder / hashlib.sha1(data).hexdigest()
        if not name.exists():
            name.write_bytes(data)
            n += 1
    return n
