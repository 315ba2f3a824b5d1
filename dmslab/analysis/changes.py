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
   ``min_rel_shift`` (a physicist does not act on a 3 % shift); monitoring restarts at τ.
3. **Categorical technique (kVp, pitch, collimation, filter):** a value is *new* when its share in the
   segment before the last ``window`` exams is below 5 %. ``novel_share`` of the last ``window`` exams
   being new is a change, dated at the first new value of that run (statsmodels gives the Wilson CI of
   that share).

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
import sqlalchemy as sa

from dmslab.store import Store, table

__all__ = ["CT_METRICS", "PROJ_METRICS", "ChangeConfig", "ChangePoint", "chart_frame", "detect_changes",
           "detect_series", "exam_series"]

logger = logging.getLogger(__name__)

#: CT metrics: name -> "continuous" (log-normal dose/technique value) or "categorical" (set technique value).
CT_METRICS = {"ctdivol_mgy": "continuous", "dlp_mgycm": "continuous", "ma": "continuous", "mas": "continuous",
              "kvp": "categorical", "pitch": "categorical", "collimation_mm": "categorical"}
#: Projection (DX, MG, RF) metrics per exam.
PROJ_METRICS = {"dap_gym2": "continuous", "agd_mgy": "continuous", "kvp": "categorical",
                "filter_material": "categorical"}
_COLUMNS = ["room", "protocol", "metric", "kind", "change_exam", "change_datetime", "alarm_exam", "alarm_datetime",
            "n_exams", "before", "after", "rel_shift", "ci_low", "ci_high", "p_value"]


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


def _cusum_alarm(z: np.ndarray, k: float, h: float) -> int | None:
    hi = lo = 0.0
    for j, v in enumerate(z.tolist()):
        hi = max(0.0, hi + v - k)
        lo = max(0.0, lo - v - k)
        if hi > h or lo > h:
            return j
    return None


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


def _continuous(values: np.ndarray, cfg: ChangeConfig) -> list[ChangePoint]:
    y = np.log(np.asarray(values, dtype=float))
    out: list[ChangePoint] = []
    start = 0
    first = cfg.min_baseline
    while start + cfg.min_baseline < len(y):
        z = _standardised(y, start, cfg)
        offset = start + cfg.min_baseline
        j = _cusum_alarm(z[first - offset:], cfg.k, cfg.h)
        if j is None:
            break
        alarm = first + j
        cp = _locate(y, start, alarm)
        if cp is not None and alarm - cp.index + 1 < cfg.min_post:
            alarm = cp.index + cfg.min_post - 1  # confirm only with min_post exams after the change
            if alarm >= len(y):
                break  # wait for more exams
            cp = _locate(y, start, alarm)
        if cp is not None and cp.p_value is not None and cp.rel_shift is not None and cp.p_value < cfg.alpha \
                and abs(cp.rel_shift) >= cfg.min_rel_shift:
            out.append(cp)
            start = cp.index
            first = max(alarm + 1, start + cfg.min_baseline)
        else:
            first = alarm + 1  # alarm not confirmed: restart the sums after it
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


