"""Sending e-mail by SMTP (alerts now; reports later), configured from ``DMSLAB_SMTP_*`` variables."""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from dmslab.errors import ConfigError

__all__ = ["SmtpConfig", "send_email"]

logger = logging.getLogger(__name__)

_BOOL = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to send e-mail.

    Attributes
    ----------
    host, port
        SMTP server (``DMSLAB_SMTP_HOST``, ``DMSLAB_SMTP_PORT``; default port 25).
    sender
        From address (``DMSLAB_SMTP_FROM``; default ``dmslab@localhost``).
    user, password
        Login, when the server needs one (``DMSLAB_SMTP_USER``, ``DMSLAB_SMTP_PASSWORD``).
    starttls
        Upgrade the connection with STARTTLS (``DMSLAB_SMTP_STARTTLS``: true/false; default false).
    timeout_s
        Socket timeout in seconds (``DMSLAB_SMTP_TIMEOUT``; default 30).
    """

    host: str
    port: int = 25
    sender: str = "dmslab@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("SMTP host is empty: set DMSLAB_SMTP_HOST")
        if not 0 < self.port < 65536:
            raise ConfigError(f"SMTP port must be in 1..65535, got {self.port}")
        if "@" not in self.sender:
            raise ConfigError(f"SMTP sender must be an e-mail address, got {self.sender!r}")
        if (self.user is None) != (self.password is None):
            raise ConfigError("set both DMSLAB_SMTP_USER and DMSLAB_SMTP_PASSWORD, or neither")

    def __repr__(self) -> str:
        return f"SmtpConfig(host={self.host!r}, port={self.port}, sender={self.sender!r}, user={self.user!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpConfig | None:
        """The configuration from ``DMSLAB_SMTP_*`` variables; ``None`` when ``DMSLAB_SMTP_HOST`` is unset."""
        env = os.environ if environ is None else environ
        host = env.get("DMSLAB_SMTP_HOST")
        if not host:
            return None
        try:
            port = int(env.get("DMSLAB_SMTP_PORT", "25"))
            timeout = float(env.get("DMSLAB_SMTP_TIMEOUT", "30"))
        except ValueError as exc:
            raise ConfigError(f"DMSLAB_SMTP_PORT/DMSLAB_SMTP_TIMEOUT must be numbers: {exc}") from exc
        tls = _BOOL.get(env.get("DMSLAB_SMTP_STARTTLS", "false").strip().lower())
        if tls is None:
            raise ConfigError(f"DMSLAB_SMTP_STARTTLS must be one of {sorted(_BOOL)}")
        return cls(host, port, env.get("DMSLAB_SMTP_FROM", "dmslab@localhost"), env.get("DMSLAB_SMTP_USER"),
                   env.get("DMSLAB_SMTP_PASSWORD"), tls, timeout)


def send_email(config: SmtpConfig, to: Sequence[str], subject: str, body: str) -> None:
    """Send one plain-text message to ``to`` (raises ``smtplib.SMTPException`` or ``OSError`` on failure)."""
    if not to:
        raise ValueError("no recipients")
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.user is not None and config.password is not None:
            smtp.login(config.user, config.password)
        smtp.send_message(msg)
    logger.info("sent %r to %d recipient(s)", subject, len(to))
