"""Size-specific dose estimate (SSDE) per CT irradiation event, with its method record.

``SSDE = f(D) × CTDIvol`` where ``f(D) = a · exp(−b · D)`` is the AAPM fit for the phantom of the CTDIvol
(16 or 32 cm, DCM 113835) and ``D`` the patient size in cm (../shared/reference/ssde.md):

* AAPM Report 204 (2011): body, 32 cm phantom a = 3.704369, b = 0.03671937, fitted on 8–45 cm; 16 cm phantom
  a = 1.874799, b = 0.03871313, fitted on 6–55 cm. ``D`` is the effective diameter √(AP × LAT), or AAPM 204's
  regressions from AP alone or LAT alone, or its Table 3 from the patient's age (0–18 y; labelled
  ``size_from_age``: a population mean, not this patient).
* AAPM Report 220 (2014): the water-equivalent diameter ``D_w`` replaces ``D`` in the same fits; computed from an
  axial image by :func:`water_equivalent_diameter`, or as the scanner reported it (DCM 113980).
* AAPM Report 293 (2019): head, 16 cm phantom, ``f = 1.9852 · exp(−0.0486 · D_w)``; single-sourced coefficients
  (flag ``single_source``), needs ``D_w``.

Order of preference per event: the SSDE the scanner reported (DCM 113930) > ``D_w`` (reported, else from an
image) > effective diameter from AP/LAT > effective diameter from age. A size outside the fit domain is
flagged ``outside_fit_domain`` and gives no value (never extrapolated); an unknown phantom, a head scan against
the 32 cm phantom and localizers (``constant_angle``) give no value either, each saying why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmslab.analysis._estimate import Estimate
from dmslab.analysis._regions import region_of
from dmslab.analysis._size import _PLAUSIBLE
from dmslab.analysis._water_diameter import WaterDiameter, water_equivalent_diameter

__all__ = ["FITS", "METHOD_VERSION", "Fit", "SizeEstimate", "WaterDiameter", "conversion_factor",
           "effective_diameter", "event_ssde", "ssde", "water_equivalent_diameter"]

#: Version of this module's methods and tables (stored with every value).
METHOD_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Fit:
    """``f(D) = a · exp(−b · D)`` (D in cm) for CTDIvol in the ``phantom_cm`` phantom, fitted on ``lo``–``hi`` cm."""

    name: str
    phantom_cm: int
    a: float
    b: float
    lo: float
    hi: float
    basis: str

    def factor(self, d_cm: float) -> float | None:
        """The conversion factor, or ``None`` outside the fit domain."""
        if not self.lo <= d_cm <= self.hi:
            return None
        return self.a * math.exp(-self.b * d_cm)


#: The fits by name: ``aapm204_32``, ``aapm204_16`` (body; also with D_w, AAPM 220), ``aapm293_head``.
FITS = {
    "aapm204_32": Fit("aapm204_32", 32, 3.704369, 0.03671937, 8.0, 45.0, "AAPM Report 204 (2011), 32 cm phantom"),
    "aapm204_16": Fit("aapm204_16", 16, 1.874799, 0.03871313, 6.0, 55.0, "AAPM Report 204 (2011), 16 cm phantom"),
    # fit domain of AAPM 293 not retrievable (ssde.md §3): the 16 cm body table's domain is used and flagged
    "aapm293_head": Fit("aapm293_head", 16, 1.9852, 0.0486, 6.0, 55.0, "AAPM Report 293 (2019), head, 16 cm phantom"),
}

#: AAPM 204 Table 3: age (y) -> effective diameter (cm), as tabulated in IndoseCT ``aapm.db`` (ssde.md §2).
AGE_TABLE = ((0, 11.2), (0.2, 12.1), (0.4, 13.1), (0.6, 13.9), (0.8, 14.6), (1, 15.1), (1.2, 15.6), (1.4, 16.0),
             (1.6, 16.3), (1.8, 16.6), (2, 16.8), (2.5, 17.3), (3, 17.6), (3.5, 17.9), (4, 18.1), (4.5, 18.3),
             (5, 18.5), (6, 19.0), (7, 19.6), (8, 20.2), (9, 20.9), (10, 21.6), (11, 22.4), (12, 23.2), (13, 24.1),
             (14, 25.0), (15, 26.0), (16, 27.0), (17, 28.1), (18, 29.2))
#: AAPM 204 regressions of D_eff (cm) on one dimension (cm): (c0, c1, c2), D = c0 + c1·x + c2·x².
_FROM_AP = (-3.744858, 1.671734, -0.01338955)
_FROM_LAT = (5.899298, 0.3270494, 0.009978896)
_AP_PLUS_LAT = (-0.203128, 0.4958912)
_DIM_DOMAIN = (6.0, 55.0)  # the AP and LAT columns of AAPM 204 Tables 1B-C (8-45) and 2B-C (6-55)


@dataclass(frozen=True, slots=True)
class SizeEstimate:
    """A patient size for SSDE: ``d_cm`` (cm), ``kind`` ``deff`` (effective diameter) or ``dw`` (water
    equivalent), ``source`` (``ap_lat``, ``ap``, ``lat``, ``age``, ``reported``, ``image``), the DICOM code
    of the method (CID 10023/10024) and the assumptions and flags it brings."""

    d_cm: float
    kind: str
    source: str
    dicom_code: str | None
    assumptions: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


def _quadratic(c: tuple[float, float, float], x: float) -> float:
    return c[0] + c[1] * x + c[2] * x * x


def effective_diameter(*, ap_cm: float | None = None, lat_cm: float | None = None,
                       ap_plus_lat_cm: float | None = None, age_years: float | None = None) -> SizeEstimate | None:
    """The AAPM 204 effective diameter from what is known, best first: AP and LAT (√(AP·LAT)), their sum only,
    AP alone or LAT alone (AAPM 204 regressions), age 0–18 y (Table 3, linear between its ages). ``None`` when
    nothing is known or the age is above 18 y (Table 3 ends there).

    Raises
    ------
    ValueError
        A dimension or age that is not a positive finite number.

    Examples
    --------
    >>> effective_diameter(ap_cm=20, lat_cm=30).d_cm == math.sqrt(600)
    True
    >>> effective_diameter(age_years=5).d_cm, effective_diameter(age_years=5).flags
    (18.5, ('size_from_age',))
    """
    for name, v in (("ap_cm", ap_cm), ("lat_cm", lat_cm), ("ap_plus_lat_cm", ap_plus_lat_cm),
                    ("age_years", age_years)):
        if v is not None and not (math.isfinite(v) and v >= 0 and (v > 0 or name == "age_years")):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    lo, hi = _DIM_DOMAIN
    out_of = tuple(n for n, v in (("AP", ap_cm), ("LAT", lat_cm)) if v is not None and not lo <= v <= hi)
    dim_flags = ("dimension_outside_table",) if out_of else ()
    if ap_cm is not None and lat_cm is not None:
        return SizeEstimate(math.sqrt(ap_cm * lat_cm), "deff", "ap_lat", None,
                            ("effective diameter = sqrt(AP x LAT) (AAPM 204 definition)",), dim_flags)
    if ap_plus_lat_cm is not None:
        return SizeEstimate(_AP_PLUS_LAT[0] + _AP_PLUS_LAT[1] * ap_plus_lat_cm, "deff", "ap_plus_lat", "DCM:113936",
                            ("effective diameter from the sum of AP and LAT (AAPM 204 regression)",))
    if ap_cm is not None or lat_cm is not None:
        which, x, c, code = ("AP", ap_cm, _FROM_AP, "DCM:113935") if ap_cm is not None else \
            ("LAT", lat_cm, _FROM_LAT, "DCM:113934")
        assert x is not None
        return SizeEstimate(_quadratic(c, x), "deff", which.lower(), code,
                            (f"effective diameter from the {which} dimension alone (AAPM 204 regression)",),
                            dim_flags)
    if age_years is None or age_years > AGE_TABLE[-1][0]:
        return None
    ages, diameters = zip(*AGE_TABLE, strict=True)
    d = float(np.interp(age_years, ages, diameters))
    return SizeEstimate(d, "deff", "age", "DCM:113937",
                        (f"effective diameter of the average patient of age {age_years:g} y (AAPM 204 Table 3), "
                         "not this patient's size",), ("size_from_age",))


def conversion_factor(d_cm: float, phantom_cm: int, *, head: bool = False) -> float | None:
    """The SSDE conversion factor f(D) for CTDIvol in the ``phantom_cm`` (16 or 32) phantom; ``head``: AAPM
    293 (16 cm only). ``None`` outside the fit domain.

    Raises
    ------
    ValueError
        For a phantom other than 16 or 32 cm, or a head with the 32 cm phantom.

    Examples
    --------
    >>> round(conversion_factor(20.0, 32), 2), round(conversion_factor(20.0, 16), 2)
    (1.78, 0.86)
    >>> conversion_factor(50.0, 32) is None
    True
    """
    return _fit(phantom_cm, head).factor(float(d_cm))


def _fit(phantom_cm: int, head: bool) -> Fit:
    if phantom_cm not in (16, 32):
        raise ValueError(f"phantom_cm must be 16 or 32 (DCM 113690 / 113691), got {phantom_cm!r}")
    if head:
        if phantom_cm != 16:
            raise ValueError("AAPM 293 (head) applies to CTDIvol in the 16 cm phantom, this one is 32 cm")
        return FITS["aapm293_head"]
    return FITS[f"aapm204_{phantom_cm}"]


def _refused(method: str, basis: str, inputs: Mapping[str, Any], flag: str, reason: str,
             flags: tuple[str, ...] = ()) -> Estimate:
    return Estimate("ssde_mgy", None, method, METHOD_VERSION, basis, dict(inputs), (), None, (*flags, flag), reason)


def ssde(ctdivol_mgy: float, phantom_cm: int | None, size: SizeEstimate, *, head: bool = False) -> Estimate:
    """The SSDE (mGy) of one event from its CTDIvol (mGy), the phantom of that CTDIvol and a patient size.

    Head scans (``head``) use AAPM 293 and need ``D_w``. Refused (value ``None``, flags and reason) outside the
    fit domain, for an unknown or wrong phantom and for a head without ``D_w``.

    Examples
    --------
    >>> est = ssde(10.0, 32, effective_diameter(ap_cm=20, lat_cm=30))
    >>> round(est.value, 2), est.method
    (15.07, 'aapm204_deff')
    """
    method = "aapm293_head" if head else ("aapm220_dw" if size.kind == "dw" else "aapm204_deff")
    inputs: dict[str, Any] = {"ctdivol_mgy": float(ctdivol_mgy), "phantom_cm": phantom_cm,
                              f"{size.kind}_cm": round(size.d_cm, 3), "size_source": size.source}
    if size.dicom_code:
        inputs["size_method_code"] = size.dicom_code
    basis = "AAPM Report 293 (2019)" if head else "AAPM Report 204 (2011)" + (
        " with D_w of AAPM Report 220 (2014)" if size.kind == "dw" else "")
    if phantom_cm not in (16, 32):
        return _refused(method, basis, inputs, "phantom_unknown", "the CTDIvol phantom (16/32 cm) is not reported",
                        size.flags)
    if head and phantom_cm != 16:
        return _refused(method, basis, inputs, "phantom_mismatch",
                        "head scan with CTDIvol in the 32 cm phantom: AAPM 293 needs the 16 cm phantom", size.flags)
    if head and size.kind != "dw":
        return _refused(method, basis, inputs, "needs_dw", "AAPM 293 (head) needs the water-equivalent diameter",
                        size.flags)
    fit = _fit(phantom_cm, head)
    f = fit.factor(size.d_cm)
    inputs["fit"] = {"name": fit.name, "a": fit.a, "b": fit.b, "domain_cm": [fit.lo, fit.hi]}
    if f is None:
        return _refused(method, basis, inputs, "outside_fit_domain",
                        f"size {size.d_cm:.1f} cm outside the fit domain {fit.lo:g}-{fit.hi:g} cm (not extrapolated)",
                        size.flags)
    inputs["factor"] = round(f, 5)
    assumptions = (*size.assumptions, f"CTDIvol referenced to the {phantom_cm} cm phantom as reported")
    flags = (*size.flags, *(("single_source",) if head else ()))
    return Estimate("ssde_mgy", f * float(ctdivol_mgy), method, METHOD_VERSION, basis, inputs, assumptions,
                    "conversion factor reproduces the AAPM 204 tables to 0.005; the size estimate's own uncertainty "
                    "is not quantified (largest for size from age)", flags)


def _number(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def event_ssde(row: Mapping[str, Any], *, size: SizeEstimate | None = None) -> Estimate | None:
    """The SSDE of one CT event (a row of ``dmslab.store.ct_dose_events``): the scanner's value when it
    reported one, else computed from ``dw_cm`` (reported), else from ``size`` (e.g. from an image or AP/LAT),
    else from the patient's age. ``None`` for events without CTDIvol and localizers (no SSDE is defined)."""
    ctdi = _number(row, "ctdivol_mgy")
    if ctdi is None or row.get("acquisition_type") == "constant_angle":
        return None
    reported = _number(row, "ssde_mgy")
    phantom = _number(row, "phantom_cm")
    phantom_cm = int(phantom) if phantom is not None else None
    if reported is not None:
        return Estimate("ssde_mgy", reported, "scanner_reported", METHOD_VERSION, "DICOM RDSR SSDE (DCM 113930)",
                        {"ssde_mgy": reported, "ctdivol_mgy": ctdi, "phantom_cm": phantom_cm},
                        ("the scanner's own method (not stated in the report)",), None, ())
    region = region_of(row.get("target_region_code"))
    head = region is not None and region.region == "head"
    dw = _number(row, "dw_cm")
    lo, hi = _PLAUSIBLE["dw_cm"]
    if dw is not None and lo <= dw <= hi:
        size = SizeEstimate(dw, "dw", "reported", "DCM:113980", ("water-equivalent diameter as the scanner reported",))
    elif size is None:
        size = effective_diameter(age_years=_number(row, "age_years"))
    if size is None:
        return _refused("aapm204_deff", "AAPM Report 204 (2011)", {"ctdivol_mgy": ctdi, "phantom_cm": phantom_cm},
                        "no_size", "no patient size: no D_w, no dimensions, and no age of 18 y or less")
    return ssde(ctdi, phantom_cm, size, head=head)
