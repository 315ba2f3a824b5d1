"""A report's PDF, for e-mail: the self-contained HTML report printed by headless Chromium (Debian's
``chromium``), with every request that would leave the machine blocked.

The HTML needs nothing from outside (charts are inline SVG, nbconvert's CDN scripts are left out by the
``dmslab_report`` template), so blocking costs nothing: host names resolve to nothing and any URL that is not
a file goes to a closed proxy port on loopback.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dmslab.errors import PdfError

__all__ = ["CHROMIUM_NAMES", "chromium", "html_to_pdf"]

logger = logging.getLogger(__name__)

#: Programs tried, in order, when ``DMSLAB_CHROMIUM`` is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Flags that keep the headless browser on the machine and quiet.
_OFFLINE = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>", "--no-pdf-header-footer")


def chromium() -> str:
    """The headless Chromium program: ``DMSLAB_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on PATH.

    Raises
    ------
    PdfError
        When there is none (the message says what to install).
    """
    named = os.environ.get("DMSLAB_CHROMIUM")
    found = shutil.which(named) if named else next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    if found is None:
        raise PdfError(f"no headless Chromium to print the PDF ({named or ', '.join(CHROMIUM_NAMES)} not found): "
                       "install it (apt-get install chromium) or set DMSLAB_CHROMIUM to its path")
    return found


def html_to_pdf(html: str | os.PathLike[str], pdf: str | os.PathLike[str], *, timeout_s: float = 180.0) -> Path:
    """Print the HTML file ``html`` to ``pdf`` (A4 as Chromium lays it out, backgrounds kept) and return it.

    Raises
    ------
    PdfError
        When Chromium is missing, fails, times out or writes no PDF.
    FileNotFoundError
        When ``html`` does not exist.
    """
    source, out = Path(html).resolve(), Path(pdf).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"report {source} not found")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    program = chromium()
    with tempfile.TemporaryDirectory(prefix="dmslab-chromium-") as profile:
        cmd = [program, *_OFFLINE, f"--user-data-dir={profile}", f"--print-to-pdf={out}", source.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print {source.name} within {timeout_s:g} s") from None
    if done.returncode != 0 or not out.is_file() or out.read_bytes()[:5] != b"%PDF-":
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PdfError(f"Chromium could not print {source.name} (exit {done.returncode}): {' | '.join(tail)}")
    logger.info("report %s printed to %s", source.name, out.name)
    return out
