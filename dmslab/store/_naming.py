"""Standard names in the store: the site's rules (``naming_rule``), the features of stored studies, and
``study.standard_name`` set by :func:`dmslab.naming_rules.classify_study` — on every study a write touches
(names are applied at ingest) and on all studies by ``dmslab names apply``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from dmslab.naming_rules import NamingRule, StudyFeatures, classify_study, seed_rules, study_features_of
from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["NamedStudy", "name_studies", "naming_rules", "replace_naming_rules", "set_standard_names",
           "stored_study_features", "unmapped_local_names"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class NamedStudy:
    """A stored study: its id, the standard name it has now, and the features the rules look at."""

    study_id: int
    standard_name: str | None
    features: StudyFeatures


def _rules(conn: sa.Connection) -> tuple[NamingRule, ...]:
    nr = table("naming_rule")
    rows = conn.execute(sa.select(nr).order_by(nr.c.priority, nr.c.id)).mappings().all()
    return tuple(NamingRule.from_row(dict(r)) for r in rows) if rows else seed_rules()


def naming_rules(store: Store) -> tuple[NamingRule, ...]:
    """The site's rules from the ``naming_rule`` table (by priority, then id), else (table empty) the seed rules."""
    with store.engine.connect() as conn:
        return _rules(conn)


def replace_naming_rules(store: Store, rules: Sequence[NamingRule], *, replace: bool = True) -> None:
    """Store ``rules`` in ``naming_rule`` in one transaction; ``replace`` deletes the current rules first."""
    nr = table("naming_rule")
    with store.engine.begin() as conn:
        if replace:
            conn.execute(nr.delete())
        if rules:
            conn.execute(nr.insert(), [asdict(r) for r in rules])


def _chunks(ids: Sequence[int] | None) -> Iterable[Sequence[int] | None]:
    if ids is None:
        yield None
        return
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _features(conn: sa.Connection, study_ids: Sequence[int] | None) -> list[NamedStudy]:
    st, ct, pj = table("study"), table("ct_event"), table("proj_event")
    studies: list[Any] = []
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ids in _chunks(study_ids):
        q_st = sa.select(st.c.id, st.c.modality, st.c.study_description, st.c.requested_procedure,
                         st.c.procedure_code, st.c.standard_name)
        q_ct = sa.select(ct.c.study_id, ct.c.acquisition_protocol, ct.c.target_region, ct.c.phantom_cm)
        q_pj = sa.select(pj.c.study_id, pj.c.acquisition_protocol, pj.c.target_region, pj.c.view)
        if ids is not None:
            q_st, q_ct, q_pj = (q_st.where(st.c.id.in_(ids)), q_ct.where(ct.c.study_id.in_(ids)),
                                q_pj.where(pj.c.study_id.in_(ids)))
        studies.extend(conn.execute(q_st.order_by(st.c.id)).mappings())
        for q in (q_ct, q_pj):
            for row in conn.execute(q).mappings():
                events[row["study_id"]].append(dict(row))
    return [NamedStudy(int(s["id"]), s["standard_name"], study_features_of(s["modality"], s, events.get(s["id"], ())))
            for s in studies]


def stored_study_features(store: Store, *, study_ids: Sequence[int] | None = None) -> list[NamedStudy]:
    """Every stored study (or those of ``study_ids``), by id, with its current standard name and its features."""
    with store.engine.connect() as conn:
        return _features(conn, list(study_ids) if study_ids is not None else None)


def _update(conn: sa.Connection, changes: Sequence[tuple[int, str | None]]) -> None:
    if changes:
        st = table("study")
        stmt = st.update().where(st.c.id == sa.bindparam("sid")).values(standard_name=sa.bindparam("name"))
        conn.execute(stmt, [{"sid": int(i), "name": n} for i, n in changes])


def set_standard_names(store: Store, changes: Sequence[tuple[int, str | None]]) -> None:
    """Set ``study.standard_name`` of each ``(study id, name)`` (``None``: back to no name), in one transaction."""
    with store.engine.begin() as conn:
        _update(conn, changes)


def name_studies(conn: sa.Connection, study_ids: Iterable[int]) -> int:
    """Classify the studies ``study_ids`` with the rules stored in the same transaction ``conn`` and write the
    names that changed (how a write applies standard names at ingest); the number changed."""
    ids = sorted(set(study_ids))
    if not ids:
        return 0
    rules = sorted(_rules(conn), key=lambda r: r.priority)
    changes = [(s.study_id, name) for s in _features(conn, ids)
               if (name := classify_study(s.features, rules)) != s.standard_name]
    _update(conn, changes)
    return len(changes)


def unmapped_local_names(store: Store) -> pd.DataFrame:
    """Local names (study description, else requested procedure, else ``""``) of studies without a standard name:
    ``modality, local_name, n_studies``, one row per modality and name (unordered)."""
    st = table("study")
    local = sa.func.coalesce(st.c.study_description, st.c.requested_procedure, sa.literal("")).label("local_name")
    return store.read(sa.select(st.c.modality, local, sa.func.count().label("n_studies"))
                      .where(st.c.standard_name.is_(None)).group_by(st.c.modality, "local_name"))
