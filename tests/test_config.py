"""Settings: TOML file < DMSLAB_* environment < explicit overrides; clear errors; secrets masked."""

from __future__ import annotations

import pytest

from dmslab.config import load_settings
from dmslab.errors import ConfigError


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ("DMSLAB_HOME", "DMSLAB_CONFIG", "DMSLAB_WORKERS", "DMSLAB_BATCH_SIZE", "DMSLAB_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_precedence_file_then_environment_then_overrides(home, monkeypatch):
    (home / "dmslab.toml").write_text('[dmslab]\nworkers = 3\nbatch_size = 50\n')
    s = load_settings(home=str(home))
    assert (s.workers, s.batch_size) == (3, 50)
    assert s.database_url == f"sqlite:///{home / 'dmslab.sqlite'}" and s.key_file == home / "pseudonym.key"
    monkeypatch.setenv("DMSLAB_WORKERS", "2")
    assert load_settings(home=str(home)).workers == 2
    assert load_settings(home=str(home), workers=1).workers == 1


def test_unknown_or_bad_values_are_named(home, monkeypatch):
    (home / "dmslab.toml").write_text('[dmslab]\nworkerz = 3\n')
    with pytest.raises(ConfigError, match="workerz"):
        load_settings(home=str(home))
    (home / "dmslab.toml").write_text("")
    monkeypatch.setenv("DMSLAB_WORKERS", "many")
    with pytest.raises(ConfigError, match="workers must be a whole number"):
        load_settings(home=str(home))
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(home=str(home), colour="blue")
    monkeypatch.delenv("DMSLAB_WORKERS")
    with pytest.raises(ConfigError, match="no patient names"):
        load_settings(home=str(home), store_patient_name="true")
    with pytest.raises(ConfigError, match="must be one of"):
        load_settings(home=str(home), store_patient_name="perhaps")


def test_database_password_is_masked(home):
    s = load_settings(home=str(home), database_url="postgresql+psycopg://dms:secret@db.local/dmslab")
    assert "secret" not in str(s.masked()) and "db.local" in s.masked()["database_url"]
