"""``dmslab lab``: JupyterLab on the site's store for prototyping (MPEs), with the starter notebook
``notebooks/prototype.ipynb``.

The server listens on loopback with a fresh token (printed in the URL to open) and runs from a work folder
(``<home>/lab`` by default) that gets a copy of the starter notebook the first time, so the shipped notebooks
stay as they are. The kernel finds the store in ``DMSLAB_DATABASE_URL`` (and the other core settings in
``DMSLAB_*``), set in the server's environment, never written into a notebook.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dmslab.cli._common import Builder, SettingsFrom
from dmslab.errors import ConfigError

if TYPE_CHECKING:
    from dmslab.config import Settings

__all__ = ["BUILDERS", "lab_command"]

logger = logging.getLogger(__name__)

#: The starter notebook copied into the work folder.
PROTOTYPE = Path(__file__).resolve().parents[2] / "notebooks" / "prototype.ipynb"


# keyword-only options of one command line
def lab_command(settings: Settings, folder: Path, *, bind: str = "127.0.0.1", port: int = 8888,  # noqa: PLR0913
                token: str, open_browser: bool = False, allow_root: bool = False) -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line and its environment (this one plus the site's ``DMSLAB_*`` core settings).

    Raises
    ------
    ConfigError
        When ``bind`` is not a loopback address (the lab reads patient-related data: keep it on this machine,
        or put it behind the hospital's JupyterHub), or ``token`` is empty.
    """
    try:
        loopback = bind == "localhost" or ipaddress.ip_address(bind).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"--bind {bind}: dmslab lab listens on loopback only (127.0.0.1, ::1); for access from "
                          "other machines run JupyterLab behind the hospital's JupyterHub")
    if not token:
        raise ConfigError("dmslab lab needs a token (empty given)")
    default = "/lab/tree/prototype.ipynb" if (folder / "prototype.ipynb").is_file() else "/lab"
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.ip={bind}", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
           f"--LabApp.default_url={default}", "--ServerApp.open_browser=" + ("True" if open_browser else "False")]
    cmd += ["--ServerApp.allow_root=True"] if allow_root else []
    return cmd, {**os.environ, **settings.core_environment()}


def prepare_folder(folder: Path) -> Path:
    """Create the work folder (private: 0700) and copy the starter notebook into it unless one is there."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / "prototype.ipynb"
    if not target.exists() and PROTOTYPE.is_file():
        shutil.copyfile(PROTOTYPE, target)
    return folder


def _cmd_lab(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    import subprocess

    from dmslab.errors import import_optional

    settings = settings_from(args)
    import_optional("jupyterlab", feature="dmslab lab", extra="dashboards")
    folder = prepare_folder(Path(args.folder).expanduser() if args.folder else settings.home / "lab")
    token = args.token or secrets.token_urlsafe(24)
    cmd, env = lab_command(settings, folder, bind=args.bind, port=args.port, token=token,
                           open_browser=args.browser, allow_root=args.allow_root)
    print(f"JupyterLab on the store of {settings.masked()['database_url']}, work folder {folder}\n"
          f"open http://{args.bind}:{args.port}/lab?token={token}  (Ctrl-C to stop)", flush=True)
    if args.print_command:
        print(" ".join(cmd))
        return 0
    try:
        return subprocess.run(cmd, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0


def _lab(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8888, help="TCP port on loopback (default 8888)")
    p.add_argument("--bind", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--folder", help="work folder of the notebooks (default <home>/lab; gets prototype.ipynb)")
    p.add_argument("--token", help="login token (default: a new random one, printed in the URL)")
    p.add_argument("--browser", action="store_true", help="open a web browser on this machine")
    p.add_argument("--allow-root", action="store_true", help="let JupyterLab run as root (containers only)")
    p.add_argument("--print-command", action="store_true",
                   help="prepare the folder, print the URL and the command; stop")
    p.set_defaults(func=_cmd_lab)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "lab": _lab,
}
