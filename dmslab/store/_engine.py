"""Opening a database: engines with their SQLite pragmas, read-only URLs, masked passwords, private files, and
the errors that say what to set instead (what :class:`dmslab.store.Store` uses to open its engine)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from dmslab.errors import DatabaseMissingError, DatabaseUnavailableError, DatabaseUrlError

__all__ = ["MASK", "WHERE", "create_private", "engine_for", "masked", "read_only_url", "sqlite_path", "sqlite_pragmas",
           "sqlite_readonly_pragmas", "unavailable", "unmasked"]


def sqlite_pragmas(dbapi_conn: Any, _record: Any, *, busy_timeout_ms: int) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")  # first: the journal_mode switch may wait for it
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


#: Where a person sets the database URL, named in error messages.
WHERE = "--database-url, DMSLAB_DATABASE_URL or database_url in dmslab.toml"


def sqlite_readonly_pragmas(dbapi_conn: Any, _record: Any, *, busy_timeout_ms: int) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cur.execute("PRAGMA query_only=ON")  # a second guard beside mode=ro
    cur.close()


def read_only_url(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` opened so that nothing can be written: a SQLite file as a ``mode=ro`` URI, a PostgreSQL session
    whose transactions are read-only; the engine keyword arguments that go with it."""
    parsed = sa.engine.make_url(unmasked(url))
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            return f"sqlite:///file:{quote(str(Path(db).resolve()))}?mode=ro&uri=true", {}
        return url, {}
    if parsed.get_backend_name() == "postgresql":
        return url, {"connect_args": {"options": "-c default_transaction_read_only=on"}}
    return url, {}


def engine_for(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``; an unusable URL raises :class:`DatabaseUrlError` saying what to write instead."""
    if url.split(":", 1)[0] in ("postgres", "postgresql+psycopg2"):
        raise DatabaseUrlError(f"database URL scheme {url.split(':', 1)[0]}:// is not supported: write "
                               f"postgresql+psycopg://user@host/database ({WHERE})")
    try:
        return sa.create_engine(unmasked(url), future=True, **kwargs)
    except sa.exc.NoSuchModuleError as exc:
        raise DatabaseUrlError(f"unknown database in URL {masked(url)}: use sqlite:///PATH or "
                               f"postgresql+psycopg://user@host/database ({WHERE})") from exc
    except sa.exc.ArgumentError as exc:
        raise DatabaseUrlError("the database URL cannot be parsed (not shown: it may hold a password): write "
                               f"sqlite:///PATH or postgresql+psycopg://user@host/database ({WHERE})") from exc
    except ImportError as exc:
        raise DatabaseUrlError(f"the database driver {exc.name} for {masked(url)} is not installed: for PostgreSQL "
                               "write postgresql+psycopg://user@host/database and install dmslab's 'postgres' "
                               "extra (pip install 'dmslab[postgres]')") from exc


#: The password of a URL rendered with ``hide_password=True``.
MASK = "***"


def unmasked(url: str) -> str:
    """``url`` with a masked password (``***``, as papermill parameters carry it: executed report notebooks are
    read by people) replaced by the password of ``DMSLAB_DATABASE_URL`` when that names the same database."""
    parsed = sa.engine.make_url(url)
    if parsed.password != MASK:
        return url
    real = os.environ.get("DMSLAB_DATABASE_URL")
    if real is not None:
        full = sa.engine.make_url(real)
        if full.password is not None and full.set(password=MASK) == parsed:
            return real
    raise DatabaseUrlError(f"the database URL {parsed.render_as_string(hide_password=True)} has its password masked "
                           "and DMSLAB_DATABASE_URL does not give the same URL with the password: set it")


def masked(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)  # only called for URLs that parse


def sqlite_path(engine: sa.Engine) -> Path | None:
    """The file of a SQLite database (``None``: in memory, or a ``file:`` URI)."""
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def create_private(path: Path) -> None:
    """Create an empty SQLite file readable by its owner only (0600) before SQLite opens it; SQLite gives its
    ``-wal``, ``-shm`` and ``-journal`` files the database file's permissions."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError as exc:
        raise DatabaseMissingError(f"cannot create the database {path}: the folder {path.parent} does not exist; "
                                   f"create it or set another URL ({WHERE})") from exc


def unavailable(engine: sa.Engine, exc: Exception) -> DatabaseUnavailableError:
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    url = engine.url.render_as_string(hide_password=True)
    return DatabaseUnavailableError(f"cannot connect to the database {url}: {first}; check that the server is "
                                    f"running and the URL, user and password are right ({WHERE})")
