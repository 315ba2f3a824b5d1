"""Invariants every store must hold after any scenario (checked at the end of each store test)."""

from __future__ import annotations

import sqlalchemy as sa


def assert_store_invariants(url: str) -> None:
    """Every study row has at least one source object naming it (no study without the object that made it)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("study"):
                return
            orphans = conn.execute(sa.text(
                "select study_uid, modality from study s where not exists "
                "(select 1 from source_object o where o.study_id = s.id)")).all()
    finally:
        engine.dispose()
    assert not orphans, f"studies without a source object: {orphans}"
