"""How ``dmslab dashboard`` serves ``dashboards/*.ipynb`` with Voila: the options, the kernel's environment and the
Voila command line (the CLI runs it; this module prints nothing and starts nothing).

* The database reaches the kernels through ``DMSLAB_DATABASE_URL`` (made absolute: a kernel runs in the notebook's
  folder), never as a path relative to the notebook.
* Loopback by default, a token always (generated when none is given), idle kernels culled, a preheated pool.
* dmslab's own Voila template (``share/voila/templates/dmslab``, found through ``JUPYTER_PATH``) and altair's
  offline renderer: no page asks anything of another machine.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from dmslab.errors import ConfigError

__all__ = ["DASHBOARDS_DIR", "KERNEL_CLIENT", "KERNEL_MANAGER", "SHARE_DIR", "TEMPLATE", "DashboardOptions",
           "kernel_environment", "new_token", "server_environment", "voila_argv"]

#: The dashboards shipped with dmslab (in the repository, next to the package).
DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
#: A Jupyter data folder holding ``voila/templates/dmslab`` (prepended to ``JUPYTER_PATH``).
SHARE_DIR = Path(__file__).resolve().parent / "share"
#: The name of dmslab's Voila template (Voila's ``lab`` without links to a public CDN).
TEMPLATE = "dmslab"
#: The kernel client of Voila's executor (:mod:`dmslab._kernel_client`; a name, so that this module
#: imports without jupyter_client).
KERNEL_CLIENT = "dmslab._kernel_client.WakefulKernelClient"
#: The kernel manager under Voila's pool (:mod:`dmslab.dashboards._kernel_manager`).
KERNEL_MANAGER = "dmslab.dashboards._kernel_manager.PoolAwareKernelManager"


def new_token() -> str:
    """A fresh random access token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """How the dashboards are served.

    Attributes
    ----------
    token
        What a browser must present (``?token=...`` once, then a cookie); at least 16 characters.
    host
        Address to listen on; default loopback (``127.0.0.1``). Anything else should sit behind the hospital's
        reverse proxy (``dashboards/README.md``).
    port
        TCP port (1..65535).
    notebooks_dir
        Folder of the dashboards (``*.ipynb``).
    base_url
        URL prefix when served under a path of a reverse proxy or JupyterHub (``/dmslab/``); starts and ends
        with ``/``.
    pool_size
        Preheated kernels per dashboard (0: none, each visit starts a kernel: 5-7 s instead of 1.5-2.5 s).
    cull_idle_s
        A kernel whose page was closed is shut down after this many seconds without activity [s].
    """

    token: str
    host: str = "127.0.0.1"
    port: int = 8866
    notebooks_dir: Path = DASHBOARDS_DIR
    base_url: str = "/"
    pool_size: int = 1
    cull_idle_s: int = 600

    def __post_init__(self) -> None:
        if len(self.token) < 16:
            raise ConfigError("the dashboard token must have at least 16 characters (or leave it out: dmslab "
                              "generates one)")
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ConfigError(f"--host must be an IP address such as 127.0.0.1, got {self.host!r}") from None
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be 1..65535, got {self.port}")
        if not (self.base_url.startswith("/") and self.base_url.endswith("/")):
            raise ConfigError(f"--base-url must start and end with '/', got {self.base_url!r}")
        if self.pool_size < 0 or self.cull_idle_s < 1:
            raise ConfigError(f"pool size must be >= 0 and the cull time >= 1 s, got {self.pool_size}, "
                              f"{self.cull_idle_s}")
        if not self.notebooks_dir.is_dir() or not any(self.notebooks_dir.glob("*.ipynb")):
            raise ConfigError(f"no dashboards (*.ipynb) in {self.notebooks_dir}")

    @property
    def loopback(self) -> bool:
        """Whether only this machine can connect."""
        return ipaddress.ip_address(self.host).is_loopback

    def url(self, notebook: str | None = None) -> str:
        """The address that opens the dashboards (or one of them), token included."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        page = f"voila/render/{notebook}" if notebook else ""
        return f"http://{host}:{self.port}{self.base_url}{page}?token={self.token}"


def kernel_environment(database_url: str, viewer_url: str = "") -> dict[str, str]:
    """What a dashboard's kernel needs in its environment: ``DMSLAB_DATABASE_URL``, absolute, and the site's
    ``DMSLAB_VIEWER_URL`` when it has one (a setting in ``dmslab.toml`` reaches the kernels this way)."""
    from dmslab.store import absolute_url

    env = {"DMSLAB_DATABASE_URL": absolute_url(database_url)}
    return {**env, "DMSLAB_VIEWER_URL": viewer_url} if viewer_url else env


def server_environment(database_url: str, base: dict[str, str] | None = None, *,
                       viewer_url: str = "") -> dict[str, str]:
    """The environment of the Voila server process (its kernels inherit it): ``base`` (default this process's),
    the kernel's variables, and dmslab's template folder first on ``JUPYTER_PATH``."""
    env = dict(os.environ if base is None else base)
    paths = [str(SHARE_DIR), *filter(None, env.get("JUPYTER_PATH", "").split(os.pathsep))]
    return {**env, **kernel_environment(database_url, viewer_url), "JUPYTER_PATH": os.pathsep.join(paths)}


def voila_argv(options: DashboardOptions) -> list[str]:
    """Voila's command line (without the program name) for ``options``."""
    preheat = options.pool_size > 0
    return [
        str(options.notebooks_dir),
        f"--Voila.ip={options.host}",
        f"--Voila.port={options.port}",
        f"--Voila.base_url={options.base_url}",
        f"--Voila.token={options.token}",
        "--Voila.open_browser=False",
        f"--template={TEMPLATE}",
        "--theme=light",
        "--VoilaConfiguration.show_tracebacks=False",
        f"--VoilaConfiguration.preheat_kernel={preheat}",
        f"--VoilaConfiguration.default_pool_size={options.pool_size}",
        f"--MappingKernelManager.cull_idle_timeout={options.cull_idle_s}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, options.cull_idle_s // 2))}",
        "--MappingKernelManager.cull_connected=False",
        # the executor's kernel client: without it a page can stall at "Executing N of M" (_kernel_client.py)
        f"--AsyncKernelManager.client_factory={KERNEL_CLIENT}",
        # pooled kernels count as active: else a kernel handed out after 10 min in the pool is culled (_kernel_manager)
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
    ]
