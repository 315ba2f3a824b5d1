"""Optimisation studies: did a dose metric differ between two rooms or two periods?

Dose values are skewed and vary with the patient, so the comparison is non-parametric: the two-sided
Mann-Whitney U test (scipy) for "one group tends to higher values", the rank-biserial correlation as effect
size (r = 2U/(n_a n_b) − 1, from −1: all of B below A, to +1: all of B above A), and the ratio of medians
B/A, each with a 95 % bootstrap percentile CI (resampling exams within each group).

References: H. B. Mann, D. R. Whitney, Ann. Math. Stat. 18 (1947) 50; D. S. Kerby, Compr. Psychol. 3
(2014) 11 (rank-biserial correlation); B. Efron, R. Tibshirani, *An Introduction to the Bootstrap* (1993).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Comparison", "compare_exams", "compare_groups"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Result of :func:`compare_groups`; ``frame`` holds the values with their group for plotting."""

    label_a: str
    label_b: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float
    ratio_ci: tuple[float, float]
    u: float
    p_value: float
    rank_biserial: float
    rank_biserial_ci: tuple[float, float]
    frame: pd.DataFrame = field(repr=False)

    def table(self) -> pd.DataFrame:
        """The result as a one-row-per-quantity table."""
        rows = [("n", f"{self.n_a} / {self.n_b}"), ("median A / B", f"{self.median_a:.4g} / {self.median_b:.4g}"),
                ("ratio of medians B/A (95 % CI)", f"{self.ratio:.3f} ({self.ratio_ci[0]:.3f}–{self.ratio_ci[1]:.3f})"),
                ("Mann-Whitney U, two-sided p", f"{self.u:.0f}, p = {self.p_value:.2g}"),
                ("rank-biserial r (95 % CI)",
                 f"{self.rank_biserial:.2f} ({self.rank_biserial_ci[0]:.2f} to {self.rank_biserial_ci[1]:.2f})")]
        return pd.DataFrame(rows, columns=["quantity", f"A = {self.label_a}; B = {self.label_b}"])

    def text(self, alpha: float = 0.05) -> str:
        """One sentence for a report."""
        verdict = "differ significantly" if self.p_value < alpha else "do not differ significantly"
        return (f"{self.label_b} vs {self.label_a}: medians {self.median_b:.4g} vs {self.median_a:.4g} "
                f"(ratio {self.ratio:.2f}, 95 % CI {self.ratio_ci[0]:.2f}–{self.ratio_ci[1]:.2f}); the groups "
                f"{verdict} (Mann-Whitney p = {self.p_value:.2g}, rank-biserial r = {self.rank_biserial:.2f}).")

    def _repr_html_(self) -> str:
        return f"<p>{self.text()}</p>" + self.table().to_html(index=False)


def _r(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    u = stats.mannwhitneyu(b, a, alternative="two-sided").statistic
    return float(2 * u / (len(a) * len(b)) - 1)


def compare_groups(a: Any, b: Any, *, labels: tuple[str, str] = ("A", "B"), n_boot: int = 2000,
                   seed: int = 0) -> Comparison:
    """Compare the values of group B with group A (e.g. after vs before an optimisation).

    Parameters
    ----------
    a, b
        Values of the metric per exam (any unit, the same for both); missing values are dropped.
    labels
        Names of the groups for the text and the plot.
    n_boot, seed
        Bootstrap resamples for the confidence intervals and the random seed (reproducible reports).

    Examples
    --------
    >>> c = compare_groups([10, 11, 12, 13, 14, 15], [7, 8, 8.5, 9, 9.5, 10], labels=("before", "after"))
    >>> round(c.ratio, 3), bool(c.p_value < 0.01), round(c.rank_biserial, 2)
    (0.7, True, -0.97)
    """
    from scipy import stats  # optional dependency (extra "analysis"), imported when used

    xa = pd.to_numeric(pd.Series(a), errors="coerce").dropna().to_numpy(float)
    xb = pd.to_numeric(pd.Series(b), errors="coerce").dropna().to_numpy(float)
    if len(xa) < 3 or len(xb) < 3:
        raise ValueError(f"need at least 3 values per group, got {len(xa)} and {len(xb)}")
    res = stats.mannwhitneyu(xb, xa, alternative="two-sided")
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(xa), (n_boot, len(xa)))
    ib = rng.integers(0, len(xb), (n_boot, len(xb)))
    ratios = np.median(xb[ib], axis=1) / np.median(xa[ia], axis=1)
    rs = np.array([_r(xa[i], xb[j]) for i, j in zip(ia[:500], ib[:500], strict=True)])
    frame = pd.DataFrame({"group": [labels[0]] * len(xa) + [labels[1]] * len(xb), "value": np.r_[xa, xb]})
    return Comparison(labels[0], labels[1], len(xa), len(xb), float(np.median(xa)), float(np.median(xb)),
                      float(np.median(xb) / np.median(xa)), tuple(np.percentile(ratios, [2.5, 97.5]).tolist()),
                      float(res.statistic), float(res.pvalue), _r(xa, xb),
                      tuple(np.percentile(rs, [2.5, 97.5]).tolist()), frame)


def _select(exams: pd.DataFrame, protocol: str | None, group: dict[str, Any]) -> pd.DataFrame:
    bad = set(group) - {"room", "start", "end", "label"}
    if bad:
        raise ValueError(f"unknown group key(s) {sorted(bad)}; allowed: label, room, start, end")
    sel = exams if protocol is None else exams[exams["protocol"] == protocol]
    if group.get("room"):
        sel = sel[sel["room"] == group["room"]]
    if group.get("start"):
        sel = sel[sel["study_datetime"] >= pd.Timestamp(group["start"])]
    if group.get("end"):
        sel = sel[sel["study_datetime"] < pd.Timestamp(group["end"])]
    return sel


def _label(group: dict[str, Any]) -> str:
    if group.get("label"):
        return str(group["label"])
    span = f"{group.get('start') or '…'} to {group.get('end') or '…'}"
    return f"{group.get('room') or 'all rooms'}, {span}"


def compare_exams(exams: pd.DataFrame, metric: str, *, protocol: str | None, a: dict[str, Any], b: dict[str, Any],
                  n_boot: int = 2000) -> Comparison:
    """Compare ``metric`` of one protocol between two groups of exams (two rooms, or two periods).

    ``exams`` is :func:`dmslab.analysis.changes.exam_series`; ``a`` and ``b`` select exams by ``room``,
    ``start`` (inclusive) and ``end`` (exclusive) ISO dates, with an optional ``label``.
    """
    if metric not in exams.columns:
        numeric = [c for c in exams.columns if exams[c].dtype.kind == "f"]
        raise ValueError(f"unknown metric {metric!r}; allowed: {numeric}")
    ga, gb = _select(exams, protocol, a), _select(exams, protocol, b)
    return compare_groups(ga[metric], gb[metric], labels=(_label(a), _label(b)), n_boot=n_boot)
