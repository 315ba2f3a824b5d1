"""SMTP settings for reports (the [smtp] section), and what happens without a server (sending: test_runner.py)."""

import pytest

from dmslab.config import SmtpSettings, load_settings, override
from dmslab.errors import ConfigError
from dmslab.reporting import send_report

_VARS = ("DMSLAB_SMTP_HOST", "DMSLAB_SMTP_PORT", "DMSLAB_SMTP_SECURITY", "DMSLAB_SMTP_USER", "DMSLAB_SMTP_PASSWORD",
         "DMSLAB_SMTP_FROM", "DMSLAB_CONFIG", "DMSLAB_HOME")


@pytest.fixture
def clean_env(monkeypatch):
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_settings_from_env_then_flags(tmp_path, clean_env):
    env = {"DMSLAB_SMTP_HOST": "smtp.h.example", "DMSLAB_SMTP_PORT": "2525", "DMSLAB_SMTP_SECURITY": "STARTTLS",
           "DMSLAB_SMTP_USER": "dms", "DMSLAB_SMTP_PASSWORD": "s3cret", "DMSLAB_SMTP_FROM": "dms@h.example"}
    for k, v in env.items():
        clean_env.setenv(k, v)
    s = override(load_settings(home=str(tmp_path)).smtp, port=587, sender=None)
    assert (s.host, s.port, s.security, s.user, s.password, s.sender) == ("smtp.h.example", 587, "starttls", "dms",
                                                                        "s3cret", "dms@h.example")
    assert s.masked()["password"] == "***" and "s3cret" not in repr(s)


@pytest.mark.parametrize(("env", "message"), [
    ({"DMSLAB_SMTP_PORT": "twenty-five"}, "port must be a whole number"),
    ({"DMSLAB_SMTP_PORT": "70000"}, "port must be 1..65535"),
    ({"DMSLAB_SMTP_SECURITY": "tls"}, r"security must be one of \['none', 'starttls', 'ssl'\]"),
    ({"DMSLAB_SMTP_USER": "dms", "DMSLAB_SMTP_PASSWORD": "pw"}, "password in clear"),
    ({"DMSLAB_SMTP_USER": "dms"}, "set both user and password"),
])
def test_bad_settings_say_what_is_allowed(tmp_path, clean_env, env, message):
    for k, v in env.items():
        clean_env.setenv(k, v)
    with pytest.raises(ConfigError, match=message):
        load_settings(home=str(tmp_path))


def test_no_server_or_no_recipients_sends_nothing(tmp_path, caplog):
    report = tmp_path / "r.html"
    report.write_text("<html></html>")
    assert send_report(SmtpSettings(host="127.0.0.1", port=1), [], subject="s", report=report,
                       reports_dir=tmp_path) == []  # no recipients: no connection attempted
    assert send_report(SmtpSettings(), ["mpe@h.example"], subject="s", report=report, reports_dir=tmp_path) == []
    assert "no SMTP host" in caplog.text
