"""Named vendor quirks of image headers. Each one says what it fixes, when it applies and where it was seen.

The quirk id is what ``unit_fixes`` records (``"compression_n: dN (quirk ge_senograph_ds_dn)"``), so an MPE
can count and review every value dmslab changed. Sources: ``shared/reference/units.md`` section 3 and the
public corpus (``shared/corpus/README.md``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dmslab.errors import VendorQuirkWarning, warn_and_log
from dmslab.ingest._header import header_text
from dmslab.ingest.headers._common import numbers, raw_text

__all__ = ["Filter", "activity_unit", "compression_force_unit", "filters", "material_meaning",
           "relative_exposure_label", "sid_unit"]

logger = logging.getLogger(__name__)

#: Header defined terms / element symbols -> CID 10006 code meaning (the RDSR importer stores meanings).
_MATERIALS = {
    "ALUMINUM": "Aluminum or Aluminum compound", "ALUMINIUM": "Aluminum or Aluminum compound",
    "AL": "Aluminum or Aluminum compound",
    "COPPER": "Copper or Copper compound", "CU": "Copper or Copper compound",
    "MOLYBDENUM": "Molybdenum or Molybdenum compound", "MO": "Molybdenum or Molybdenum compound",
    "RHODIUM": "Rhodium or Rhodium compound", "RH": "Rhodium or Rhodium compound",
    "SILVER": "Silver or Silver compound", "AG": "Silver or Silver compound",
    "TUNGSTEN": "Tungsten or Tungsten compound", "W": "Tungsten or Tungsten compound",
    "LEAD": "Lead or Lead compound", "PB": "Lead or Lead compound",
    "NIOBIUM": "Niobium or Niobium compound", "NB": "Niobium or Niobium compound",
    "EUROPIUM": "Europium or Europium compound", "EU": "Europium or Europium compound",
    "TIN": "Tin or Tin compound", "SN": "Tin or Tin compound",
}
#: Relative X-Ray Exposure (0018,1405) is manufacturer-specific: the vendor's own index and its unit (units.md).
_RELATIVE_EXPOSURE = (
    ("carestream", "EI (Mbels)"), ("kodak", "EI (Mbels)"), ("fuji", "S ()"), ("agfa", "lgM (Bels)"),
    ("konica", "S ()"), ("canon", "REX ()"), ("swissray", "DI ()"), ("philips", "EI ()"), ("siemens", "EXI (uGy)"),
)
_SIEMENS_FILTER_TYPE = re.compile(r"^([A-Z]{1,2})_(\d+(?:\.\d+)?)_MM$")
#: Above this a (0018,1074) value read as MBq would exceed any administration (100 GBq); below it a value read
#: as Bq would be under 0.1 MBq, less than any imaging administration. The two readings never overlap.
BQ_MBQ_THRESHOLD = 1.0e5
#: Compression forces above this are not plausible in newtons (IEC 60601-2-45 limits powered compression to 200 N;
#: 300 N leaves room for manual compression).
MAX_PLAUSIBLE_FORCE_N = 300.0


@dataclass(frozen=True, slots=True)
class Filter:
    """One added filter: CID 10006 meaning (or the text as sent) and thicknesses in mm."""

    material: str | None
    min_mm: float | None
    max_mm: float | None
    swapped: bool = False


def material_meaning(text: str | None) -> str | None:
    """CID 10006 meaning of a header material term (``"ALUMINUM"`` -> ``"Aluminum or Aluminum compound"``)."""
    if not text:
        return None
    return _MATERIALS.get(text.strip().upper(), text.strip())


def relative_exposure_label(manufacturer: str | None) -> str | None:
    """The vendor's name and unit for Relative X-Ray Exposure (0018,1405), e.g. ``"EI (Mbels)"`` for Carestream."""
    m = (manufacturer or "").lower()
    for key, label in _RELATIVE_EXPOSURE:
        if key in m:
            return label
    return None


