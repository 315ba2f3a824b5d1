"""Settings: TOML file < DMSLAB_* environment < explicit overrides; clear errors; secrets masked."""

from __future__ import annotations

import pytest

from dmslab.config import load_settings, override
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


_SECTION_VARS = ("DMSLAB_PORT", "DMSLAB_AE_TITLE", "DMSLAB_SMTP_HOST", "DMSLAB_SMTP_PORT", "DMSLAB_SMTP_SECURITY",
                 "DMSLAB_SMTP_USER", "DMSLAB_SMTP_PASSWORD", "DMSLAB_SMTP_FROM", "DMSLAB_QR_PACS_HOST",
                 "DMSLAB_QR_PACS_PORT", "DMSLAB_REPORTS_URL")


def test_sections_are_read_from_their_tables_then_the_environment(home, monkeypatch):
    for var in _SECTION_VARS:
        monkeypatch.delenv(var, raising=False)
    (home / "dmslab.toml").write_text(
        '[receiver]\nae_title = "DMS_FILE"\nport = 4242\nallowed_aets = ["CT1", "CT2"]\n'
        '[smtp]\nhost = "mail.hospital.example"\nsecurity = "starttls"\nsender = "dms@hospital.example"\n'
        '[qr]\npacs_host = "pacs.hospital.example"\npacs_port = 104\npacs_aet = "PACS"\nchunk_days = 3\n')
    s = load_settings(home=str(home))
    assert (s.receiver.ae_title, s.receiver.port, s.receiver.allowed_aets) == ("DMS_FILE", 4242, ("CT1", "CT2"))
    assert s.receiver.inbox_dir == home / "inbox" and s.qr.inbox_dir == home / "qr-inbox"
    assert (s.smtp.host, s.smtp.server_port, s.smtp.sender) == ("mail.hospital.example", 587, "dms@hospital.example")
    assert (s.qr.pacs_host, s.qr.pacs_port, s.qr.pacs_aet, s.qr.chunk_days) == ("pacs.hospital.example", 104,
                                                                                "PACS", 3)
    monkeypatch.setenv("DMSLAB_PORT", "5555")
    monkeypatch.setenv("DMSLAB_SMTP_PORT", "2525")
    monkeypatch.setenv("DMSLAB_QR_PACS_PORT", "11112")
    s = load_settings(home=str(home))
    assert (s.receiver.port, s.smtp.server_port, s.qr.pacs_port) == (5555, 2525, 11112)
    assert override(s.receiver, port="104", allowed_aets="A, B").allowed_aets == ("A", "B")


def test_section_errors_name_the_section_and_setting(home, monkeypatch):
    for var in _SECTION_VARS:
        monkeypatch.delenv(var, raising=False)
    (home / "dmslab.toml").write_text('[smtp]\nhots = "x"\n')
    with pytest.raises(ConfigError, match=r"\[smtp\].*hots"):
        load_settings(home=str(home))
    (home / "dmslab.toml").write_text('[smtp]\nhost = "x"\nuser = "mpe"\npassword = "pw"\n')
    with pytest.raises(ConfigError, match="password in clear"):
        load_settings(home=str(home))
    (home / "dmslab.toml").write_text("")
    monkeypatch.setenv("DMSLAB_QR_PACS_PORT", "one-o-four")
    with pytest.raises(ConfigError, match=r"\[qr\] pacs_port must be a whole number"):
        load_settings(home=str(home))
    monkeypatch.delenv("DMSLAB_QR_PACS_PORT")
    s = load_settings(home=str(home))
    with pytest.raises(ConfigError, match="unknown"):
        override(s.qr, pacs="x")
    with pytest.raises(ConfigError, match="pacs_aet must be 1-16"):
        override(s.qr, pacs_aet="A" * 17)


def test_smtp_password_is_masked(home, monkeypatch):
    for var in _SECTION_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DMSLAB_SMTP_HOST", "mail.example")
    monkeypatch.setenv("DMSLAB_SMTP_SECURITY", "SSL")
    monkeypatch.setenv("DMSLAB_SMTP_USER", "mpe")
    monkeypatch.setenv("DMSLAB_SMTP_PASSWORD", "s3cret")
    s = load_settings(home=str(home))
    assert s.smtp.security == "ssl" and s.smtp.server_port == 465
    assert "s3cret" not in repr(s.smtp) and "s3cret" not in str(s.masked()) and s.smtp.password == "s3cret"


def test_not_patient_patterns_default_file_and_environment(home, monkeypatch):
    from dmslab.config import DEFAULT_NOT_PATIENT_PATTERNS

    monkeypatch.delenv("DMSLAB_NOT_PATIENT_PATTERNS", raising=False)
    assert load_settings(home=str(home)).not_patient_patterns == DEFAULT_NOT_PATIENT_PATTERNS
    (home / "dmslab.toml").write_text('[dmslab]\nnot_patient_patterns = ["^QA[0-9]+$", "kuvanlaatu"]\n')
    s = load_settings(home=str(home))
    assert s.not_patient_patterns == ("^QA[0-9]+$", "kuvanlaatu")
    (home / "dmslab.toml").write_text("")
    monkeypatch.setenv("DMSLAB_NOT_PATIENT_PATTERNS", "^QA[0-9]+$,kuvanlaatu")
    assert load_settings(home=str(home)).not_patient_patterns == ("^QA[0-9]+$", "kuvanlaatu")
    # what a receiver hands its ingest worker: a JSON list, so a pattern may hold a comma
    s = load_settings(home=str(home), not_patient_patterns=("^QA{1,2}[0-9]+$", "phantom"))
    monkeypatch.setenv("DMSLAB_NOT_PATIENT_PATTERNS", s.core_environment()["DMSLAB_NOT_PATIENT_PATTERNS"])
    assert load_settings(home=str(home)).not_patient_patterns == ("^QA{1,2}[0-9]+$", "phantom")
    monkeypatch.setenv("DMSLAB_NOT_PATIENT_PATTERNS", "")
    assert load_settings(home=str(home)).not_patient_patterns == ()  # an empty list: no name check


@pytest.mark.parametrize(("patterns", "message"), [
    ('["phantom", "qa("]', r"not_patient_patterns: 'qa\(' is not a valid regular expression"),
    ('["x*"]', r"not_patient_patterns: 'x\*' matches an empty name"),
])
def test_bad_not_patient_patterns_are_named(home, monkeypatch, patterns, message):
    monkeypatch.delenv("DMSLAB_NOT_PATIENT_PATTERNS", raising=False)
    (home / "dmslab.toml").write_text(f"[dmslab]\nnot_patient_patterns = {patterns}\n")
    with pytest.raises(ConfigError, match=r"\[dmslab\] " + message):
        load_settings(home=str(home))
