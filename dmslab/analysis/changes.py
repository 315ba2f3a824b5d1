"""Protocol-change detection: has a room's protocol silently changed its dose or technique?

Method, and why
---------------
Each room × protocol × metric is a series of exams in time order (one value per exam: mean CTDIvol of the
dose-bearing CT events, study DLP, mean tube current, effective mAs; kVp, pitch, collimation, filter as
categories). A protocol change is a *step* in such a series, and we want to see it soon (few exams after
it) while almost never crying wolf. Three parts:

1. **Detection: a self-starting two-sided CUSUM (Page 1954; Hawkins 1987) on log values.** Dose values
   are log-normal, so a relative change is a shift of the mean of ``log(value)``. Each exam is
   standardised against the mean and SD of the exams of its own segment observed at least ``lag`` exams
   earlier (at least ``min_baseline`` of them), through the predictive *t* distribution (so short
   baselines do not inflate false alarms) mapped to N(0, 1) and clipped at ±``clip`` (one DRL-sized
   outlier cannot raise an alarm). The CUSUM with reference value ``k`` = half the standardised shift to
   find is the sequential test with the shortest worst-case delay for a given false-alarm rate
   (Lorden/Moustakides optimality), which is the trade-off the targets state (delay in exams, false
   alarms per room-year). EWMA charts are similar but tuned less directly; retrospective tests alone
   give no delay.
2. **Localisation and confirmation: least-squares structural break with statsmodels.** At an alarm the
   segment is fitted by ``statsmodels`` OLS ``log(value) ~ 1 + step(τ)`` at the τ minimising the residual
   sum of squares (the least-squares change-point estimator, Bai 1994); the step coefficient gives the
   relative shift with its 95 % CI and nominal *p*. An alarm is reported only once ``min_post`` exams
   follow τ (a short run of outliers is not a change), ``p < alpha`` and the shift is at least
   ``min_rel_shift`` (a physicist does not act on a 3 % shift); monitoring restarts at τ. An alarm not
   yet confirmed is tested again every ``retest`` exams while the CUSUM stays above ``h`` (a real step
   keeps it there and becomes significant as exams accumulate; noise falls back below ``h``).
3. **Categorical technique (kVp, pitch, collimation, filter):** a value is *new* when its share in the
   segment before the last ``window`` exams is below 5 %. ``novel_share`` of the last ``window`` exams
   being new is a change, dated at the first new value of that run (statsmodels gives the Wilson CI of
   that share).

4. **Patient size** (:mod:`dmslab.analysis._size`): dose metrics are charted after a robust
   log-dose ~ log-size fit on the start window of each series (water-equivalent diameter, else weight),
   which removes the spread that tube current modulation / AEC gives with patient size; series without
   size, or whose dose does not follow size, are charted unadjusted and the result says so.

References: E. S. Page, Biometrika 41 (1954) 100; D. M. Hawkins, J. Qual. Technol. 19 (1987) 71;
J. Bai, J. Time Ser. Anal. 15 (1994) 453; D. C. Montgomery, *Introduction to Statistical Quality Control*.
The measured detection rate, delay and false-alarm rate are printed by ``bench/bench_changes.py``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dmslab.analysis._charts import chart_frame
from dmslab.analysis._exam_series import CT_METRICS, PROJ_METRICS, exam_series
from dmslab.analysis._size import ADJUSTABLE, SizeConfig, SizeFit, size_adjust

__all__ = ["CT_METRICS", "PROJ_METRICS", "ChangeConfig", "ChangePoint", "SizeConfig", "SizeFit", "chart_frame",
           "detect_changes", "detect_series", "exam_series", "size_adjustments"]

logger = logging.getLogger(__name__)

_COLUMNS = ["room", "protocol", "metric", "kind", "change_exam", "change_datetime", "alarm_exam", "alarm_datetime",
            "n_exams", "before", "after", "rel_shift", "ci_low", "ci_high", "p_value", "size_adjustment"]


@dataclass(frozen=True, slots=True)
class ChangeConfig:
    """Tuning of the detector (defaults measured by ``bench/bench_changes.py``).

    Parameters
    ----------
    k
        CUSUM reference value in standard deviations (half the smallest shift worth finding quickly).
    h
        CUSUM decision interval in standard deviations (larger: fewer false alarms, longer delay).
    min_baseline
        Exams of a segment before it is monitored.
    lag
        Exams of guard band between the baseline and the exam being judged.
    clip
        Standardised values are clipped to ±clip (robustness against single outliers).
    alpha
        Largest nominal p of the least-squares step to report a change.
    min_rel_shift
        Smallest relative shift (e.g. 0.10 = 10 %) to report.
    min_post
        Exams after the estimated change needed to confirm it (an alarm raised sooner waits for them).
    window, novel_share
        Categorical technique: share of the last ``window`` exams with a new value that makes a change.
    retest
        An alarm not confirmed is tested again ``retest`` exams later while the CUSUM stays above ``h``
        (0: the sums restart after it).
    """

    k: float = 0.35
    h: float = 7.0
    min_baseline: int = 8
    lag: int = 25
    clip: float = 4.0
    alpha: float = 1e-4
    min_rel_shift: float = 0.10
    min_post: int = 8
    window: int = 8
    novel_share: float = 0.75
    retest: int = 3

    def __post_init__(self) -> None:
        if self.k < 0 or self.h <= 0 or self.clip <= 0:
            raise ValueError(f"k >= 0, h > 0 and clip > 0 required, got k={self.k}, h={self.h}, clip={self.clip}")
        if self.min_baseline < 3 or self.window < 2 or self.lag < 0:
            raise ValueError("min_baseline >= 3, window >= 2 and lag >= 0 required")
        if not 0 < self.alpha < 1 or not 0 < self.novel_share <= 1 or self.min_rel_shift < 0:
            raise ValueError("alpha and novel_share must be in (0, 1], min_rel_shift >= 0")


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """One detected change in a series.

    ``index`` is the estimated first exam after the change, ``alarm`` the exam at which it was detected
    (0-based positions in the series). ``before``/``after`` are segment medians (categorical: modes),
    ``rel_shift`` = after/before − 1 from the least-squares step (continuous only) with its 95 % CI and
    nominal p, fitted on the whole segments before and after the change (up to the neighbouring changes).
    """

    index: int
    alarm: int
    before: Any
    after: Any
    rel_shift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


def _standardised(y: np.ndarray, start: int, cfg: ChangeConfig) -> np.ndarray:
    """Predictive z of y[i] (i >= start + min_baseline) against y[start : max(start+m, i-lag)]."""
    from scipy import stats  # optional dependency (extra "analysis"), imported when used
    n = len(y)
    idx = np.arange(start + cfg.min_baseline, n)
    ends = np.maximum(start + cfg.min_baseline, idx - cfg.lag)
    c1 = np.concatenate([[0.0], np.cumsum(y[start:])])
    c2 = np.concatenate([[0.0], np.cumsum(y[start:] ** 2)])
    m = (ends - start).astype(float)
    mean = c1[ends - start] / m
    var = np.maximum((c2[ends - start] - m * mean**2) / (m - 1), 0.0)
    sd = np.maximum(np.sqrt(var), 0.005)  # values equal to 0.5 % are treated as constant
    t = (y[idx] - mean) / (sd * np.sqrt(1.0 + 1.0 / m))
    z = stats.norm.ppf(np.clip(stats.t.cdf(t, df=m - 1), 1e-12, 1 - 1e-12))
    return np.asarray(np.clip(z, -cfg.clip, cfg.clip))


def _cusum(z: np.ndarray, k: float) -> np.ndarray:
    """Two-sided CUSUM statistic max(upper, lower) after each exam, never reset."""
    hi = lo = 0.0
    out = np.empty(len(z))
    for j, v in enumerate(z.tolist()):
        hi = max(0.0, hi + v - k)
        lo = max(0.0, lo - v - k)
        out[j] = max(hi, lo)
    return out


def _fit_step(y: np.ndarray, lo: int, tau: int, hi: int, alarm: int) -> ChangePoint:
    """statsmodels OLS of y[lo:hi] on a step at position tau (absolute index)."""
    import statsmodels.api as sm

    seg = y[lo:hi]
    step = (np.arange(lo, hi) >= tau).astype(float)
    fit = sm.OLS(seg, sm.add_constant(step)).fit()
    beta, (c_lo, c_hi) = float(fit.params[1]), fit.conf_int(0.05)[1]
    return ChangePoint(tau, alarm, float(np.exp(np.median(y[lo:tau]))), float(np.exp(np.median(y[tau:hi]))),
                       math.expm1(beta), math.expm1(float(c_lo)), math.expm1(float(c_hi)), float(fit.pvalues[1]))


def _locate(y: np.ndarray, start: int, alarm: int) -> ChangePoint | None:
    """Least-squares step in y[start : alarm+1] (the change point minimising the residual sum of squares)."""
    seg = y[start:alarm + 1]
    n = len(seg)
    if n < 5:
        return None
    c1, c2 = np.cumsum(seg), np.cumsum(seg**2)
    taus = np.arange(2, n - 1)  # at least 2 exams on each side
    left = c2[taus - 1] - c1[taus - 1] ** 2 / taus
    right = (c2[-1] - c2[taus - 1]) - (c1[-1] - c1[taus - 1]) ** 2 / (n - taus)
    return _fit_step(y, start, start + int(taus[np.argmin(left + right)]), alarm + 1, alarm)


def _refit(y: np.ndarray, found: list[ChangePoint]) -> list[ChangePoint]:
    """Final estimates: each step fitted on the whole segments before and after it (up to the next change)."""
    bounds = [0] + [cp.index for cp in found] + [len(y)]
    return [_fit_step(y, bounds[i], cp.index, bounds[i + 2], cp.alarm) for i, cp in enumerate(found)]


def _confirmed(cp: ChangePoint | None, cfg: ChangeConfig) -> bool:
    return cp is not None and cp.p_value is not None and cp.rel_shift is not None and cp.p_value < cfg.alpha \
        and abs(cp.rel_shift) >= cfg.min_rel_shift


def _continuous(values: np.ndarray, cfg: ChangeConfig) -> list[ChangePoint]:
    y = np.log(np.asarray(values, dtype=float))
    out: list[ChangePoint] = []
    start, first, not_before = 0, cfg.min_baseline, cfg.min_baseline
    while start + cfg.min_baseline < len(y):
        z = _standardised(y, start, cfg)
        offset = start + cfg.min_baseline
        above = first + np.flatnonzero(_cusum(z[first - offset:], cfg.k) > cfg.h)
        above = above[above >= not_before]
        if not above.size:
            break
        alarm = int(above[0])
        cp = _locate(y, start, alarm)
        if cp is not None and alarm - cp.index + 1 < cfg.min_post:
            alarm = cp.index + cfg.min_post - 1  # confirm only with min_post exams after the change
            if alarm >= len(y):
                break  # wait for more exams
            cp = _locate(y, start, alarm)
        if cp is not None and _confirmed(cp, cfg):
            out.append(cp)
            start = cp.index
            first = not_before = max(alarm + 1, start + cfg.min_baseline)
        elif cfg.retest:
            not_before = alarm + cfg.retest  # not confirmed yet: test again while the CUSUM stays above h
        else:
            first = not_before = alarm + 1  # not confirmed: restart the sums after the alarm
    return _refit(y, out)


def _categorical(values: np.ndarray, cfg: ChangeConfig) -> list[ChangePoint]:
    from statsmodels.stats.proportion import proportion_confint

    vals = pd.Series(values).astype(str).to_numpy()
    out: list[ChangePoint] = []
    start, w = 0, cfg.window
    i = start + cfg.min_baseline + w - 1
    while i < len(vals):
        base = pd.Series(vals[start:i - w + 1]).value_counts(normalize=True)
        recent = vals[i - w + 1:i + 1]
        novel = np.array([base.get(v, 0.0) < 0.05 for v in recent])
        if novel.mean() >= cfg.novel_share:
            j = int(np.argmax(novel))  # first new value of the run
            lo, hi = proportion_confint(int(novel.sum()), w, method="wilson")
            after = pd.Series(recent[novel]).mode().iloc[0]
            out.append(ChangePoint(i - w + 1 + j, i, base.index[0], after, None, float(lo), float(hi), None))
            start = i - w + 1 + j
            i = start + cfg.min_baseline + w - 1
        else:
            i += 1
    return out


def detect_series(values: Any, kind: str = "continuous", *, config: ChangeConfig | None = None) -> list[ChangePoint]:
    """Changes in one series of exam values in time order.

    Parameters
    ----------
    values
        One value per exam (continuous: positive numbers in any unit; categorical: anything comparable).
    kind
        ``"continuous"`` (log-normal values: CUSUM + least-squares step) or ``"categorical"`` (new values).
    config
        Detector tuning; default :class:`ChangeConfig`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.exp(rng.normal(0, 0.1, 80)) * np.r_[np.ones(40), np.full(40, 0.75)]
    >>> [(c.index, c.alarm, c.rel_shift < -0.2) for c in detect_series(x)]
    [(40, 47, True)]
    """
    cfg = config or ChangeConfig()
    if kind not in ("continuous", "categorical"):
        raise ValueError(f"kind must be 'continuous' or 'categorical', got {kind!r}")
    arr = np.asarray(values)
    if kind == "continuous":
        arr = arr.astype(float)
        if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError("continuous values must be finite and > 0 (drop missing values first)")
        return _continuous(arr, cfg)
    return _categorical(arr, cfg)


def _series(g: pd.DataFrame, metric: str, kind: str) -> tuple[pd.DataFrame, str]:
    """The exams of one series that have the metric, and its kind (AEC-chosen kVp is continuous)."""
    g = g[g[metric].notna()]
    if kind == "continuous":
        g = g[g[metric] > 0]
    elif g[metric].dtype.kind == "f":
        g = g.assign(**{metric: g[metric].round(3)})
        if g[metric].nunique() > 6 and (g[metric] > 0).all():
            kind = "continuous"  # e.g. kVp chosen by an AEC: a continuum, not a set technique value
    return g, kind


def _series_changes(g: pd.DataFrame, metric: str, kind: str, cfg: ChangeConfig,
                    size: SizeConfig | None) -> list[dict[str, Any]]:
    g, kind = _series(g, metric, kind)
    values = g[metric].to_numpy()
    note = "not size-adjusted: categorical technique" if kind == "categorical" else "not size-adjusted: adjustment off"
    if size is not None and metric in ADJUSTABLE and len(g):
        values, fit = size_adjust(values, g, size)
        note = fit.note
    times = g["study_datetime"].to_numpy()
    rows = []
    for cp in detect_series(values, kind, config=cfg):
        rows.append({"metric": metric, "kind": kind, "change_exam": cp.index,
                     "change_datetime": pd.Timestamp(times[cp.index]), "alarm_exam": cp.alarm,
                     "alarm_datetime": pd.Timestamp(times[cp.alarm]), "n_exams": len(g), "before": cp.before,
                     "after": cp.after, "rel_shift": cp.rel_shift, "ci_low": cp.ci_low, "ci_high": cp.ci_high,
                     "p_value": cp.p_value, "size_adjustment": note})
    return rows


def _metric_names(exams: pd.DataFrame, metrics: list[str] | None) -> list[str]:
    known = {**CT_METRICS, **PROJ_METRICS}
    names = metrics or [m for m in known if m in exams.columns]
    bad = [m for m in names if m not in known or m not in exams.columns]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; allowed: {[m for m in known if m in exams.columns]}")
    return names


def detect_changes(exams: pd.DataFrame, *, metrics: list[str] | None = None, config: ChangeConfig | None = None,
                   adjust_size: bool = True, size_config: SizeConfig | None = None) -> pd.DataFrame:
    """Changes per room × protocol × metric in the exams of :func:`exam_series`.

    Parameters
    ----------
    exams
        From :func:`exam_series` (one row per exam, with the patient-size columns).
    metrics
        Metrics to monitor; default every metric of the modality.
    config
        Detector tuning; default :class:`ChangeConfig`.
    adjust_size, size_config
        Chart dose metrics adjusted for patient size (:mod:`dmslab.analysis._size`; settings
        ``size_config``, default :class:`SizeConfig`); ``False`` charts the raw values.

    Returns
    -------
    DataFrame
        One row per change: ``room, protocol, metric, kind, change_exam`` (position of the first changed
        exam in that series), ``change_datetime``, ``alarm_exam``/``alarm_datetime`` (when the detector
        saw it), ``n_exams`` of the series, ``before``/``after`` (medians, at the reference patient size
        when size-adjusted; modes for categories), ``rel_shift`` with 95 % CI ``ci_low``/``ci_high`` and
        nominal ``p_value`` (continuous metrics), and ``size_adjustment`` (how the series was adjusted, or
        why not: see :func:`size_adjustments` for every series).
    """
    cfg = config or ChangeConfig()
    size = (size_config or SizeConfig()) if adjust_size else None
    known = {**CT_METRICS, **PROJ_METRICS}
    rows: list[dict[str, Any]] = []
    for (room, protocol), g in exams.groupby(["room", "protocol"], sort=True):
        for metric in _metric_names(exams, metrics):
            rows += [{"room": room, "protocol": protocol, **r}
                     for r in _series_changes(g, metric, known[metric], cfg, size)]
    logger.info("%d change(s) in %d exams", len(rows), len(exams))
    return pd.DataFrame(rows, columns=_COLUMNS)


def size_adjustments(exams: pd.DataFrame, *, metrics: list[str] | None = None,
                     size_config: SizeConfig | None = None) -> pd.DataFrame:
    """How each dose series of :func:`exam_series` is size-adjusted by :func:`detect_changes`, or why not.

    Returns
    -------
    DataFrame
        One row per room × protocol × adjustable metric: ``n_exams``, ``covariate`` (``dw_cm``,
        ``weight_kg`` or None when unadjusted), ``slope`` (d log dose / d log size) with 95 % CI
        ``ci_low``/``ci_high``, ``reference`` size, ``n_unadjusted`` (exams without size) and ``note``.
    """
    cfg = size_config or SizeConfig()
    rows = []
    for (room, protocol), g in exams.groupby(["room", "protocol"], sort=True):
        for metric in _metric_names(exams, metrics):
            if metric not in ADJUSTABLE:
                continue
            s, _kind = _series(g, metric, "continuous")
            fit = size_adjust(s[metric].to_numpy(), s, cfg)[1] if len(s) else SizeFit(None, "no exams")
            rows.append({"room": room, "protocol": protocol, "metric": metric, "n_exams": len(s),
                         "covariate": fit.covariate, "slope": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                         "reference": fit.reference, "n_unadjusted": fit.n_unadjusted, "note": fit.note})
    cols = ["room", "protocol", "metric", "n_exams", "covariate", "slope", "ci_low", "ci_high", "reference",
            "n_unadjusted", "note"]
    return pd.DataFrame(rows, columns=cols)
