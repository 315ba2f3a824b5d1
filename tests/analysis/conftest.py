"""Fixtures of the analysis tests: the synthetic department ingested once per module and backend."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from dmslab.config import Settings, load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store


def _reset(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        md.drop_all(conn)
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(request, department, tmp_path_factory) -> Iterator[tuple[Store, Settings]]:
    """The department ingested once per backend for the module; tests that change the store undo it."""
    home = tmp_path_factory.mktemp("home")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'dmslab.sqlite'}"
    else:
        url = os.environ.get("DMSLAB_TEST_POSTGRES_URL", "")
        if not url:
            pytest.skip("PostgreSQL not configured: set DMSLAB_TEST_POSTGRES_URL (.ci/run starts a server)")
        _reset(url)
    create_key(home / "pseudonym.key").write_text(bytes(range(32)).hex() + "\n")
    settings = load_settings(home=str(home), database_url=url, workers=1)
    st = Store(url)
    ingest_paths([department[0]], settings, store=st)
    yield st, settings
    st.close()
    if request.param == "postgresql":
        _reset(url)
