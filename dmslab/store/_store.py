"""The store: write normalized reports idempotently, read tables as DataFrames.

SQLite file by default, PostgreSQL by URL. The store never parses DICOM: it receives
:class:`~dmslab.records.DoseReport` objects and rejection outcomes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.errors import (
    DatabaseMissingError,
    SchemaOutdatedError,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
)
from dmslab.records import DoseReport, MppsMessage, MppsRecord
from dmslab.store._concurrency import begin_write, is_busy
from dmslab.store._engine import (
    WHERE,
    create_private,
    engine_for,
    read_only_url,
    sqlite_path,
    sqlite_pragmas,
    sqlite_readonly_pragmas,
    unavailable,
)
from dmslab.store._migrate import known_revisions, migrate, schema_revisions
from dmslab.store._mpps import link_mpps, steps_in_progress, write_mpps
from dmslab.store._naming import name_studies
from dmslab.store._writer import BatchWriter, Rejection
from dmslab.store.schema import table

__all__ = ["Rejection", "Store", "WriteSummary"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteSummary:
    """Counts of one write: ingested / duplicate / rejected objects and new events.

    ``superseded`` counts objects whose events do not count because the study has a better dose source
    (see :mod:`dmslab.store._merge`): objects of this write refused, and objects stored before (or earlier
    in this write) that a better one replaced. ``lock_wait_s`` is the time (s) spent waiting for other
    writers (see :mod:`dmslab.store._concurrency`).
    """

    ingested: int = 0
    duplicate: int = 0
    rejected: int = 0
    new_events: int = 0
    flagged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    superseded: int = 0
    lock_wait_s: float = 0.0

    def add(self, other: WriteSummary) -> None:
        """Accumulate ``other`` into this summary."""
        self.ingested += other.ingested
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.new_events += other.new_events
        self.flagged += other.flagged
        self.superseded += other.superseded
        self.lock_wait_s += other.lock_wait_s
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


class Store:
    """A dmslab database.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``sqlite:///dmslab.sqlite`` or ``postgresql+psycopg://user@host/db``.
    migrate_schema
        Check the schema on open (default): create the newest schema on an empty database; a database at
        another revision raises :class:`~dmslab.errors.SchemaOutdatedError` ("run dmslab migrate"): nothing
        but ``dmslab init`` and ``dmslab migrate`` (:meth:`migrate`) upgrades a schema. ``False``: no check.
    lock_timeout_s
        How long (s) a write waits for other writers (SQLite ``busy_timeout``, PostgreSQL ``lock_timeout``)
        before it fails with :class:`~dmslab.errors.StoreBusyError`; waits longer than a second are logged.
    create
        Create the database when it does not exist (default). ``False`` (readers such as ``dmslab audit``):
        raise :class:`~dmslab.errors.DatabaseMissingError` instead of creating an empty one.
    read_only
        Open for reading only (reports, dashboards, ``dmslab audit``): nothing is created or migrated, a SQLite
        file is opened with ``mode=ro``, a PostgreSQL session has read-only transactions, and :meth:`write`
        raises :class:`~dmslab.errors.StoreReadOnlyError`. A schema other than this dmslab's raises
        :class:`~dmslab.errors.SchemaOutdatedError` ("run dmslab migrate").

    Raises
    ------
    DatabaseUrlError
        The URL is malformed, names an unknown database or a driver that is not installed.
    DatabaseUnavailableError
        The server cannot be reached or refuses the connection (when the schema is checked on open).
    DatabaseMissingError
        ``create=False`` (or ``read_only``) and there is no dmslab database at the URL.
    SchemaOutdatedError
        The database is at another schema revision than this dmslab's (with ``migrate_schema`` or ``read_only``).

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> store.counts()["study"]
    0
    """

    def __init__(self, url: str, *, migrate_schema: bool = True, create: bool = True,
                 lock_timeout_s: float = 60.0, read_only: bool = False) -> None:
        if not lock_timeout_s > 0:
            raise ValueError(f"lock_timeout_s must be > 0 s, got {lock_timeout_s!r}")
        self.url = url
        self.read_only = read_only
        self.lock_timeout_s = float(lock_timeout_s)
        self.engine = self._open(url, create=create, read_only=read_only)
        try:
            if read_only:
                self._require_schema(current=True)
            else:
                if not create:
                    self._require_schema()
                if migrate_schema:
                    self._create_or_check_schema()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            self.engine.dispose()
            raise unavailable(self.engine, exc) from exc
        self._equipment_ids: dict[tuple[str | None, ...], int] = {}

    def _open(self, url: str, *, create: bool, read_only: bool) -> sa.Engine:
        """The engine, after the checks that need no connection (a missing SQLite file, a private new one)."""
        engine = engine_for(url)
        self._shown = engine.url.render_as_string(hide_password=True)
        path = sqlite_path(engine)
        if path is not None:
            if (read_only or not create) and not path.exists():
                raise DatabaseMissingError(f"no dmslab database at {path}: run `dmslab init` first "
                                           f"(or point to the database: {WHERE})")
            if not read_only:
                create_private(path)
        if read_only:
            engine.dispose()
            ro_url, kwargs = read_only_url(url)
            engine = engine_for(ro_url, **kwargs)
        if engine.dialect.name == "sqlite":
            pragmas = sqlite_readonly_pragmas if read_only else sqlite_pragmas
            sa.event.listen(engine, "connect",
                            functools.partial(pragmas, busy_timeout_ms=int(self.lock_timeout_s * 1000)))
        return engine

    def _require_schema(self, *, current: bool = False) -> None:
        """There are dmslab tables (and, with ``current``, at this dmslab's schema revision)."""
        url = self.describe()
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                raise DatabaseMissingError(f"the database {url} has no dmslab tables: run `dmslab init` first")
            if not current:
                return
            at, heads = schema_revisions(conn)
        self._refuse_other_schema(at, heads)

    def _refuse_other_schema(self, at: set[str], heads: set[str]) -> None:
        if at != heads:
            known = at <= known_revisions()
            raise SchemaOutdatedError(
                f"the database {self.describe()} is at schema revision {', '.join(sorted(at)) or 'none'}, this "
                f"dmslab needs {', '.join(sorted(heads))}: "
                + ("run `dmslab migrate` (as the service account) to upgrade it" if known else
                   "it was written by a newer dmslab; use that version or restore a backup"))

    def _create_or_check_schema(self) -> None:
        """Create the head schema on an empty database (what ``dmslab init`` does); refuse one at another
        revision (:class:`~dmslab.errors.SchemaOutdatedError`): only ``dmslab init`` / ``dmslab migrate``
        (:meth:`migrate`) upgrade a database."""
        with self.engine.connect() as conn:
            at, heads = schema_revisions(conn)
        if not at:
            migrate(self.engine)
            return
        self._refuse_other_schema(at, heads)

    def migrate(self) -> tuple[set[str], set[str]]:
        """Bring the schema to this dmslab's head revision(s); the revisions before and after.

        Raises
        ------
        StoreReadOnlyError
            The store is open read-only.
        StoreError
            The database refused a migration step (the error is chained).
        """
        if self.read_only:
            raise StoreReadOnlyError(f"the store {self.describe()} is open read-only: it cannot be migrated")
        try:
            with self.engine.connect() as conn:
                before, heads = schema_revisions(conn)
            if before != heads:
                migrate(self.engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise unavailable(self.engine, exc) from exc
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"migrating {self.describe()} failed: {str(exc.orig).splitlines()[0]}") from exc
        return before, heads

    def describe(self) -> str:
        """The database for people to read: its URL with the password hidden."""
        return self._shown

    def __repr__(self) -> str:
        return f"Store({self._shown!r}{', read_only=True' if self.read_only else ''})"

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # ---- writing ------------------------------------------------------------------------------------
    def write(self, items: Iterable[DoseReport | Rejection]) -> WriteSummary:
        """Write reports and rejections in one transaction; idempotent on SOP Instance UID + SHA-256 and event UID.

        Per study (Study Instance UID and modality) only the best dose source counts: RDSR > dose screen >
        image headers (see :mod:`dmslab.store._merge`); the others are kept as ``superseded`` source objects.
        Every study written gets its standard name from the stored naming rules in the same transaction
        (:func:`dmslab.naming_rules.classify_study`).
        Other writers may write at the same time (see :mod:`dmslab.store._concurrency`).

        Raises
        ------
        StoreBusyError
            Another writer held the lock longer than ``lock_timeout_s``; nothing was written.
        StoreError
            The database refused the batch (the transaction was rolled back; the error is chained).
        """
        if self.read_only:
            raise StoreReadOnlyError(f"the store {self.describe()} is open read-only (reports, dashboards and "
                                     "audits never write): open it with Store(url) to write")
        batch = list(items)
        try:
            with self.engine.begin() as conn:
                waited = begin_write(conn, self.lock_timeout_s)
                writer = BatchWriter(conn, self._equipment_ids)
                writer.write(batch)
                name_studies(conn, writer.study_ids)  # standard names are set at ingest
        except sa.exc.DBAPIError as exc:
            self._equipment_ids.clear()  # ids created in the rolled-back transaction are gone
            if is_busy(exc):
                raise StoreBusyError(f"the database stayed locked by another writer for more than "
                                     f"{self.lock_timeout_s:g} s; nothing of {len(batch)} object(s) was written "
                                     f"(they stay where they are; ingest them again later)") from exc
            if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and exc.connection_invalidated:
                raise  # the database went away: not the batch's fault
            raise StoreError(f"writing {len(batch)} object(s) failed: {type(exc.orig).__name__}: "
                             f"{str(exc.orig).splitlines()[0] if str(exc.orig) else ''}") from exc
        except Exception as exc:  # whatever the batch held that could not be written: the caller retries alone
            self._equipment_ids.clear()
            raise StoreError(f"writing {len(batch)} object(s) failed: {type(exc).__name__}: {exc}") from exc
        c = writer.counts
        return WriteSummary(c["ingested"], c["duplicate"], c["rejected"], c["new_events"], c["flagged"],
                            dict(c["reasons"]), superseded=c["superseded"], lock_wait_s=waited + writer.lock_wait_s)

    def write_mpps(self, message: MppsMessage) -> MppsRecord:
        """Apply one MPPS N-CREATE or N-SET (see :func:`dmslab.store._mpps.write_mpps`); return the stored step."""
        self._writable()
        return write_mpps(self.engine, message, lock_timeout_s=self.lock_timeout_s)

    def link_mpps(self) -> int:
        """Link MPPS steps to their studies that have arrived since; return how many were linked."""
        self._writable()
        return link_mpps(self.engine, lock_timeout_s=self.lock_timeout_s)

    def mpps_in_progress(self) -> list[str]:
        """SOP Instance UIDs of the MPPS steps still IN PROGRESS."""
        return steps_in_progress(self.engine)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreReadOnlyError(f"the store {self.describe()} is open read-only (reports, dashboards and "
                                     "audits never write): open it with Store(url) to write")

    def refresh_columnar(self) -> int:
        """Re-pack the chunks of the columnar copy that writes changed (see :mod:`dmslab.store._columnar`);
        returns how many. Readers are right without it (they read changed chunks from the row tables), only
        slower. A store without the copy (pyarrow missing) does nothing. ``dmslab ingest`` calls it at the end
        of each run.

        Raises
        ------
        StoreReadOnlyError
            The store is open read-only.
        StoreBusyError
            Another writer held the lock longer than ``lock_timeout_s``.
        StoreError
            The database refused the refresh (rolled back; the copy stays as it was, still read correctly).
        """
        from dmslab.store import _columnar

        self._writable()
        if not _columnar.available(self):
            return 0
        try:
            with self.engine.begin() as conn:
                begin_write(conn, self.lock_timeout_s)
                return _columnar.refresh(conn)
        except sa.exc.DBAPIError as exc:
            if is_busy(exc):
                raise StoreBusyError(f"the database stayed locked by another writer for more than "
                                     f"{self.lock_timeout_s:g} s; the columnar copy was not refreshed") from exc
            raise StoreError(f"refreshing the columnar copy failed: {type(exc.orig).__name__}") from exc

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
