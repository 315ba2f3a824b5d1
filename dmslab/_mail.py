"""Sending e-mail by SMTP: the one transport of alerts (:mod:`dmslab.analysis.alerts`) and reports
(:mod:`dmslab.reporting`); it sits below both layers so that neither imports the other for it.

The settings are the ``[smtp]`` section of the site's settings (:class:`dmslab.config.SmtpSettings`): one
definition, one set of ``DMSLAB_SMTP_*`` variables, one transport here.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from dmslab.config import SmtpSettings
from dmslab.errors import ConfigError

__all__ = ["deliver", "send_email"]

logger = logging.getLogger(__name__)


def deliver(smtp: SmtpSettings, msg: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """Send ``msg`` through the server of ``smtp`` (SSL, STARTTLS and login as configured).

    Returns
    -------
    dict
        The recipients the server refused, as :meth:`smtplib.SMTP.send_message` reports them.

    Raises
    ------
    ConfigError
        When no SMTP host is configured.
    smtplib.SMTPException, OSError
        When the server cannot be reached or refuses the message.
    """
    if not smtp.host:
        raise ConfigError("no SMTP host configured: set host in the [smtp] section or DMSLAB_SMTP_HOST")
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.server_port, timeout=smtp.timeout_s, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.server_port, timeout=smtp.timeout_s)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        return client.send_message(msg)


def send_email(smtp: SmtpSettings, to: Sequence[str], subject: str, body: str) -> None:
    """Send one plain-text message to ``to`` (raises ``smtplib.SMTPException`` or ``OSError`` on failure)."""
    if not to:
        raise ValueError("no recipients")
    msg = EmailMessage()
    msg["From"] = smtp.from_address
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    deliver(smtp, msg)
    logger.info("sent %r to %d recipient(s)", subject, len(to))