def filters(ds: Dataset) -> list[Filter]:
    """Added filters from FilterMaterial and FilterThicknessMinimum/Maximum (0018,7050/7052/7054).

    Quirks handled:

    * ``kodak_comma_multivalue``: Kodak/Carestream separate values with commas (``"ALUMINUM,COPPER"``);
    * ``kodak_swapped_min_max``: minimum larger than maximum (Kodak DR 7500): the pair is swapped;
    * ``siemens_filter_type``: no FilterMaterial but FilterType ``"CU_0.2_MM"`` (Siemens Multix): material
      and thickness are read from the filter type.
    """
    text = raw_text(ds, "FilterMaterial")
    mins, maxs = numbers(ds, "FilterThicknessMinimum"), numbers(ds, "FilterThicknessMaximum")
    if text is None:
        m = _SIEMENS_FILTER_TYPE.match((header_text(ds, "FilterType") or "").upper())
        if m is None:
            return []
        t = float(m.group(2))
        return [Filter(material_meaning(m.group(1)), t, t)]
    materials = [p.strip() for p in re.split(r"[\\,]", text) if p.strip()]
    out = []
    for i, mat in enumerate(materials):
        lo = mins[i] if i < len(mins) else None
        hi = maxs[i] if i < len(maxs) else None
        if lo is not None and hi is not None and lo > hi:
            warn_and_log(f"filter {mat}: minimum thickness {lo} > maximum {hi}; swapped (quirk kodak_swapped_min_max)",
                         VendorQuirkWarning, logger=logger)
            out.append(Filter(material_meaning(mat), hi, lo, swapped=True))
            continue
        out.append(Filter(material_meaning(mat), lo, hi))
    return out


def sid_unit(value: float, manufacturer: str | None) -> tuple[str, str | None]:
    """Unit of DistanceSourceToDetector (0018,1110): ``mm`` as defined, ``dm`` for quirk ``kodak_sid_dm``.

    Kodak DR 7500 CR headers write ``11.5`` for a 1150 mm source-image distance (corpus
    ``DX-Im-Carestream_DR7500-*``; the upstream test expects 1150 mm). No radiographic SID is under 100 mm,
    so a Kodak/Carestream value below 100 is read as decimetres.
    """
    m = (manufacturer or "").lower()
    if value < 100 and ("kodak" in m or "carestream" in m):
        return "dm", "quirk kodak_sid_dm"
    return "mm", None


def compression_force_unit(value: float, model: str | None) -> tuple[str, str | None]:
    """Unit of CompressionForce (0018,11A2): ``N`` as defined, ``dN`` for quirk ``ge_senograph_ds_dn``.

    GE Senographe DS units stored the force in decinewtons (1 dN = 0.1 N; OpenREM issue 135, units.md): a value that is
    implausible in newtons (above :data:`MAX_PLAUSIBLE_FORCE_N`) from a model named "Senograph DS" is read
    as dN. Values in the plausible range are kept as N: the public Senograph DS images carry 30 and 50,
    which the upstream tests assert as 30 N and 50 N.
    """
    if value > MAX_PLAUSIBLE_FORCE_N and "senograph ds" in (model or "").lower():
        return "dN", "quirk ge_senograph_ds_dn"
    return "N", None


def activity_unit(value: float) -> tuple[str, str | None]:
    """Unit of Radionuclide Total Dose (0018,1074): ``Bq`` as defined, ``MBq`` for quirk ``nm_total_dose_mbq``.

    Siemens NM cameras (Encore2) write MBq into this Bq attribute. Rule by magnitude: a value below
    :data:`BQ_MBQ_THRESHOLD` (1e5) is MBq, because as Bq it would be less than 0.1 MBq, below any
    administration that produces an image, while as MBq it stays below 100 GBq.

    >>> activity_unit(764.0)
    ('MBq', 'quirk nm_total_dose_mbq')
    >>> activity_unit(394000000.0)
    ('Bq', None)
    """
    if value < BQ_MBQ_THRESHOLD:
        return "MBq", "quirk nm_total_dose_mbq"
    return "Bq", None
