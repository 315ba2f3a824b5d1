"""Standard exam names: rule-based classification of studies from several fields at once.

A :class:`NamingRule` holds case-insensitive regular expressions for any of the fields that carry the
identity of an exam (study description, requested procedure, procedure code, and per event the acquisition
protocol, target region, view and CTDI phantom). A rule matches a study when *every* field it sets matches;
the matching rule with the lowest ``priority`` wins. Standard names carry a RadLex Playbook RPID where one
exists (``dmslab/data/radlex.csv``).

The site's rule set lives in the ``naming_rule`` table; while that table is empty the seed rules shipped in
``dmslab/data/naming_rules.csv`` apply. Rules import from and export to CSV in the same columns, so sites can
share them. :func:`apply_names` re-classifies *every* study, so a rule change also updates old studies.

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
import sqlalchemy as sa

from dmslab.store import Store, table

__all__ = ["NamingRule", "NamingSummary", "apply_names", "classify", "export_rules", "import_rules", "load_rules",
           "seed_rules", "standard_names", "study_features", "unmapped"]

logger = logging.getLogger(__name__)

_MODALITIES = ("CT", "DX", "MG", "RF", "NM")
#: Rule fields holding regular expressions, and the study-feature column each is searched in.
_PATTERN_FIELDS = {"text": "text", "study_description": "study_description",
                   "requested_procedure": "requested_procedure", "procedure_code": "procedure_code",
                   "acquisition_protocol": "acquisition_protocols", "target_region": "target_regions",
                   "view": "views"}
_SEP = "\n"


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
        if self.modality not in _MODALITIES:
            raise ValueError(f"modality {self.modality!r} not in {_MODALITIES}")
        if not self.standard_name or not self.standard_name.strip():
            raise ValueError("standard_name must not be empty")
        if self.phantom_cm not in (None, 16, 32):
            raise ValueError(f"phantom_cm {self.phantom_cm!r} must be 16, 32 or empty")
        for name in _PATTERN_FIELDS:
            pattern = getattr(self, name)
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name} pattern {pattern!r} of rule {self.standard_name!r}: {exc}") from exc

    @classmethod
    def from_row(cls, row: dict[str, object]) -> NamingRule:
        """Build from a CSV/table row (empty strings and NaN become ``None``)."""
        def clean(v: object) -> object:
            return None if v is None or (isinstance(v, float) and v != v) or v == "" else v
        kw = {f.name: clean(row.get(f.name)) for f in fields(cls)}
        kw["priority"] = int(str(kw["priority"])) if kw["priority"] is not None else 100
        if kw["phantom_cm"] is not None:
            kw["phantom_cm"] = int(float(str(kw["phantom_cm"])))
        return cls(**{k: (str(v) if isinstance(v, str) else v) for k, v in kw.items()})  # type: ignore[arg-type]


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
def seed_rules() -> tuple[NamingRule, ...]:
    """The seed rules shipped with dmslab (``dmslab/data/naming_rules.csv``) for common CT, DX, MG, RF exams."""
    return tuple(NamingRule.from_row(r) for r in _csv("naming_rules.csv").to_dict("records"))


@cache
def standard_names() -> pd.DataFrame:
    """Standard names with modality, RadLex Playbook RPID (empty when none is sourced) and provenance."""
    return _csv("radlex.csv")


def load_rules(store: Store) -> tuple[NamingRule, ...]:
    """The site's rules from the ``naming_rule`` table, else (table empty) :func:`seed_rules`."""
    df = store.table("naming_rule")
    if df.empty:
        return seed_rules()
    return tuple(NamingRule.from_row(r) for r in df.sort_values(["priority", "id"]).to_dict("records"))


