"""Standard exam names: rule-based classification of studies from several fields at once.

A :class:`NamingRule` holds case-insensitive regular expressions for any of the fields that carry the
identity of an exam (study description, requested procedure, procedure code, and per event the acquisition
protocol, target region, view and CTDI phantom). A rule matches a study when *every* field it sets matches;
the matching rule with the lowest ``priority`` wins. Standard names carry a RadLex Playbook RPID where one
exists (``dmslab/data/radlex.csv``).

The site's rule set lives in the ``naming_rule`` table; while that table is empty the seed rules shipped in
``dmslab/data/naming_rules.csv`` apply. Rules import from and export to CSV in the same columns, so sites can
share them. The classifier is the pure :func:`dmslab.naming_rules.classify_study`: the store applies it to each
study it writes (names are set at ingest, whether or not any report ran), and :func:`apply_names`
re-classifies *every* study, so a rule change also updates old studies.

References
----------
ESR EuroSafe Imaging, "Dose management systems" (standard names from several DICOM fields); RSNA RadLex
Playbook (RPIDs, RadLex License 2.0).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources

import pandas as pd

from dmslab.naming_rules import FEATURE_SEPARATOR, NamingRule, StudyFeatures, classify_study, seed_rules
from dmslab.store import Store, naming_rules, replace_naming_rules, set_standard_names, stored_study_features
from dmslab.store import unmapped_local_names as _unmapped_local_names

__all__ = ["NamingRule", "NamingSummary", "apply_names", "classify", "export_rules", "import_rules", "load_rules",
           "seed_rules", "standard_names", "study_features", "unmapped"]

logger = logging.getLogger(__name__)

_SEP = FEATURE_SEPARATOR
_FEATURES = ("study_description", "requested_procedure", "procedure_code", "acquisition_protocols",
             "target_regions", "views", "phantoms")


@dataclass(slots=True)
class NamingSummary:
    """What :func:`apply_names` did: studies classified, changed, and left unmapped."""

    studies: int = 0
    mapped: int = 0
    changed: int = 0
    unmapped: int = 0


def _csv(name: str) -> pd.DataFrame:
    with resources.files("dmslab.data").joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@cache
def standard_names() -> pd.DataFrame:
    """Standard names with modality, RadLex Playbook RPID (empty when none is sourced) and provenance."""
    return _csv("radlex.csv")


def load_rules(store: Store) -> tuple[NamingRule, ...]:
    """The site's rules from the ``naming_rule`` table, else (table empty) :func:`seed_rules`."""
    return naming_rules(store)


def import_rules(store: Store, path: str | os.PathLike[str], *, replace: bool = True) -> int:
    """Load rules from a CSV file (columns of ``naming_rule``) into the store; returns the number of rules.

    Every row is validated first; nothing is written when one is invalid. ``replace`` deletes the current
    rules in the same transaction.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "standard_name" not in df.columns or "modality" not in df.columns:
        raise ValueError(f"{path}: a rules CSV needs at least the columns modality and standard_name")
    rules = [NamingRule.from_row(r) for r in df.to_dict("records")]
    replace_naming_rules(store, rules, replace=replace)
    logger.info("imported %d naming rules from %s", len(rules), path)
    return len(rules)


def export_rules(store: Store, path: str | os.PathLike[str]) -> int:
    """Write the active rules (site rules, else the seed rules) to a CSV file; returns the number written."""
    rules = load_rules(store)
    cols = [f.name for f in fields(NamingRule)]
    pd.DataFrame([asdict(r) for r in rules], columns=cols).to_csv(path, index=False)
    return len(rules)


def study_features(store: Store, *, study_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per study with the fields the rules look at (event fields joined by newlines).

    Columns: ``study_id, modality, study_description, requested_procedure, procedure_code, standard_name,
    acquisition_protocols, target_regions, views, phantoms, text``.
    """
    rows = [{"study_id": s.study_id, "modality": s.features.modality, "standard_name": s.standard_name,
             **{c: getattr(s.features, c) for c in _FEATURES}, "text": s.features.text}
            for s in stored_study_features(store, study_ids=study_ids)]
    cols = ["study_id", "modality", "study_description", "requested_procedure", "procedure_code", "standard_name",
            *_FEATURES[3:], "text"]
    return pd.DataFrame(rows, columns=cols)


