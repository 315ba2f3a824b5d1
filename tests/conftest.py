"""Shared fixtures: pseudonymiser, synthetic department, database URLs (SQLite and PostgreSQL), corpus."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmslab.config import Settings, load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import Pseudonymiser, create_key
from dmslab.store import Store
from dmslab.synth import DepartmentConfig, GroundTruth, generate_department

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DMSLAB_CORPUS", ROOT.parent / "shared" / "corpus"))
TEST_KEY = bytes(range(32))


@pytest.fixture
def pseudo() -> Pseudonymiser:
    return Pseudonymiser(TEST_KEY)


@pytest.fixture(scope="session")
def department(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    """A small synthetic department (1 month, 3 CT studies per room per day), generated once."""
    out = tmp_path_factory.mktemp("department")
    truth = generate_department(out, DepartmentConfig(months=1, studies_per_room_per_day=3.0,
                                                      multi_rdsr_fraction=0.05))
    return out, truth


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The public vendor corpus (../shared/corpus); tests using it skip, saying why, when it is absent."""
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"vendor corpus not found at {CORPUS} (set DMSLAB_CORPUS or check out ../shared)")
    return CORPUS


def _pg_url() -> str:
    """DMSLAB_TEST_POSTGRES_URL; under pytest-xdist each worker gets its own database beside it (``NAME_gw0``…),
    created on first use, so parallel runs do not drop each other's tables. Empty when not configured."""
    url = os.environ.get("DMSLAB_TEST_POSTGRES_URL", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = sa.engine.make_url(url)
    name = f"{base.database}_{worker}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(sa.text("select 1 from pg_database where datname = :n"), {"n": name}).first() is None:
            conn.execute(sa.text(f'create database "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _reset(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        md.drop_all(conn)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store test runs on both backends; PostgreSQL needs DMSLAB_TEST_POSTGRES_URL (CI sets it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dmslab.sqlite'}"
        return
    url = _pg_url()
    if not url:
        pytest.skip("PostgreSQL not configured: set DMSLAB_TEST_POSTGRES_URL (.ci/run starts a server)")
    _reset(url)
    yield url
    _reset(url)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    key = create_key(home / "pseudonym.key")
    key.write_text(TEST_KEY.hex() + "\n")
    return load_settings(home=str(home), database_url=db_url, workers=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(request, department, tmp_path_factory) -> Iterator[tuple[Store, Settings]]:
    """The department ingested once per backend for the module; tests that change the store undo it."""
    home = tmp_path_factory.mktemp("home")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'dmslab.sqlite'}"
    else:
        url = _pg_url()
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
