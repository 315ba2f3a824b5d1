"""SMTP settings from the environment, and what happens without a server (sending itself: test_runner.py)."""

import pytest

from dmslab.errors import ConfigError
from dmslab.reporting import SmtpSettings, send_report


def test_settings_from_env_then_flags():
    env = {"DMSLAB_SMTP_HOST": "smtp.h.example", "DMSLAB_SMTP_PORT": "2525", "DMSLAB_SMTP_SECURITY": "STARTTLS",
           "DMSLAB_SMTP_USER": "dms", "DMSLAB_SMTP_PASSWORD": "s3cret", "DMSLAB_SMTP_FROM": "dms@h.example"}
    s = SmtpSettings.from_env(env, port=587, sender=None)
    assert (s.host, s.port, s.security, s.user, s.password, s.sender) == ("smtp.h.example", 587, "starttls", "dms",
                                                                        "s3cret", "dms@h.example")
    assert s.masked()["password"] == "***" and "s3cret" not in repr(s.masked())


@pytest.mark.parametrize(("env", "message"), [
    ({"DMSLAB_SMTP_PORT": "twenty-five"}, "port must be a whole number"),
    ({"DMSLAB_SMTP_PORT": "70000"}, "port must be 1..65535"),
    ({"DMSLAB_SMTP_SECURITY": "tls"}, r"security 'tls' not in \['none', 'starttls', 'ssl'\]"),
    ({"DMSLAB_SMTP_USER": "dms"}, "password in clear"),
])
def test_bad_settings_say_what_is_allowed(env, message):
    with pytest.raises(ConfigError, match=message):
        SmtpSettings.from_env(env)


def test_no_server_or_no_recipients_sends_nothing(tmp_path, caplog):
    report = tmp_path / "r.html"
    report.write_text("<html></html>")
    assert send_report(SmtpSettings(host="127.0.0.1", port=1), [], subject="s", report=report,
                       reports_dir=tmp_path) == []  # no recipients: no connection attempted
    assert send_report(SmtpSettings(), ["mpe@h.example"], subject="s", report=report, reports_dir=tmp_path) == []
    assert "DMSLAB_SMTP_HOST is not set" in caplog.text
