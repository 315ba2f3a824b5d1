"""E-mail a report by SMTP: the HTML attached and linked; settings are the ``[smtp]`` section of the site's
settings (:class:`dmslab.config.SmtpSettings`; ``DMSLAB_SMTP_*``, ``DMSLAB_REPORTS_URL``), the transport is the one
alerts use (:func:`dmslab._mail.deliver`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from dmslab._mail import deliver
from dmslab.config import SmtpSettings

__all__ = ["send_report"]

logger = logging.getLogger(__name__)


def _message(smtp: SmtpSettings, recipients: Sequence[str], subject: str, report: Path,
             reports_dir: Path, pdf: Path | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, smtp.from_address, ", ".join(recipients)
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
    if pdf is not None and pdf.is_file():
        msg.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf", filename=pdf.name)
    return msg


def send_report(smtp: SmtpSettings, recipients: Sequence[str], *, subject: str, report: str | os.PathLike[str],
                reports_dir: str | os.PathLike[str], pdf: str | os.PathLike[str] | None = None) -> list[str]:
    """E-mail ``report`` (attached, and linked) and its ``pdf`` (attached) to ``recipients``; returns who was
    sent it.

    Returns an empty list, logging why, when SMTP is not configured or there are no recipients.

    Raises
    ------
    smtplib.SMTPException, OSError
        When the server cannot be reached or refuses the message.
    """
    if not recipients:
        return []
    if not smtp.host:
        logger.warning("report %s not e-mailed to %d recipient(s): no SMTP host ([smtp] host, DMSLAB_SMTP_HOST)",
                       report, len(recipients))
        return []
    msg = _message(smtp, recipients, subject, Path(report), Path(reports_dir), Path(pdf) if pdf else None)
    refused = deliver(smtp, msg)
    sent = [r for r in recipients if r not in refused]
    logger.info("report %s e-mailed to %d recipient(s) via %s:%d", report, len(sent), smtp.host, smtp.server_port)
    return sent
