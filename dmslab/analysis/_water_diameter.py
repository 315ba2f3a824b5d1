"""Water-equivalent diameter of a CT axial image (AAPM Report 220, 2014): a pure function on a pixel array.

``D_w = 2 √(A_w / π)`` with ``A_w = Σ_ROI (HU / 1000 + 1) · pixel area`` over the patient's cross-section.
The ROI is the patient outline: pixels above ``threshold_hu`` (air is −1000 HU), the largest connected
object only (the table, the cushion and lines are separate objects), with its holes filled so the lungs and
bowel gas inside count at their own (low) attenuation, as AAPM 220 prescribes.

A patient cut by the reconstruction field of view is under-estimated: the result says how much of the outline
touches the image border (``truncated_fraction``); no truncation correction is applied (the only public one
found, ``exp(1.14e-6 p³)``, is unattributed — ../shared/reference/ssde.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["WaterDiameter", "water_equivalent_diameter"]


@dataclass(frozen=True, slots=True)
class WaterDiameter:
    """The result of :func:`water_equivalent_diameter`: ``dw_cm`` (cm), the ROI area (cm²), the mean HU in
    the ROI, and the share of the outline's border pixels on the image edge (0: not truncated)."""

    dw_cm: float
    area_cm2: float
    mean_hu: float
    truncated_fraction: float


def _patient_roi(hu: np.ndarray, threshold_hu: float) -> np.ndarray:
    from scipy import ndimage

    labels, n = ndimage.label(hu > threshold_hu)
    if n == 0:
        raise ValueError(f"no pixel above {threshold_hu} HU: the image holds no patient (is it in HU?)")
    sizes = np.bincount(labels.ravel())[1:]
    largest = labels == (int(np.argmax(sizes)) + 1)
    return np.asarray(ndimage.binary_fill_holes(largest), dtype=bool)


def water_equivalent_diameter(hu: np.ndarray, pixel_spacing_mm: tuple[float, float], *,
                              threshold_hu: float = -500.0) -> WaterDiameter:
    """The water-equivalent diameter of one axial CT image.

    Parameters
    ----------
    hu
        2-D array of CT numbers in HU (rescale slope and intercept already applied).
    pixel_spacing_mm
        (row, column) spacing in mm (DICOM Pixel Spacing).
    threshold_hu
        Pixels above it belong to objects; the patient is the largest one (holes filled).

    Returns
    -------
    WaterDiameter

    Raises
    ------
    ValueError
        A non-2-D or non-finite array, a spacing that is not two positive numbers, or no object above the threshold.

    References
    ----------
    AAPM Report 220 (2014), Eq. 1-3; ../shared/reference/ssde.md §2.

    Examples
    --------
    A water disc of 10 cm radius in air has D_w = 20 cm:

    >>> y, x = np.mgrid[-256:256, -256:256] * 0.5 + 0.25
    >>> img = np.where(x**2 + y**2 <= 100.0**2, 0.0, -1000.0)
    >>> round(water_equivalent_diameter(img, (0.5, 0.5)).dw_cm, 2)
    20.0
    """
    a = np.asarray(hu, dtype=float)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"hu must be a 2-D image, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("hu holds NaN or infinite values")
    try:
        dy, dx = (float(v) for v in pixel_spacing_mm)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"pixel_spacing_mm must be two numbers (row, column) in mm, got {pixel_spacing_mm!r}") from exc
    if not (dy > 0 and dx > 0 and math.isfinite(dy) and math.isfinite(dx)):
        raise ValueError(f"pixel_spacing_mm must be positive, got {pixel_spacing_mm!r}")
    roi = _patient_roi(a, threshold_hu)
    pixel_cm2 = dy * dx / 100.0
    area = float(roi.sum()) * pixel_cm2
    aw = float(np.sum(a[roi] / 1000.0 + 1.0)) * pixel_cm2
    edge = np.concatenate([roi[0], roi[-1], roi[:, 0], roi[:, -1]])
    border = roi & ~_eroded(roi)
    truncated = float(edge.sum()) / max(float(border.sum()), 1.0)
    return WaterDiameter(2.0 * math.sqrt(max(aw, 0.0) / math.pi), area, float(a[roi].mean()), min(truncated, 1.0))


def _eroded(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.asarray(ndimage.binary_erosion(mask, border_value=0), dtype=bool)
