"""The site's diagnostic reference levels (``local_drl`` table): read them, enter or replace one.

The analysis layer (:mod:`dmslab.analysis.drl`) validates a level (:class:`~dmslab.analysis.drl.LocalDrl`) and
hands its fields here as a plain mapping; this module holds the SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.errors import StoreReadOnlyError
from dmslab.store._store import Store
from dmslab.store.schema import table

__all__ = ["local_drl_rows", "replace_local_drl"]

#: The columns that identify a site DRL: a new level with the same values replaces the old one.
_KEY = ("standard_name", "metric", "patient_group", "valid_from")


def local_drl_rows(store: Store) -> pd.DataFrame:
    """Every row of ``local_drl`` (columns of ``data_contracts/local_drl.toml``)."""
    return store.read(sa.select(table("local_drl")))


def replace_local_drl(store: Store, row: Mapping[str, Any]) -> None:
    """Insert ``row`` into ``local_drl``, first deleting the row with the same standard name, metric, patient
    group and ``valid_from`` (one transaction).

    Raises
    ------
    StoreReadOnlyError
        When ``store`` was opened read-only.
    KeyError
        When ``row`` lacks one of the key columns.
    """
    if store.read_only:
        raise StoreReadOnlyError(f"the store {store.describe()} is open read-only: open it with Store(url) to "
                                 "enter a local DRL")
    t = table("local_drl")
    same = [t.c[k] == row[k] for k in _KEY]
    with store.engine.begin() as conn:
        conn.execute(t.delete().where(*same))
        conn.execute(t.insert(), [dict(row)])
