"""E-mail a report by SMTP: settings from ``DMSLAB_SMTP_*`` variables or flags, the HTML attached.

| setting | env | default |
|---|---|---|
| host | ``DMSLAB_SMTP_HOST`` | none: reports are not e-mailed |
| port | ``DMSLAB_SMTP_PORT`` | 25 (587 with STARTTLS, 465 with SSL) |
| user / password | ``DMSLAB_SMTP_USER`` / ``DMSLAB_SMTP_PASSWORD`` | no login |
| security | ``DMSLAB_SMTP_SECURITY`` | ``none``; or ``starttls``, ``ssl`` |
| sender | ``DMSLAB_SMTP_FROM`` | ``dmslab@<host name>`` |
| report link base | ``DMSLAB_REPORTS_URL`` | none: the body names the report's file path |
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from dmslab.errors import ConfigError

__all__ = ["SmtpSettings", "send_report"]

logger = logging.getLogger(__name__)

_SECURITY = ("none", "starttls", "ssl")
_DEFAULT_PORT = {"none": 25, "starttls": 587, "ssl": 465}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how reports are e-mailed.

    Attributes
    ----------
    host
        SMTP server; ``None`` disables e-mail (the run records that nothing was sent).
    port
        TCP port; default by ``security`` (25, 587 or 465).
    user, password
        Login, when the server needs one (only with ``starttls`` or ``ssl``).
    security
        ``none``, ``starttls`` or ``ssl``.
    sender
        From address.
    reports_url
        Base URL under which the reports folder is published (e.g. ``https://dms.hospital/reports/``); the
        e-mail then links the report, else it names the file path.
    timeout_s
        Connection timeout [s].
    """

    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    security: str = "none"
    sender: str = ""
    reports_url: str | None = None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in _SECURITY:
            raise ConfigError(f"SMTP security {self.security!r} not in {list(_SECURITY)}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"SMTP port must be 1..65535, got {self.port}")
        if self.user and self.security == "none":
            raise ConfigError("SMTP login without encryption would send the password in clear: "
                              "set DMSLAB_SMTP_SECURITY=starttls or ssl")
        if not self.sender:
            object.__setattr__(self, "sender", f"dmslab@{socket.getfqdn() or 'localhost'}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SmtpSettings:
        """Settings from ``DMSLAB_SMTP_*`` / ``DMSLAB_REPORTS_URL``, then ``overrides`` (``None`` ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in (("host", "HOST"), ("port", "PORT"), ("user", "USER"), ("password", "PASSWORD"),
                          ("security", "SECURITY"), ("sender", "FROM")):
            if env.get(f"DMSLAB_SMTP_{var}"):
                values[name] = env[f"DMSLAB_SMTP_{var}"]
        if env.get("DMSLAB_REPORTS_URL"):
            values["reports_url"] = env["DMSLAB_REPORTS_URL"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "port" in values:
            try:
                values["port"] = int(values["port"])
            except ValueError:
                raise ConfigError(f"SMTP port must be a whole number, got {values['port']!r}") from None
        if "security" in values:
            values["security"] = str(values["security"]).lower()
        return replace(cls(), **values)

    def masked(self) -> dict[str, Any]:
        """The settings for logging, password hidden."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": "***" if self.password else None,
                "security": self.security, "sender": self.sender, "reports_url": self.reports_url}


def _message(smtp: SmtpSettings, recipients: Sequence[str], subject: str, report: Path,
             reports_dir: Path) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, smtp.sender, ", ".join(recipients)
    if smtp.reports_url:
        base = smtp.reports_url.rstrip("/")
        where = f"{base}/{report.resolve().relative_to(reports_dir.resolve()).as_posix()}"
        index = f"{base}/index.html"
    else:
        where, index = str(report.resolve()), str(reports_dir.resolve() / "index.html")
    msg.set_content(f"{subject}\n\nThe report is attached and available at:\n{where}\n\nAll reports: {index}\n"
                    "\n-- dmslab (radiation dose management). The report holds study UIDs and dose data: keep it "
                    "inside the hospital.\n")
    msg.add_attachment(report.read_text(encoding="utf-8"), subtype="html", charset="utf-8", filename=report.name)
    return msg


def send_report(smtp: SmtpSettings, recipients: Sequence[str], *, subject: str, report: str | os.PathLike[str],
                reports_dir: str | os.PathLike[str]) -> list[str]:
    """E-mail ``report`` (attached, and linked) to ``recipients``; returns who was sent it.

    Returns an empty list, logging why, when SMTP is not configured or there are no recipients.

    Raises
    ------
    smtplib.SMTPException, OSError
        When the server cannot be reached or refuses the message.
    """
    if not recipients:
        return []
    if not smtp.host:
        logger.warning("report %s not e-mailed to %d recipient(s): DMSLAB_SMTP_HOST is not set", report,
                       len(recipients))
        return []
    msg = _message(smtp, recipients, subject, Path(report), Path(reports_dir))
    port = smtp.port or _DEFAULT_PORT[smtp.security]
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, port, timeout=smtp.timeout_s, context=context)
    else:
        client = smtplib.SMTP(smtp.host, port, timeout=smtp.timeout_s)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        refused = client.send_message(msg)
    sent = [r for r in recipients if r not in refused]
    logger.info("report %s e-mailed to %d recipient(s) via %s:%d", report, len(sent), smtp.host, port)
    return sent
