"""Database URLs for people and for child processes: password hidden, relative SQLite paths made absolute."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["absolute_url", "masked_url"]


def masked_url(url: str) -> str:
    """``url`` with its password shown as ``***`` (for logs, reports and parameters people read).

    >>> masked_url("postgresql+psycopg://dms:secret@db/dmslab")
    'postgresql+psycopg://dms:***@db/dmslab'
    """
    return make_url(url).render_as_string(hide_password=True)


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite file made absolute (notebooks run in their report folder).

    >>> absolute_url("postgresql+psycopg://dms@db/dmslab")
    'postgresql+psycopg://dms@db/dmslab'
    >>> absolute_url("sqlite:///demo-data/dmslab.sqlite") == f"sqlite:///{Path.cwd() / 'demo-data/dmslab.sqlite'}"
    True
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:") or Path(parsed.database).is_absolute():
        return url
    return parsed.set(database=str(Path(parsed.database).resolve())).render_as_string(hide_password=False)
