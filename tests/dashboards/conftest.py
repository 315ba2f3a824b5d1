"""A site with the synthetic department ingested and its alerts raised, shared by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmslab.analysis import run_alerts
from dmslab.config import Settings, load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store
from dmslab.synth import GroundTruth


def make_site(home: Path, files: list[Path]) -> Settings:
    """A dmslab home at ``home`` whose SQLite store holds ``files``, with the default alert rules evaluated."""
    home.mkdir(parents=True)
    create_key(home / "pseudonym.key").write_text(bytes(range(32)).hex() + "\n")
    settings = load_settings(home=str(home), workers=1)
    store = Store(settings.database_url)
    try:
        ingest_paths(files, settings, store=store)
        run_alerts(store)
    finally:
        store.close()
    return settings


@pytest.fixture(scope="session")
def site_maker():
    """:func:`make_site`, for tests that need a site of their own."""
    return make_site


@pytest.fixture(scope="session")
def site(department, tmp_path_factory) -> tuple[Settings, GroundTruth]:
    """The whole synthetic department (``tests/conftest.py``) in a site of its own."""
    folder, truth = department
    return make_site(tmp_path_factory.mktemp("dashboard-site") / "home", [folder]), truth


@pytest.fixture
def store(site):
    """The site's store, opened as a dashboard opens it (read-only)."""
    from dmslab.dashboards import open_store

    st = open_store(site[0].database_url)
    yield st
    st.close()
