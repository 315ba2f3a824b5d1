"""The ``[smtp]`` section: where alerts and reports are e-mailed from — one definition for both.

| setting | environment | default |
|---|---|---|
| host | ``DMSLAB_SMTP_HOST`` | none: nothing is e-mailed |
| port | ``DMSLAB_SMTP_PORT`` | 25 (587 with ``starttls``, 465 with ``ssl``) |
| user / password | ``DMSLAB_SMTP_USER`` / ``DMSLAB_SMTP_PASSWORD`` | no login |
| security | ``DMSLAB_SMTP_SECURITY`` | ``none``; or ``starttls``, ``ssl`` |
| sender | ``DMSLAB_SMTP_FROM`` | ``dmslab@<host name>`` (resolved when a message is sent) |
| reports_url | ``DMSLAB_REPORTS_URL`` | none: report e-mails name the file path |
| timeout_s | ``DMSLAB_SMTP_TIMEOUT`` | 30 s |
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, ClassVar

from dmslab.errors import ConfigError

__all__ = ["SmtpSettings"]

_SECURITY = ("none", "starttls", "ssl")
_DEFAULT_PORT = {"none": 25, "starttls": 587, "ssl": 465}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how dmslab sends e-mail (alerts and reports).

    Attributes
    ----------
    host
        SMTP server; ``None`` disables e-mail (alert and pipeline runs record that nothing was sent).
    port
        TCP port; ``None``: the default of ``security`` (25, 587 or 465), see :attr:`server_port`.
    user, password
        Login, when the server needs one (only with ``starttls`` or ``ssl``: never in clear).
    security
        ``none``, ``starttls`` or ``ssl``.
    sender
        From address; empty: ``dmslab@<this host's name>``, resolved only when a message is sent (see
        :attr:`from_address`), so reading settings never waits for a name lookup.
    reports_url
        Base URL under which the reports folder is published (e.g. ``https://dms.hospital/reports/``); report
        e-mails then link the report, else they name its file path.
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

    SECTION: ClassVar[str] = "smtp"
    ENV_PREFIX: ClassVar[str] = "SMTP_"
    ENV_ALIASES: ClassVar[dict[str, str]] = {"sender": "DMSLAB_SMTP_FROM", "reports_url": "DMSLAB_REPORTS_URL",
                                             "timeout_s": "DMSLAB_SMTP_TIMEOUT"}

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", self.security.strip().lower())
        if self.security not in _SECURITY:
            raise ConfigError(f"[smtp] security must be one of {list(_SECURITY)}, got {self.security!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"[smtp] port must be 1..65535, got {self.port}")
        if self.timeout_s <= 0:
            raise ConfigError(f"[smtp] timeout_s must be > 0, got {self.timeout_s}")
        if (self.user is None) != (self.password is None):
            raise ConfigError("[smtp] set both user and password (DMSLAB_SMTP_USER, DMSLAB_SMTP_PASSWORD), or neither")
        if self.user and self.security == "none":
            raise ConfigError("[smtp] a login without encryption would send the password in clear: "
                              "set security to starttls or ssl (DMSLAB_SMTP_SECURITY)")
        if self.sender and "@" not in self.sender:
            raise ConfigError(f"[smtp] sender must be an e-mail address, got {self.sender!r}")

    @property
    def enabled(self) -> bool:
        """E-mail is configured (a host is set)."""
        return bool(self.host)

    @property
    def from_address(self) -> str:
        """The From address: :attr:`sender`, or ``dmslab@<this host's fully qualified name>``."""
        return self.sender or f"dmslab@{socket.getfqdn() or 'localhost'}"

    @property
    def server_port(self) -> int:
        """The port to connect to: :attr:`port`, or the default of :attr:`security`."""
        return self.port or _DEFAULT_PORT[self.security]

    def masked(self) -> dict[str, Any]:
        """The settings for logging, the password hidden."""
        return {"host": self.host, "port": self.server_port, "user": self.user,
                "password": "***" if self.password else None, "security": self.security,
                "sender": self.sender or "dmslab@<host name>", "reports_url": self.reports_url,
                "timeout_s": self.timeout_s}

    def __repr__(self) -> str:
        return f"SmtpSettings({self.masked()!r})"
