"""Store tests: every test that uses a database ends with its invariants checked (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _invariants import assert_store_invariants


@pytest.fixture
def db_url(db_url: str) -> Iterator[str]:
    """The shared ``db_url`` fixture, with :func:`assert_store_invariants` run when the test is done."""
    yield db_url
    assert_store_invariants(db_url)
