"""The text of an alert: which rule, value against level, patient size, and signs of a documentation error."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dmslab.analysis._alert_rules import E_COLUMN, PSD_COLUMN, AlertRule

__all__ = ["documentation_signs", "explain"]

#: Body-mass index (kg/m²) outside this range in an adult is more likely a wrong size than a real patient.
_BMI_RANGE = (12.0, 70.0)
#: A weight differing by more than this fraction from the same patient's other studies is suspicious.
_WEIGHT_CHANGE = 0.25
#: A value more than this many times its room × protocol median suggests a unit, protocol or patient mix-up.
_MEDIAN_RATIO = 5.0


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _size(study: pd.Series) -> str:
    w, h = _num(study.get("weight_kg")), _num(study.get("height_m"))
    age = _num(study.get("age_years"))
    parts = [f"{w:g} kg" if w else None, f"{h:.2f} m" if h else None]
    text = ", ".join(p for p in parts if p) or "patient size not recorded"
    if w and h:
        text += f" (BMI {w / h**2:.1f} kg/m2)"
    return f"patient: {text}" + (f", age {age:.0f} a" if age is not None else "")


def documentation_signs(study: pd.Series, metric: str, studies: pd.DataFrame) -> list[str]:
    """Reasons to suspect the record rather than the exposure (empty list: none found).

    Checks: implausible adult size (BMI outside 12–70 kg/m²), a weight more than 25 % off the same
    patient's other studies, a possible duplicate (same patient, modality and day with the same value
    within 1 %), a value more than 5 × the median of its room and protocol, and plausibility flags.
    """
    signs = []
    w, h, age = _num(study.get("weight_kg")), _num(study.get("height_m")), _num(study.get("age_years"))
    if w and h and (age is None or age >= 16) and not _BMI_RANGE[0] <= w / h**2 <= _BMI_RANGE[1]:
        signs.append(f"implausible size for an adult (BMI {w / h**2:.0f} kg/m2): wrong weight or height entered?")
    same_patient = studies[(studies["patient_id"] == study["patient_id"]) & (studies["study_id"] != study["study_id"])]
    if w and pd.notna(study["patient_id"]):
        other = same_patient["weight_kg"].dropna()
        if len(other) and abs(w / other.median() - 1) > _WEIGHT_CHANGE:
            signs.append(f"weight {w:g} kg differs from {other.median():g} kg in this patient's other studies")
    value = _num(study.get(metric))
    if value and pd.notna(study["patient_id"]):
        day = same_patient[(same_patient["modality"] == study["modality"])
                           & (same_patient["study_datetime"].dt.date == study["study_datetime"].date())]
        dup = day[(day[metric] - value).abs() <= 0.01 * value]
        signs += [f"possible duplicate of study {u} (same patient, day and {metric})" for u in dup["study_uid"]]
    peers = studies[(studies["room"] == study["room"]) & (studies["study_description"] == study["study_description"])
                    & (studies["modality"] == study["modality"])][metric].dropna()
    if value and len(peers) >= 5 and value > _MEDIAN_RATIO * peers.median() > 0:
        signs.append(f"value is {value / peers.median():.1f} x the median of {len(peers)} exams of this protocol in "
                     "this room: check units, protocol and patient")
    if isinstance(study.get("flags"), str) and study["flags"]:
        signs.append(f"data flags: {study['flags']}")
    return signs


def explain(rule: AlertRule, alert: Any, studies: pd.DataFrame) -> str:
    """Multi-line explanation of one alert row (an ``itertuples`` row of ``evaluate_rules``)."""
    study = studies.loc[studies["study_id"] == alert.study_id].iloc[0]
    when = f"{alert.study_datetime:%Y-%m-%d %H:%M}" if pd.notna(alert.study_datetime) else "unknown date"
    what = "cumulative " if rule.kind == "cumulative" else ""
    lines = [f"{what}{alert.metric} = {alert.value:.4g} {alert.unit} > level {alert.level:.4g} {alert.unit} "
             f"({alert.value / alert.level:.2f} x) in {alert.room or 'unknown room'}, {alert.protocol or '-'}, {when}",
             f"rule {rule.describe()}" + (f" — {rule.description}" if rule.description else ""),
             _size(study)]
    if rule.metric == PSD_COLUMN:
        lines.append("note: peak skin dose is an estimate for the most exposed skin area; check the skin there "
                     "and follow the local skin follow-up procedure")
    if rule.metric == E_COLUMN:
        from dmslab.analysis.cumulative import DEFAULT_E_METHOD

        lines.append(f"note: effective dose ({DEFAULT_E_METHOD}, ICRP 60 k-factors x DLP) is a reference-person "
                     "estimate, not this patient's dose; summed for this patient only, with that one method")
    if rule.kind == "drl":
        lines.append("note: a DRL applies to the median of a group of patients, not to one patient; "
                     "this alert asks for a review of the exam")
    signs = documentation_signs(study, rule.metric, studies)
    lines.append("possible documentation error: " + "; ".join(signs) if signs
                 else "no sign of a documentation error (size plausible, no duplicate)")
    return "\n".join(lines)