def _ct_frame(store: Store, where: list[Any], room: Any, protocol: Any) -> pd.DataFrame:
    st, eq, ev = table("study"), table("equipment"), table("ct_event")
    dose = sa.and_(ev.c.ctdivol_mgy.is_not(None), ev.c.ctdivol_mgy > 0,
                   sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle"))
    mas = ev.c.ma * sa.func.coalesce(ev.c.rotation_time_s, 1.0) / sa.func.coalesce(ev.c.pitch, 1.0)
    q = (sa.select(st.c.id.label("study_id"), st.c.study_datetime, room, protocol,
                   sa.func.max(st.c.total_dlp_mgycm).label("dlp_mgycm"),
                   sa.func.avg(ev.c.ctdivol_mgy).label("ctdivol_mgy"), sa.func.avg(ev.c.ma).label("ma"),
                   sa.func.avg(mas).label("mas"), sa.func.max(ev.c.kvp).label("kvp"),
                   sa.func.max(ev.c.pitch).label("pitch"), sa.func.max(ev.c.collimation_mm).label("collimation_mm"))
         .select_from(st.join(eq, st.c.equipment_id == eq.c.id).join(ev, ev.c.study_id == st.c.id))
         .where(st.c.modality == "CT", dose, *where)
         .group_by(st.c.id, st.c.study_datetime, room, protocol))
    return store.read(q)


def _proj_frame(store: Store, modality: str, where: list[Any], room: Any, protocol: Any) -> pd.DataFrame:
    st, eq, ev = table("study"), table("equipment"), table("proj_event")
    q = (sa.select(st.c.id.label("study_id"), st.c.study_datetime, room, protocol,
                   sa.func.max(st.c.total_dap_gym2).label("dap_gym2"), sa.func.avg(ev.c.agd_mgy).label("agd_mgy"),
                   sa.func.avg(ev.c.kvp).label("kvp"), sa.func.max(ev.c.filter_material).label("filter_material"))
         .select_from(st.join(eq, st.c.equipment_id == eq.c.id).join(ev, ev.c.study_id == st.c.id))
         .where(st.c.modality == modality, *where)
         .group_by(st.c.id, st.c.study_datetime, room, protocol))
    return store.read(q)


def exam_series(store: Store, *, modality: str = "CT", rooms: list[str] | None = None, start: Any = None,
                end: Any = None, protocol_field: str = "study_description") -> pd.DataFrame:
    """One row per exam with the monitored metrics, ordered by room, protocol and time.

    Parameters
    ----------
    store
        The dmslab store.
    modality
        ``CT`` (metrics :data:`CT_METRICS`) or ``DX``/``MG``/``RF`` (:data:`PROJ_METRICS`).
    rooms
        Only these rooms (``equipment.room``, else station name); all when ``None``.
    start, end
        Only exams with ``start <= study_datetime < end`` (datetimes or ISO strings).
    protocol_field
        Study column naming the protocol: ``study_description`` or ``standard_name``.

    Returns
    -------
    DataFrame
        ``study_id, study_datetime, room, protocol`` and one column per metric (CTDIvol in mGy, DLP in
        mGy·cm, mA, effective mAs = mA × rotation time / pitch in mA·s, kVp in kV, collimation in mm,
        DAP in Gy·m², AGD in mGy).
    """
    if protocol_field not in ("study_description", "standard_name", "requested_procedure"):
        raise ValueError(f"protocol_field must be study_description, standard_name or requested_procedure, "
                         f"got {protocol_field!r}")
    st, eq = table("study"), table("equipment")
    room = sa.func.coalesce(eq.c.room, eq.c.station_name).label("room")
    protocol = st.c[protocol_field].label("protocol")
    where: list[Any] = [st.c.study_datetime.is_not(None), st.c[protocol_field].is_not(None)]
    if rooms:
        where.append(sa.func.coalesce(eq.c.room, eq.c.station_name).in_(list(rooms)))
    if start is not None:
        where.append(st.c.study_datetime >= pd.Timestamp(start).to_pydatetime())
    if end is not None:
        where.append(st.c.study_datetime < pd.Timestamp(end).to_pydatetime())
    df = _ct_frame(store, where, room, protocol) if modality == "CT" else _proj_frame(store, modality, where, room,
                                                                                        protocol)
    df["study_datetime"] = pd.to_datetime(df["study_datetime"])
    return df.sort_values(["room", "protocol", "study_datetime", "study_id"]).reset_index(drop=True)


def _series_changes(g: pd.DataFrame, metric: str, kind: str, cfg: ChangeConfig) -> list[dict[str, Any]]:
    g = g[g[metric].notna()]
    if kind == "continuous":
        g = g[g[metric] > 0]
    elif g[metric].dtype.kind == "f":
        g = g.assign(**{metric: g[metric].round(3)})
        if g[metric].nunique() > 6 and (g[metric] > 0).all():
            kind = "continuous"  # e.g. kVp chosen by an AEC: a continuum, not a set technique value
    times = g["study_datetime"].to_numpy()
    rows = []
    for cp in detect_series(g[metric].to_numpy(), kind, config=cfg):
        rows.append({"metric": metric, "kind": kind, "change_exam": cp.index,
                     "change_datetime": pd.Timestamp(times[cp.index]), "alarm_exam": cp.alarm,
                     "alarm_datetime": pd.Timestamp(times[cp.alarm]), "n_exams": len(g), "before": cp.before,
                     "after": cp.after, "rel_shift": cp.rel_shift, "ci_low": cp.ci_low, "ci_high": cp.ci_high,
                     "p_value": cp.p_value})
    return rows


def detect_changes(exams: pd.DataFrame, *, metrics: list[str] | None = None,
                   config: ChangeConfig | None = None) -> pd.DataFrame:
    """Changes per room × protocol × metric in the exams of :func:`exam_series`.

    Returns
    -------
    DataFrame
        One row per change: ``room, protocol, metric, kind, change_exam`` (position of the first changed
        exam in that series), ``change_datetime``, ``alarm_exam``/``alarm_datetime`` (when the detector
        saw it), ``n_exams`` of the series, ``before``/``after`` (medians; modes for categories),
        ``rel_shift`` with 95 % CI ``ci_low``/``ci_high`` and nominal ``p_value`` (continuous metrics).
    """
    cfg = config or ChangeConfig()
    known = {**CT_METRICS, **PROJ_METRICS}
    names = metrics or [m for m in known if m in exams.columns]
    bad = [m for m in names if m not in known or m not in exams.columns]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; allowed: {[m for m in known if m in exams.columns]}")
    rows: list[dict[str, Any]] = []
    for (room, protocol), g in exams.groupby(["room", "protocol"], sort=True):
        for metric in names:
            rows += [{"room": room, "protocol": protocol, **r} for r in _series_changes(g, metric, known[metric], cfg)]
    logger.info("%d change(s) in %d exams", len(rows), len(exams))
    return pd.DataFrame(rows, columns=_COLUMNS)


def chart_frame(exams: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Long frame for control charts of the series with a change: one row per exam and metric.

    Columns ``series`` (room · protocol · metric), ``study_datetime``, ``value``, ``segment_median`` (median
    of the exam's segment between detected changes) and ``changed`` (True at the first changed exam).
    """
    parts = []
    for (room, protocol, metric), ch in changes.groupby(["room", "protocol", "metric"], sort=True):
        g = exams[(exams["room"] == room) & (exams["protocol"] == protocol)].dropna(subset=[metric])
        if g[metric].dtype.kind == "f":
            g = g[g[metric] > 0]  # as in detect_changes: positions are counted over these exams
        segment = np.searchsorted(np.sort(ch["change_exam"].to_numpy()), np.arange(len(g)), side="right")
        df = pd.DataFrame({"series": f"{room} · {protocol} · {metric}",
                           "study_datetime": g["study_datetime"].to_numpy(), "value": g[metric].to_numpy(),
                           "segment": segment})
        df["segment_median"] = df.groupby("segment")["value"].transform("median") if df["value"].dtype.kind == "f" \
            else df.groupby("segment")["value"].transform(lambda v: v.mode().iloc[0])
        df["changed"] = np.isin(np.arange(len(g)), ch["change_exam"].to_numpy())
        parts.append(df)
    cols = ["series", "study_datetime", "value", "segment", "segment_median", "changed"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
