"""A database URL with its password masked (``***``, as report notebooks get it) is completed from
``DMSLAB_DATABASE_URL`` only when that names the same database; otherwise a clear error, never the mask sent."""

from __future__ import annotations

import pytest

from dmslab.errors import DatabaseUrlError
from dmslab.store._engine import unmasked as _unmasked

REAL = "postgresql+psycopg://dms:s3cr%40t@db.example:5433/dmslab?sslmode=require"
MASKED = "postgresql+psycopg://dms:***@db.example:5433/dmslab?sslmode=require"


def test_the_masked_password_is_taken_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMSLAB_DATABASE_URL", REAL)
    assert _unmasked(MASKED) == REAL


@pytest.mark.parametrize("other", [
    "postgresql+psycopg://dms:s3cret@db.example:5433/other?sslmode=require",  # another database
    "postgresql+psycopg://dms:s3cret@evil.example:5433/dmslab?sslmode=require",  # another host
    "postgresql+psycopg://root:s3cret@db.example:5433/dmslab?sslmode=require",  # another user
    "postgresql+psycopg://dms:s3cret@db.example:5433/dmslab",  # another query
    "postgresql+psycopg://dms@db.example:5433/dmslab?sslmode=require",  # no password to give
])
def test_a_password_is_never_given_to_another_url(monkeypatch: pytest.MonkeyPatch, other: str) -> None:
    monkeypatch.setenv("DMSLAB_DATABASE_URL", other)
    with pytest.raises(DatabaseUrlError, match=r"password masked and DMSLAB_DATABASE_URL does not give") as exc:
        _unmasked(MASKED)
    assert "s3cret" not in str(exc.value) and "dms:***@db.example" in str(exc.value)


def test_a_masked_url_without_the_environment_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DMSLAB_DATABASE_URL", raising=False)
    with pytest.raises(DatabaseUrlError, match="DMSLAB_DATABASE_URL"):
        _unmasked(MASKED)


@pytest.mark.parametrize("url", [REAL, "sqlite:////tmp/x.sqlite", "postgresql+psycopg://dms@db/dmslab"])
def test_urls_without_a_mask_are_left_as_they_are(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DMSLAB_DATABASE_URL", "postgresql+psycopg://x:y@elsewhere/z")
    assert _unmasked(url) == url