def _row_features(row: pd.Series) -> StudyFeatures:
    def value(c: str) -> str:
        v = row.get(c)
        return "" if v is None or (isinstance(v, float) and v != v) else str(v)
    return StudyFeatures(str(row["modality"]), *(value(c) for c in _FEATURES))


def classify(features: pd.DataFrame, rules: tuple[NamingRule, ...] | list[NamingRule]) -> pd.Series:
    """The standard name of each row of :func:`study_features` (``None`` when no rule matches), by
    :func:`dmslab.naming_rules.classify_study` — the classifier the store applies at ingest."""
    ordered = sorted(rules, key=lambda r: r.priority)  # stable: ties keep table order
    names = [classify_study(_row_features(row), ordered) for _i, row in features.iterrows()]
    return pd.Series(names, index=features.index, dtype=object)


def apply_names(store: Store, rules: tuple[NamingRule, ...] | None = None) -> NamingSummary:
    """Classify every study and write ``study.standard_name`` where it changed (also back to null).

    Standard names are set at ingest; this re-applies the rules to every study after a rule change
    (``dmslab names apply``).
    """
    ordered = sorted(rules if rules is not None else load_rules(store), key=lambda r: r.priority)
    studies = stored_study_features(store)
    names = [classify_study(s.features, ordered) for s in studies]
    changed = [(s.study_id, n) for s, n in zip(studies, names, strict=True) if n != s.standard_name]
    set_standard_names(store, changed)
    n_mapped = sum(n is not None for n in names)
    summary = NamingSummary(len(studies), n_mapped, len(changed), len(studies) - n_mapped)
    logger.info("standard names: %d studies, %d mapped, %d changed", summary.studies, summary.mapped,
                summary.changed)
    return summary


def _tokens(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def _suggest(local: str, modality: str, n: int) -> list[tuple[str, float]]:
    names = standard_names()
    cands = names.loc[names["modality"] == modality, "standard_name"].tolist() or names["standard_name"].tolist()
    scored = []
    for cand in cands:
        a, b = _tokens(local), _tokens(cand)
        jaccard = len(a & b) / len(a | b) if a | b else 0.0
        ratio = difflib.SequenceMatcher(None, local.lower(), cand.lower()).ratio()
        scored.append((cand, round(0.6 * jaccard + 0.4 * ratio, 3)))
    return sorted(scored, key=lambda t: (-t[1], t[0]))[:n]


def unmapped(store: Store, *, n_suggestions: int = 3) -> pd.DataFrame:
    """Local names of studies without a standard name, most frequent first, with ranked suggestions.

    Returns
    -------
    DataFrame
        ``modality, local_name, n_studies, suggestions`` (``"name (score)"`` joined by ``"; "``, best first;
        the score in [0, 1] mixes word overlap and string similarity) and ``best`` (the top suggestion).
    """
    df = _unmapped_local_names(store)
    cols = ["modality", "local_name", "n_studies", "suggestions", "best"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    sugg = [_suggest(str(name), str(mod), n_suggestions) for mod, name in zip(df["modality"], df["local_name"],
                                                                              strict=True)]
    df["suggestions"] = ["; ".join(f"{c} ({s:.2f})" for c, s in s_) for s_ in sugg]
    df["best"] = [s_[0][0] if s_ else None for s_ in sugg]
    return df.sort_values(["n_studies", "modality", "local_name"], ascending=[False, True, True])[cols] \
        .reset_index(drop=True)
