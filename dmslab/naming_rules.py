"""Standard-name rules and the pure classifier that applies them to one study (no database, no pandas).

A :class:`NamingRule` holds case-insensitive regular expressions for any of the fields that carry the
identity of an exam; :func:`classify_study` gives the standard name of one :class:`StudyFeatures`. The store
calls it on every study it writes (standard names are set at ingest), :mod:`dmslab.analysis.naming`
re-applies it to every study after a rule change (``dmslab names apply``). It sits below both so that the
store never imports analysis.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

__all__ = ["FEATURE_SEPARATOR", "PATTERN_FIELDS", "NamingRule", "StudyFeatures", "classify_study", "seed_rules",
           "study_features_of"]

MODALITIES = ("CT", "DX", "MG", "RF", "NM")
#: Rule fields holding regular expressions, and the :class:`StudyFeatures` field each is searched in.
PATTERN_FIELDS = {"text": "text", "study_description": "study_description",
                  "requested_procedure": "requested_procedure", "procedure_code": "procedure_code",
                  "acquisition_protocol": "acquisition_protocols", "target_region": "target_regions",
                  "view": "views"}
#: Joins the values of the events of one study in one feature.
FEATURE_SEPARATOR = "\n"


@dataclass(frozen=True, slots=True)
class NamingRule:
    """One classification rule; empty pattern fields match anything.

    Parameters
    ----------
    priority
        Evaluation order: the matching rule with the lowest number wins.
    modality
        Study modality (CT, DX, MG, RF, NM).
    standard_name
        The standard name assigned.
    text, study_description, requested_procedure, procedure_code, acquisition_protocol, target_region, view
        Case-insensitive regular expressions (``re.search``); ``text`` is searched in the study description,
        the requested procedure and every acquisition protocol.
    phantom_cm
        CTDI phantom diameter (cm, 16 or 32) of any event.

    Raises
    ------
    ValueError
        For an unknown modality, an empty standard name, a phantom other than 16/32 or an invalid expression.
    """

    priority: int
    modality: str
    standard_name: str
    rpid: str | None = None
    text: str | None = None
    study_description: str | None = None
    requested_procedure: str | None = None
    procedure_code: str | None = None
    acquisition_protocol: str | None = None
    target_region: str | None = None
    view: str | None = None
    phantom_cm: int | None = None
    source: str | None = None
    edition: str | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality {self.modality!r} not in {MODALITIES}")
        if not self.standard_name or not self.standard_name.strip():
            raise ValueError("standard_name must not be empty")
        if self.phantom_cm not in (None, 16, 32):
            raise ValueError(f"phantom_cm {self.phantom_cm!r} must be 16, 32 or empty")
        for name in PATTERN_FIELDS:
            pattern = getattr(self, name)
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name} pattern {pattern!r} of rule {self.standard_name!r}: {exc}") from exc

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> NamingRule:
        """Build from a CSV/table row (empty strings and NaN become ``None``)."""
        def clean(v: object) -> object:
            return None if v is None or (isinstance(v, float) and v != v) or v == "" else v
        kw = {f.name: clean(row.get(f.name)) for f in fields(cls)}
        kw["priority"] = int(str(kw["priority"])) if kw["priority"] is not None else 100
        if kw["phantom_cm"] is not None:
            kw["phantom_cm"] = int(float(str(kw["phantom_cm"])))
        return cls(**{k: (str(v) if isinstance(v, str) else v) for k, v in kw.items()})  # type: ignore[arg-type]


@cache
def seed_rules() -> tuple[NamingRule, ...]:
    """The seed rules shipped with dmslab (``dmslab/data/naming_rules.csv``) for common CT, DX, MG, RF exams."""
    text = resources.files("dmslab.data").joinpath("naming_rules.csv").read_text(encoding="utf-8")
    return tuple(NamingRule.from_row(r) for r in csv.DictReader(io.StringIO(text, newline="")))


@dataclass(frozen=True, slots=True)
class StudyFeatures:
    """The fields of one study the rules look at; event fields are the distinct values of the study's events,
    sorted and joined by :data:`FEATURE_SEPARATOR` (``""`` when there are none)."""

    modality: str
    study_description: str = ""
    requested_procedure: str = ""
    procedure_code: str = ""
    acquisition_protocols: str = ""
    target_regions: str = ""
    views: str = ""
    phantoms: str = ""

    @property
    def text(self) -> str:
        """Study description, requested procedure and acquisition protocols, one per line."""
        return FEATURE_SEPARATOR.join((self.study_description, self.requested_procedure, self.acquisition_protocols))


def _joined(values: Iterable[object]) -> str:
    return FEATURE_SEPARATOR.join(sorted({str(v) for v in values if v is not None}))


def study_features_of(modality: str, study: Mapping[str, object], events: Iterable[Mapping[str, object]]
                      ) -> StudyFeatures:
    """The features of a study row (``study_description``, ``requested_procedure``, ``procedure_code``) and
    its event rows (``acquisition_protocol``, ``target_region``, ``view``, ``phantom_cm``; missing keys are
    ``None``)."""
    evs = list(events)

    def text(column: str) -> str:
        v = study.get(column)
        return "" if v is None else str(v)

    phantoms = (int(float(str(p))) for e in evs if (p := e.get("phantom_cm")) is not None and p == p)
    return StudyFeatures(modality, study_description=text("study_description"),
                         requested_procedure=text("requested_procedure"), procedure_code=text("procedure_code"),
                         acquisition_protocols=_joined(e.get("acquisition_protocol") for e in evs),
                         target_regions=_joined(e.get("target_region") for e in evs),
                         views=_joined(e.get("view") for e in evs), phantoms=_joined(phantoms))


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _matches(rule: NamingRule, f: StudyFeatures) -> bool:
    if rule.modality != f.modality:
        return False
    for name, feature in PATTERN_FIELDS.items():
        pattern = getattr(rule, name)
        if pattern and _compiled(pattern).search(getattr(f, feature)) is None:
            return False
    return rule.phantom_cm is None or str(rule.phantom_cm) in f.phantoms.split(FEATURE_SEPARATOR)


def classify_study(features: StudyFeatures, rules: Iterable[NamingRule]) -> str | None:
    """The standard name of one study: that of the matching rule with the lowest priority (ties: the first in
    ``rules``), ``None`` when no rule matches. Pure: the same features and rules give the same name.

    >>> classify_study(StudyFeatures("CT", "CT Sinus"), seed_rules())
    'CT Sinuses wo IV Contrast'
    """
    for rule in sorted(rules, key=lambda r: r.priority):
        if _matches(rule, features):
            return rule.standard_name
    return None
