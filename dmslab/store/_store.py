"""The store: write normalized reports idempotently, read tables as DataFrames.

SQLite file by default, PostgreSQL by URL. The store never parses DICOM: it receives
:class:`~dmslab.records.DoseReport` objects and rejection outcomes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.records import DoseReport
from dmslab.store._migrate import migrate
from dmslab.store._writer import BatchWriter, Rejection
from dmslab.store.schema import table

__all__ = ["Rejection", "Store", "WriteSummary"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteSummary:
    """Counts of one write: ingested / duplicate / rejected objects and new events.

    ``superseded`` counts objects whose events do not count because the study has a better dose source
    (see :mod:`dmslab.store._merge`): objects of this write refused, and objects stored before (or earlier
    in this write) that a better one replaced.
    """

    ingested: int = 0
    duplicate: int = 0
    rejected: int = 0
    new_events: int = 0
    flagged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    superseded: int = 0

    def add(self, other: WriteSummary) -> None:
        """Accumulate ``other`` into this summary."""
        self.ingested += other.ingested
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.new_events += other.new_events
        self.flagged += other.flagged
        self.superseded += other.superseded
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Store:
    """A dmslab database.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``sqlite:///dmslab.sqlite`` or ``postgresql+psycopg://user@host/db``.
    migrate_schema
        Bring the schema to the newest revision on open (default).

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> store.counts()["study"]
    0
    """

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate_schema:
            migrate(self.engine)
        self._equipment_ids: dict[tuple[str | None, ...], int] = {}

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # ---- writing ------------------------------------------------------------------------------------
    def write(self, items: Iterable[DoseReport | Rejection]) -> WriteSummary:
        """Write reports and rejections in one transaction; idempotent on SOP Instance UID and event UID.

        Per study (Study Instance UID and modality) only the best dose source counts: RDSR > dose screen >
        image headers (see :mod:`dmslab.store._merge`); the others are kept as ``superseded`` source objects.
        """
        batch = list(items)
        try:
            with self.engine.begin() as conn:
                writer = BatchWriter(conn, self._equipment_ids)
                writer.write(batch)
        except Exception:
            self._equipment_ids.clear()  # ids created in the rolled-back transaction are gone
            raise
        c = writer.counts
        return WriteSummary(c["ingested"], c["duplicate"], c["rejected"], c["new_events"], c["flagged"],
                            dict(c["reasons"]), superseded=c["superseded"])

    # ---- reading ------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.engine.connect() as conn:
            return {name: int(conn.execute(sa.select(sa.func.count()).select_from(table(name))).scalar_one())
                    for name in ("equipment", "patient", "study", "ct_event", "proj_event", "proj_plane", "nm_event",
                                 "source_object")}

    def read(self, query: sa.Select[Any] | str, **params: Any) -> pd.DataFrame:
        """Run a SELECT (SQLAlchemy Core or text) and return a DataFrame."""
        stmt = sa.text(query) if isinstance(query, str) else query
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn, params=params or None)

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame."""
        return self.read(sa.select(table(name)))
