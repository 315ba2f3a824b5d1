"""Patient-size adjustment of a dose series before its control chart.

Why
---
With tube current modulation (CT) or automatic exposure control (DX, RF), much of the exam-to-exam spread
of dose is the patient's size: the system raises the tube output for larger patients. That spread hides a
protocol change — a 20 % step is 0.7 SD of log CTDIvol at a geometric SD of 1.3. Charting
``log(dose) − b · (log(size) − log(size_ref))`` instead removes the part explained by size, so the same
step is a larger shift in SD units and is found sooner, at the same false-alarm rate.

How
---
Per room × protocol × metric, a robust straight line ``log(dose) = a + b · log(size)`` (statsmodels
``RLM`` with Huber's T norm: mistyped weights, e.g. 8 kg for 80 kg, do not pull the line) is fitted on
the *start window* (the first ``window`` exams), which the control chart treats as in control. A
protocol change inside that window moves ``a`` but not ``b`` (patient size does not depend on the date),
so the slope stays unbiased. The size is, in order of preference, the water-equivalent diameter ``dw_cm``
reported by the scanner (AAPM Report 220: the size quantity CT output follows) when at least
``min_share`` of the window has it, else Patient's Weight. Heights are not used: the series has too few
exams to fit a second size term reliably, and weight alone carries most of the effect.

The series is **not** adjusted (and the result says so) when the window has fewer than ``min_exams``
exams, when size is missing in more than ``1 − min_share`` of it, or when the slope is not significant
(|t| < ``min_t``: e.g. fixed-mA head protocols, whose dose does not follow body weight). Exams without a
size in an adjusted series are charted unadjusted (counted in ``n_unadjusted``). Adjusted values are
expressed at the window's median size ``reference``, so their medians stay in the metric's unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ADJUSTABLE", "SizeConfig", "SizeFit", "size_adjust"]

#: Continuous metrics that follow patient size (technique categories and kVp are never adjusted).
ADJUSTABLE = frozenset({"ctdivol_mgy", "dlp_mgycm", "ma", "mas", "dap_gym2", "agd_mgy"})
#: Plausible size values; others count as missing (units of the column names).
_PLAUSIBLE = {"dw_cm": (5.0, 80.0), "weight_kg": (2.0, 300.0)}
#: Fewest different size values in the start window to fit a slope.
_MIN_DISTINCT = 5
_LABEL = {"dw_cm": ("water-equivalent diameter", "cm"), "weight_kg": ("weight", "kg")}


@dataclass(frozen=True, slots=True)
class SizeConfig:
    """How the size adjustment is fitted (see the module docstring).

    Parameters
    ----------
    covariates
        Size columns in order of preference (``dw_cm``, ``weight_kg``).
    window
        Exams at the start of the series used for the fit.
    min_exams
        Fewest exams in the window to fit at all.
    min_share
        Smallest share of window exams with a plausible size for a covariate to be used.
    min_t
        Smallest |slope / standard error| to adjust.
    """

    covariates: tuple[str, ...] = ("dw_cm", "weight_kg")
    window: int = 100
    min_exams: int = 30
    min_share: float = 0.8
    min_t: float = 3.0

    def __post_init__(self) -> None:
        bad = [c for c in self.covariates if c not in _PLAUSIBLE]
        if bad:
            raise ValueError(f"unknown size covariate(s) {bad}; allowed: {sorted(_PLAUSIBLE)}")
        if self.min_exams < 10 or self.window < self.min_exams:
            raise ValueError(f"min_exams >= 10 and window >= min_exams required, got {self.min_exams}, {self.window}")
        if not 0 < self.min_share <= 1 or self.min_t < 0:
            raise ValueError(f"min_share in (0, 1] and min_t >= 0 required, got {self.min_share}, {self.min_t}")


@dataclass(frozen=True, slots=True)
class SizeFit:
    """The size adjustment of one series.

    ``covariate`` is ``None`` when the series is charted unadjusted (``note`` says why). ``slope`` is
    d log(dose) / d log(size) with its 95 % CI; ``reference`` the size (in the covariate's unit) at which
    adjusted values are expressed; ``n_fit`` the exams of the fit; ``n_unadjusted`` the exams charted
    without adjustment because their size is missing.
    """

    covariate: str | None
    note: str
    slope: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    reference: float | None = None
    n_fit: int = 0
    n_unadjusted: int = 0


def _plausible(sizes: pd.DataFrame, column: str, n: int) -> np.ndarray:
    if column not in sizes:
        return np.full(n, np.nan)
    x = pd.to_numeric(sizes[column], errors="coerce").to_numpy(dtype=float)
    lo, hi = _PLAUSIBLE[column]
    return np.where((x >= lo) & (x <= hi), x, np.nan)


def _fit(y: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    """Huber-robust slope of y on log(x), its standard error and the scale of the residuals."""
    import statsmodels.api as sm

    res = sm.RLM(y, sm.add_constant(np.log(x), has_constant="add"), M=sm.robust.norms.HuberT()).fit()
    return float(res.params[1]), float(res.bse[1]), float(res.scale)


def _covariate(sizes: pd.DataFrame, cfg: SizeConfig, n: int, n_win: int) -> tuple[str, np.ndarray] | SizeFit:
    """The first size covariate recorded often enough in the start window, with its plausible values; or the
    :class:`SizeFit` saying why none is."""
    shares = {}
    for col in cfg.covariates:
        x = _plausible(sizes, col, n)
        shares[col] = float(np.isfinite(x[:n_win]).mean())
        if shares[col] >= cfg.min_share:
            return col, x
    have = ", ".join(f"{_LABEL[c][0]} {s:.0%}" for c, s in shares.items())
    return SizeFit(None, f"not size-adjusted: patient size missing (recorded in the first {n_win} exams: "
                         f"{have}; {cfg.min_share:.0%} needed)")


def size_adjust(values: np.ndarray, sizes: pd.DataFrame, config: SizeConfig | None = None
                ) -> tuple[np.ndarray, SizeFit]:
    """Dose values adjusted to the median patient size of the start window, and how.

    Parameters
    ----------
    values
        One positive dose value per exam, in time order.
    sizes
        The same exams' size columns (``dw_cm``, ``weight_kg``; absent columns count as missing).
    config
        Fit settings; default :class:`SizeConfig`.

    Returns
    -------
    adjusted, fit
        ``values × (reference / size) ** slope`` (unchanged where not adjusted) and the :class:`SizeFit`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.normal(76, 15, 400).clip(40, 160)
    >>> dose = 10 * (w / 75) ** 0.8 * np.exp(rng.normal(0, 0.15, 400))
    >>> adj, fit = size_adjust(dose, pd.DataFrame({"weight_kg": w}))
    >>> fit.covariate, round(fit.slope, 1), bool(np.std(np.log(adj)) < 0.16 < np.std(np.log(dose)))
    ('weight_kg', 0.8, True)
    """
    cfg = config or SizeConfig()
    v = np.asarray(values, dtype=float)
    n_win = min(cfg.window, len(v))
    if n_win < cfg.min_exams:
        return v, SizeFit(None, f"not size-adjusted: {len(v)} exams, the fit needs {cfg.min_exams}")
    chosen = _covariate(sizes, cfg, len(v), n_win)
    if isinstance(chosen, SizeFit):
        return v, chosen
    col, x = chosen
    ok = np.isfinite(x[:n_win])
    name, unit = _LABEL[col]
    distinct = len(np.unique(x[:n_win][ok]))
    if distinct < _MIN_DISTINCT:  # e.g. a default weight entered for everybody
        return v, SizeFit(None, f"not size-adjusted: only {distinct} different {name} value(s) in the first "
                                f"{n_win} exams", n_fit=int(ok.sum()))
    slope, se, _scale = _fit(np.log(v[:n_win][ok]), x[:n_win][ok])
    lo, hi = slope - 1.96 * se, slope + 1.96 * se
    if not math.isfinite(se) or se <= 0 or abs(slope) / se < cfg.min_t:
        return v, SizeFit(None, f"not size-adjusted: {name} does not explain the dose (exponent {slope:.2f}, "
                                f"95 % CI {lo:.2f} to {hi:.2f}, first {n_win} exams)", slope, lo, hi,
                          n_fit=int(ok.sum()))
    ref = float(np.median(x[:n_win][ok]))
    missing = ~np.isfinite(x)
    adjusted = np.where(missing, v, v * (ref / np.where(missing, ref, x)) ** slope)
    note = (f"size-adjusted to {name} {ref:.3g} {unit}: dose ∝ {name}^{slope:.2f} (95 % CI {lo:.2f} to {hi:.2f}, "
            f"robust fit on the first {n_win} exams)")
    if missing.any():
        note += f"; {int(missing.sum())} exam(s) without {name} charted unadjusted"
    return adjusted, SizeFit(col, note, slope, lo, hi, ref, int(ok.sum()), int(missing.sum()))
