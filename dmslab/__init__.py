"""dmslab — radiation dose management: RDSR ingest, SQL store, DRL audit.

Importing dmslab has no side effects beyond adding a NullHandler to the ``dmslab`` logger.
"""

from __future__ import annotations

import logging

from dmslab._version import __version__

__all__ = ["__version__", "debug_logger", "show_versions"]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def debug_logger(level: int = logging.DEBUG) -> logging.Logger:
    """Attach a stream handler to the ``dmslab`` logger (for the CLI's ``-v`` and for notebooks)."""
    log = logging.getLogger(__name__)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.NullHandler) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(level)
    return log


def show_versions() -> str:
    """Versions of dmslab and its main dependencies, for bug reports."""
    import importlib.metadata as md
    import platform

    lines = [f"dmslab: {__version__}", f"python: {platform.python_version()}", f"platform: {platform.platform()}"]
    for name in ("pydicom", "pynetdicom", "sqlalchemy", "alembic", "pandas", "numpy", "psycopg"):
        try:
            lines.append(f"{name}: {md.version(name)}")
        except md.PackageNotFoundError:
            lines.append(f"{name}: not installed")
    return "\n".join(lines)