def import_rules(store: Store, path: str | os.PathLike[str], *, replace: bool = True) -> int:
    """Load rules from a CSV file (columns of ``naming_rule``) into the store; returns the number of rules.

    Every row is validated first; nothing is written when one is invalid. ``replace`` deletes the current
    rules in the same transaction.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "standard_name" not in df.columns or "modality" not in df.columns:
        raise ValueError(f"{path}: a rules CSV needs at least the columns modality and standard_name")
    rules = [NamingRule.from_row(r) for r in df.to_dict("records")]
    nr = table("naming_rule")
    with store.engine.begin() as conn:
        if replace:
            conn.execute(nr.delete())
        if rules:
            conn.execute(nr.insert(), [asdict(r) for r in rules])
    logger.info("imported %d naming rules from %s", len(rules), path)
    return len(rules)


def export_rules(store: Store, path: str | os.PathLike[str]) -> int:
    """Write the active rules (site rules, else the seed rules) to a CSV file; returns the number written."""
    rules = load_rules(store)
    cols = [f.name for f in fields(NamingRule)]
    pd.DataFrame([asdict(r) for r in rules], columns=cols).to_csv(path, index=False)
    return len(rules)


def _joined(s: pd.Series) -> str:
    return _SEP.join(sorted({str(v) for v in s.dropna()}))


def study_features(store: Store, *, study_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per study with the fields the rules look at (event fields joined by newlines).

    Columns: ``study_id, modality, study_description, requested_procedure, procedure_code, standard_name,
    acquisition_protocols, target_regions, views, phantoms, text``.
    """
    st, ct, pj = table("study"), table("ct_event"), table("proj_event")
    q = sa.select(st.c.id.label("study_id"), st.c.modality, st.c.study_description, st.c.requested_procedure,
                  st.c.procedure_code, st.c.standard_name)
    if study_ids is not None:
        q = q.where(st.c.id.in_(study_ids))
    studies = store.read(q)
    ev = pd.concat([
        store.read(sa.select(ct.c.study_id, ct.c.acquisition_protocol, ct.c.target_region,
                             sa.literal(None, sa.Text).label("view"), ct.c.phantom_cm)),
        store.read(sa.select(pj.c.study_id, pj.c.acquisition_protocol, pj.c.target_region, pj.c.view,
                             sa.literal(None, sa.Integer).label("phantom_cm"))),
    ], ignore_index=True)
    ev = ev[ev["study_id"].isin(studies["study_id"])]
    agg = ev.groupby("study_id").agg(acquisition_protocols=("acquisition_protocol", _joined),
                                     target_regions=("target_region", _joined), views=("view", _joined),
                                     phantoms=("phantom_cm", lambda s: _joined(s.astype("Int64"))))
    out = studies.merge(agg, how="left", left_on="study_id", right_index=True)
    for c in ("study_description", "requested_procedure", "procedure_code", "acquisition_protocols",
              "target_regions", "views", "phantoms"):
        out[c] = out[c].fillna("").astype(str)
    out["text"] = out["study_description"] + _SEP + out["requested_procedure"] + _SEP + out["acquisition_protocols"]
    return out


def _non_capturing(pattern: str) -> str:
    """``pattern`` with its capturing groups made non-capturing (pandas warns about groups in ``contains``)."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


def classify(features: pd.DataFrame, rules: tuple[NamingRule, ...] | list[NamingRule]) -> pd.Series:
    """The standard name of each row of :func:`study_features` (``None`` when no rule matches)."""
    result = pd.Series([None] * len(features), index=features.index, dtype=object)
    todo = pd.Series(True, index=features.index)
    for rule in sorted(rules, key=lambda r: r.priority):  # stable: ties keep table order
        mask = todo & (features["modality"] == rule.modality)
        for name, column in _PATTERN_FIELDS.items():
            pattern = getattr(rule, name)
            if pattern and mask.any():
                mask &= features[column].str.contains(_non_capturing(pattern), case=False, regex=True, na=False)
        if rule.phantom_cm is not None and mask.any():
            mask &= features["phantoms"].str.split(_SEP).apply(lambda p, v=str(rule.phantom_cm): v in p)
        result[mask] = rule.standard_name
        todo &= ~mask
    return result


def apply_names(store: Store, rules: tuple[NamingRule, ...] | None = None) -> NamingSummary:
    """Classify every study and write ``study.standard_name`` where it changed (also back to null)."""
    feats = study_features(store)
    names = classify(feats, rules if rules is not None else load_rules(store))
    old = feats["standard_name"].astype(object).where(feats["standard_name"].notna(), None)
    changed = [(int(i), n) for i, n, o in zip(feats["study_id"], names, old, strict=True) if n != o]
    st = table("study")
    if changed:
        stmt = st.update().where(st.c.id == sa.bindparam("sid")).values(standard_name=sa.bindparam("name"))
        with store.engine.begin() as conn:
            conn.execute(stmt, [{"sid": i, "name": n} for i, n in changed])
    n_mapped = int(names.notna().sum())
    summary = NamingSummary(len(feats), n_mapped, len(changed), len(feats) - n_mapped)
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
    st = table("study")
    df = store.read(sa.select(st.c.modality, sa.func.coalesce(st.c.study_description, st.c.requested_procedure,
                                                              sa.literal("")).label("local_name"),
                              sa.func.count().label("n_studies"))
                    .where(st.c.standard_name.is_(None)).group_by(st.c.modality, "local_name"))
    cols = ["modality", "local_name", "n_studies", "suggestions", "best"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    sugg = [_suggest(str(name), str(mod), n_suggestions) for mod, name in zip(df["modality"], df["local_name"],
                                                                              strict=True)]
    df["suggestions"] = ["; ".join(f"{c} ({s:.2f})" for c, s in s_) for s_ in sugg]
    df["best"] = [s_[0][0] if s_ else None for s_ in sugg]
    return df.sort_values(["n_studies", "modality", "local_name"], ascending=[False, True, True])[cols] \
        .reset_index(drop=True)
