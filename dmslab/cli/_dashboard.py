"""``dmslab dashboard``: serve ``dashboards/*.ipynb`` with Voila on the site's store (loopback, token, offline)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dmslab.cli._common import Builder, SettingsFrom, require_extra

__all__ = ["BUILDERS", "dashboard_command"]

#: Where a token may come from besides ``--token``.
TOKEN_VARIABLE = "DMSLAB_DASHBOARD_TOKEN"


def dashboard_command(home: str | os.PathLike[str]) -> str:
    """The one command that opens the dashboards on the store of ``home`` (what ``dmslab demo`` prints last)."""
    return f"dmslab --home {home} dashboard"


def _cmd_dashboard(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    require_extra("dashboards", "dmslab dashboard", "voila", "ipywidgets", "anywidget", "altair", "vl_convert")
    from dmslab.dashboards import DASHBOARDS_DIR, DashboardOptions, new_token, server_environment, voila_argv
    from dmslab.store import Store

    settings = settings_from(args)
    Store(settings.database_url, read_only=True).close()  # a clear error now, not in every dashboard's kernel
    given = args.token or os.environ.get(TOKEN_VARIABLE, "")
    options = DashboardOptions(token=given or new_token(), host=args.host, port=args.port,
                               notebooks_dir=Path(args.notebooks or DASHBOARDS_DIR), base_url=args.base_url,
                               pool_size=args.pool_size, cull_idle_s=args.cull_idle)
    if not options.loopback:
        print(f"dmslab: warning: listening on {options.host}: put the dashboards behind the hospital's reverse "
              "proxy (TLS, login); see dashboards/README.md", file=sys.stderr)
    print(f"dashboards of {settings.masked()['database_url']}")
    print(f"open: {options.url()}" if not given else
          f"open: {options.url().replace(options.token, '<token>')} (the token you gave)", flush=True)
    # this process is the server: its kernels inherit
    os.environ.update(server_environment(settings.database_url, viewer_url=settings.viewer_url))
    from voila.app import Voila

    Voila.launch_instance(argv=voila_argv(options))
    return 0


def _dashboard(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8866, help="TCP port (default 8866)")
    p.add_argument("--token", default=None,
                   help=f"access token (default ${TOKEN_VARIABLE}, else a new one, printed once)")
    p.add_argument("--base-url", default="/", help="URL prefix behind a reverse proxy, e.g. /dmslab/ (default /)")
    p.add_argument("--pool-size", type=int, default=1,
                   help="preheated kernels per dashboard (default 1; 0: start a kernel per visit)")
    p.add_argument("--cull-idle", type=int, default=600,
                   help="shut a kernel down after this many seconds idle with its page closed (default 600)")
    p.add_argument("--notebooks", default=None, help="folder of the dashboards (default: dmslab's dashboards/)")
    p.set_defaults(func=_cmd_dashboard)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {"dashboard": _dashboard}
