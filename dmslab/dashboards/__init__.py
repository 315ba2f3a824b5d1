"""Dashboards: ``dashboards/*.ipynb`` served by Voila (``dmslab dashboard``), offline, on the site's store.

:mod:`dmslab.dashboards.overview` holds what the department overview shows; :func:`open_store` is how every
dashboard opens the store (read-only, from ``DMSLAB_DATABASE_URL``, which ``dmslab dashboard`` gives its kernels).
"""

from __future__ import annotations

import os

from dmslab.dashboards import drl_explorer, overview
from dmslab.dashboards._server import (
    DASHBOARDS_DIR,
    SHARE_DIR,
    TEMPLATE,
    DashboardOptions,
    kernel_environment,
    new_token,
    server_environment,
    voila_argv,
)
from dmslab.errors import ConfigError
from dmslab.store import Store

__all__ = ["DASHBOARDS_DIR", "SHARE_DIR", "TEMPLATE", "DashboardOptions", "kernel_environment", "new_token",
           "drl_explorer", "open_store", "overview", "server_environment", "voila_argv"]


def open_store(database_url: str = "") -> Store:
    """The store of a dashboard, read-only: ``database_url``, else ``DMSLAB_DATABASE_URL``.

    Raises
    ------
    ConfigError
        When neither is set (start the dashboards with ``dmslab dashboard``).
    """
    url = database_url or os.environ.get("DMSLAB_DATABASE_URL", "")
    if not url:
        raise ConfigError("no database: start the dashboards with `dmslab dashboard` (it sets DMSLAB_DATABASE_URL "
                          "for the kernels) or set DMSLAB_DATABASE_URL")
    return Store(url, read_only=True)
