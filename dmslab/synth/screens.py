"""Synthetic CT dose summary screens: bitmap pages in GE, Siemens and Toshiba/Canon styles, as DICOM SCs.

Older CT scanners send no RDSR, only a screenshot of their dose page as a Secondary Capture. This module
draws such pages (dose table per series plus exam totals) with DejaVu fonts, scales them, adds noise and
JPEG artefacts, and writes them as 8-bit MONOCHROME2 or RGB Secondary Capture Image Storage objects with a
valid header. Every screen comes with its ground truth: the values as displayed (rounded as printed), so an
OCR reader can be scored field by field. The same seed gives the same screen, pixel for pixel.

Examples
--------
>>> img, truth = render_screen("ge", seed=3)
>>> truth.vendor, img.mode in ("L", "RGB"), len(truth.events) >= 2
('ge', True, True)
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from ._protocols import CT_PROTOCOLS, CtProtocol
from ._sr import make_uid

__all__ = ["SC_SOP_CLASS", "VENDORS", "ScreenEvent", "ScreenTruth", "font_path", "render_screen", "write_screen",
           "write_screens"]

#: Secondary Capture Image Storage.
SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"
#: Vendor styles the renderer draws.
VENDORS = ("ge", "siemens", "toshiba")

_HEADER = {
    "ge": ("GE MEDICAL SYSTEMS", "LightSpeed VCT", "Dose Report"),
    "siemens": ("SIEMENS", "SOMATOM Emotion 16", "Patient Protocol"),
    "toshiba": ("TOSHIBA", "Aquilion 64", "Dose Summary"),
}
#: Acquisition type (dmslab vocabulary) -> the word each vendor prints in its "type" column.
_TYPE_WORDS = {
    "ge": {"constant_angle": "Scout", "spiral": "Helical", "sequenced": "Axial"},
    "siemens": {"constant_angle": "Topogram", "spiral": "Spiral", "sequenced": "Sequence"},
    "toshiba": {"constant_angle": "Scanogram", "spiral": "Helical", "sequenced": "Volume"},
}


@dataclass(frozen=True, slots=True)
class ScreenEvent:
    """One table row as displayed: positions in mm, CTDIvol in mGy, DLP in mGy.cm (``None`` when blank)."""

    series: int
    acquisition_type: str
    type_word: str
    start_mm: float | None
    end_mm: float | None
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom_cm: int | None

    @property
    def scan_length_mm(self) -> float | None:
        """Length of the displayed scan range (mm)."""
        if self.start_mm is None or self.end_mm is None:
            return None
        return round(abs(self.end_mm - self.start_mm), 3)


@dataclass(frozen=True, slots=True)
class ScreenTruth:
    """What a screen shows: the values an ideal reader returns (total DLP in mGy.cm, total mAs in mA.s)."""

    vendor: str
    seed: int
    study_uid: str
    sop_instance_uid: str
    protocol: str
    station_name: str
    study_datetime: dt.datetime
    events: tuple[ScreenEvent, ...]
    total_dlp_mgycm: float
    total_mas: float
    path: str | None = None


@lru_cache(maxsize=4)
def font_path(mono: bool) -> str:
    """The DejaVu Sans (or Sans Mono) TrueType file, found with ``fc-match`` (fonts-dejavu-core)."""
    name = "DejaVu Sans Mono" if mono else "DejaVu Sans"
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", name], capture_output=True, text=True, check=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out and Path(out).is_file():
        return out
    fallback = f"/usr/share/fonts/truetype/dejavu/DejaVuSans{'Mono' if mono else ''}.ttf"
    if Path(fallback).is_file():
        return fallback
    raise FileNotFoundError(f"font {name!r} not found: install fonts-dejavu-core")


def _sample_events(vendor: str, proto: CtProtocol, rng: np.random.Generator) -> list[ScreenEvent]:
    words = _TYPE_WORDS[vendor]
    dlp_dec = 1 if vendor == "siemens" else 2
    ctdi_dec = 1 if vendor == "toshiba" else 2
    pos_dec = {"ge": 3, "siemens": 0, "toshiba": 1}[vendor]
    events = [ScreenEvent(1, "constant_angle", words["constant_angle"], None, None, None, None, None)]
    if vendor == "siemens":  # Siemens lists the topogram with its small dose and range
        length = round(float(rng.uniform(256, 768)))
        ctdi = round(float(rng.uniform(0.05, 0.4)), 2)
        events = [ScreenEvent(1, "constant_angle", words["constant_angle"], 0.0, float(length), ctdi,
                              round(ctdi * length / 10.0, dlp_dec), None)]
    n = 1 + int(rng.choice(3, p=np.asarray(proto.n_events_p) / sum(proto.n_events_p)))
    axial = proto.phantom_cm == 16 and rng.random() < 0.4
    base = float(proto.ref_ctdivol_mgy * proto.median_fraction * rng.lognormal(0.0, np.log(proto.gsd)))
    for k in range(n):
        length_mm = float(rng.uniform(*proto.length_cm)) * 10.0 * (1.0 if k == 0 else float(rng.uniform(0.3, 0.6)))
        start = float(rng.uniform(-150.0, 150.0)) if vendor == "ge" else float(rng.uniform(5.0, 400.0))
        start = round(start, pos_dec)
        end = round(start - length_mm if vendor == "ge" else start + length_mm, pos_dec)
        ctdi = round(base * float(rng.uniform(0.8, 1.25)), ctdi_dec)
        overrange_cm = 0.0 if axial else float(rng.uniform(0.5, 3.5))
        dlp = round(ctdi * (abs(end - start) / 10.0 + overrange_cm), dlp_dec)
        kind = "sequenced" if axial else "spiral"
        events.append(ScreenEvent(k + 2, kind, words[kind], start, end, ctdi, dlp, proto.phantom_cm))
    return events


def _pos(vendor: str, v: float | None) -> str:
    if v is None:
        return "-"
    if vendor == "ge":
        return f"{'S' if v >= 0 else 'I'}{abs(v):.3f}"
    return f"{v:.0f}" if vendor == "siemens" else f"{v:.1f}"


def _row_cells(vendor: str, ev: ScreenEvent) -> list[str]:
    dash = "-"
    ctdi = dash if ev.ctdivol_mgy is None else (f"{ev.ctdivol_mgy:.1f}" if vendor == "toshiba"
                                                 else f"{ev.ctdivol_mgy:.2f}")
    dlp = dash if ev.dlp_mgycm is None else f"{ev.dlp_mgycm:.{1 if vendor == 'siemens' else 2}f}"
    if vendor == "ge":
        rng_txt = dash if ev.start_mm is None else f"{_pos(vendor, ev.start_mm)}-{_pos(vendor, ev.end_mm)}"
        ph = dash if ev.phantom_cm is None else ("Head 16" if ev.phantom_cm == 16 else "Body 32")
        return [str(ev.series), ev.type_word, rng_txt, ctdi, dlp, ph]
    if vendor == "siemens":
        rng_txt = f"{_pos(vendor, ev.start_mm)}-{_pos(vendor, ev.end_mm)}"
        ph = "" if ev.phantom_cm is None else (" S" if ev.phantom_cm == 16 else " L")
        return [ev.type_word, str(ev.series), rng_txt, ctdi + ph, dlp]
    rng_txt = dash if ev.start_mm is None else f"{_pos(vendor, ev.start_mm)} - {_pos(vendor, ev.end_mm)}"
    ph = dash if ev.phantom_cm is None else ("Head" if ev.phantom_cm == 16 else "Body")
    return [str(ev.series), ev.type_word, rng_txt, ctdi, dlp, ph]


_COLUMNS = {
    "ge": ["Series", "Type", "Scan Range (mm)", "CTDIvol (mGy)", "DLP (mGy-cm)", "Phantom"],
    "siemens": ["", "Scan", "Range (mm)", "CTDIvol mGy", "DLP mGycm"],
    "toshiba": ["No.", "Scan", "Range (mm)", "CTDIvol(mGy)", "DLP(mGy*cm)", "Phantom"],
}


def _page_lines(t: ScreenTruth, model: str) -> tuple[list[str], list[str]]:
    """Text above the table and the totals lines, per vendor."""
    day = t.study_datetime
    if t.vendor == "ge":
        head = ["Dose Report", f"Exam Number: {t.seed % 90000 + 10000}   {day:%b %d %Y}", f"{model}   {t.station_name}"]
        foot = [f"Total Exam DLP: {t.total_dlp_mgycm:.2f}"]
    elif t.vendor == "siemens":
        head = ["Patient Protocol", f"{model}   {t.station_name}   {day:%d-%b-%Y}",
                f"Total mAs {t.total_mas:.0f}   Total DLP {t.total_dlp_mgycm:.1f} mGycm"]
        foot = []
    else:
        head = ["Exam Dose Summary", f"{model}   {t.station_name}   {day:%Y/%m/%d}",
                f"Total mAs : {t.total_mas:.0f}   Total DLP : {t.total_dlp_mgycm:.2f} mGy*cm"]
        foot = []
    return head, foot


def _draw(t: ScreenTruth, size: tuple[int, int], rng: np.random.Generator) -> object:
    from PIL import Image, ImageDraw, ImageFont

    model = _HEADER[t.vendor][1]
    head, foot = _page_lines(t, model)
    rows = [_COLUMNS[t.vendor]] + [_row_cells(t.vendor, e) for e in t.events]
    w, h = size
    dark = t.vendor != "toshiba"
    bg, fg = ((0, 0, 0) if dark else (225, 225, 225)), ((235, 235, 235) if dark else (10, 10, 10))
    accent = (255, 215, 0) if t.vendor == "ge" else ((120, 200, 255) if t.vendor == "siemens" else (0, 0, 120))
    mono = t.vendor == "ge"
    fsize = max(12, int(w / 34))
    while True:
        font = ImageFont.truetype(font_path(mono), fsize)
        gap = int(fsize * 1.4)
        widths = [max(int(font.getlength(r[c])) for r in rows) for c in range(len(rows[0]))]
        if sum(widths) + gap * (len(widths) - 1) <= w * 0.92 or fsize <= 9:
            break
        fsize -= 1
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    x0, y = int(w * 0.04), int(h * 0.05)
    line_h = int(fsize * 1.7)
    for i, text in enumerate(head):
        draw.text((x0, y), text, font=font, fill=accent if i == 0 else fg)
        y += line_h
    y += line_h // 2
    xs = [x0 + sum(widths[:c]) + gap * c for c in range(len(widths))]
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            draw.text((xs[c], y), cell, font=font, fill=accent if r == 0 else fg)
        y += line_h
    for text in foot:
        y += line_h // 2
        draw.text((xs[max(0, len(xs) - 3)], y), text, font=font, fill=fg)
    jitter = rng.integers(-3, 4, size=2)
    return img.rotate(0, translate=(int(jitter[0]), int(jitter[1])), fillcolor=bg)


def _degrade(img: object, rng: np.random.Generator, *, grey: bool) -> object:
    """Scaling, blur, noise and JPEG artefacts, as a screen goes through capture and PACS compression."""
    from PIL import Image, ImageFilter

    assert isinstance(img, Image.Image)
    w, h = img.size
    if rng.random() < 0.5:  # captured at screen resolution, stored smaller
        f = float(rng.uniform(0.8, 0.95))
        img = img.resize((int(w * f), int(h * f)), Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BICUBIC)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.2, 0.6))))
    arr = np.asarray(img.convert("L") if grey else img, dtype=np.float64)
    arr = arr + rng.normal(0.0, float(rng.uniform(0.0, 8.0)), size=arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.7:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(55, 95)))
        img = Image.open(io.BytesIO(buf.getvalue()))
        img.load()
    return img


def render_screen(vendor: str, seed: int, *, protocol: str | None = None) -> tuple[object, ScreenTruth]:
    """Draw one dose summary page.

    Parameters
    ----------
    vendor
        ``"ge"``, ``"siemens"`` or ``"toshiba"`` (Toshiba/Canon style).
    seed
        Everything (values, page size, noise) follows from the seed.
    protocol
        Name of a protocol of the synthetic department (default: drawn by frequency).

    Returns
    -------
    tuple
        The page as a ``PIL.Image.Image`` (mode ``L`` or ``RGB``) and its :class:`ScreenTruth`.
    """
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor style {vendor!r}; allowed: {VENDORS}")
    rng = np.random.default_rng([seed, VENDORS.index(vendor)])
    if protocol is None:
        freq = np.asarray([p.frequency for p in CT_PROTOCOLS])
        proto = CT_PROTOCOLS[int(rng.choice(len(CT_PROTOCOLS), p=freq / freq.sum()))]
    else:
        proto = next(p for p in CT_PROTOCOLS if p.name == protocol)
    events = tuple(_sample_events(vendor, proto, rng))
    dec = 1 if vendor == "siemens" else 2
    total = round(sum(e.dlp_mgycm or 0.0 for e in events), dec)
    when = dt.datetime(2015, 1, 5, 8) + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 900)))
    truth = ScreenTruth(
        vendor=vendor, seed=seed, study_uid=make_uid("screen", vendor, seed, "study"),
        sop_instance_uid=make_uid("screen", vendor, seed, "sop"), protocol=proto.name,
        station_name=f"CT{VENDORS.index(vendor) + 4}", study_datetime=when, events=events,
        total_dlp_mgycm=total, total_mas=float(round(rng.uniform(300, 9000))),
    )
    size = [(512, 512), (640, 480), (768, 768), (1024, 768)][int(rng.integers(4))]
    img = _draw(truth, size, rng)
    grey = rng.random() < 0.6
    return _degrade(img, rng, grey=grey), truth


def _dataset(truth: ScreenTruth, img: object) -> Dataset:
    from PIL import Image

    assert isinstance(img, Image.Image)
    manufacturer, model, description = _HEADER[truth.vendor]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SC_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(truth.sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SC_SOP_CLASS, truth.sop_instance_uid
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    ds.Modality, ds.ConversionType = "CT", "WSD"
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = manufacturer, model, truth.station_name
    ds.InstitutionName = "Synthetic General Hospital"
    ds.StudyDate = ds.SeriesDate = f"{truth.study_datetime:%Y%m%d}"
    ds.StudyTime = ds.SeriesTime = f"{truth.study_datetime:%H%M%S}"
    ds.StudyInstanceUID = truth.study_uid
    ds.SeriesInstanceUID = make_uid("screen", truth.vendor, truth.seed, "series")
    ds.StudyDescription, ds.SeriesDescription = truth.protocol, description
    ds.SeriesNumber, ds.InstanceNumber = 999, 1
    ds.AccessionNumber = f"ACC{truth.seed:07d}"
    ds.PatientID, ds.PatientName = f"SCR{truth.seed:07d}", f"SCREEN^{truth.vendor.upper()}"
    ds.PatientBirthDate, ds.PatientSex = f"{1930 + truth.seed % 70}0101", "MF"[truth.seed % 2]
    ds.BurnedInAnnotation = "YES"
    arr = np.asarray(img, dtype=np.uint8)
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel = 3 if arr.ndim == 3 else 1
    ds.PhotometricInterpretation = "RGB" if arr.ndim == 3 else "MONOCHROME2"
    if arr.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = arr.tobytes()
    return ds


def write_screen(path: str | os.PathLike[str], vendor: str, seed: int, *, protocol: str | None = None) -> ScreenTruth:
    """Render a screen and write it as a DICOM Secondary Capture at ``path``; return its ground truth."""
    img, truth = render_screen(vendor, seed, protocol=protocol)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _dataset(truth, img).save_as(p, enforce_file_format=True)
    return ScreenTruth(**{**{f: getattr(truth, f) for f in ScreenTruth.__slots__}, "path": str(p)})


def write_screens(folder: str | os.PathLike[str], n: int, *, seed: int = 0) -> list[ScreenTruth]:
    """Write ``n`` screens (vendors in turn, seeds ``seed``, ``seed + 1`` …) into ``folder``."""
    out = []
    for i in range(n):
        vendor = VENDORS[i % len(VENDORS)]
        out.append(write_screen(Path(folder) / f"screen_{vendor}_{seed + i:05d}.dcm", vendor, seed + i))
    return out
