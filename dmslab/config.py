"""One typed, frozen :class:`Settings` object, read once.

Precedence: defaults < TOML file (``$DMSLAB_CONFIG`` or ``<home>/dmslab.toml``) < ``DMSLAB_*`` environment
variables < explicit keyword arguments (the CLI's flags). Nothing is created on disk by reading settings.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from dmslab.errors import ConfigError

__all__ = ["Settings", "load_settings", "read_layers"]

logger = logging.getLogger(__name__)

_BOOL = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


@dataclass(frozen=True, slots=True)
class Settings:
    """dmslab configuration.

    Attributes
    ----------
    home
        Folder for the default database, key file and quarantine (``DMSLAB_HOME``; default ``~/.dmslab``).
    database_url
        SQLAlchemy URL (``DMSLAB_DATABASE_URL``); default: SQLite file ``<home>/dmslab.sqlite``.
    key_file
        Pseudonymisation key (``DMSLAB_KEY_FILE``); default ``<home>/pseudonym.key``. Keep it outside the
        database and back it up.
    quarantine_dir
        Where rejected objects are copied with their reason (``DMSLAB_QUARANTINE_DIR``); default
        ``<home>/quarantine``.
    workers
        Parser processes for ingest (``DMSLAB_WORKERS``); default: number of CPUs.
    batch_size
        Reports written per database transaction (``DMSLAB_BATCH_SIZE``); default 200.
    store_patient_name
        Reserved: patient names are never stored in this version (must be false).
    """

    home: Path
    database_url: str
    key_file: Path
    quarantine_dir: Path
    workers: int = max(1, os.cpu_count() or 1)
    batch_size: int = 200
    store_patient_name: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.store_patient_name:
            raise ConfigError("store_patient_name=true is not supported: dmslab stores no patient names")

    def masked(self) -> dict[str, Any]:
        """The settings for logging, with the password of the database URL hidden."""
        from sqlalchemy.engine import make_url

        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        return out


def _coerce(name: str, raw: Any) -> Any:
    if name in ("workers", "batch_size"):
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if name == "store_patient_name":
        if isinstance(raw, bool):
            return raw
        value = _BOOL.get(str(raw).strip().lower())
        if value is None:
            raise ConfigError(f"{name} must be one of {sorted(_BOOL)}, got {raw!r}")
        return value
    if name in ("home", "key_file", "quarantine_dir"):
        return Path(str(raw)).expanduser()
    return str(raw)


def read_layers(home: Path, section: str, names: set[str], overrides: dict[str, Any]) -> dict[str, Any]:
    """Raw values of one settings section: the ``[section]`` table of the TOML file, then ``DMSLAB_<NAME>``
    environment variables, then ``overrides`` (``None`` ignored). Unknown names in the file are an error."""
    values: dict[str, Any] = {}
    cfg_file = Path(os.environ.get("DMSLAB_CONFIG", home / "dmslab.toml"))
    if cfg_file.is_file():
        with open(cfg_file, "rb") as fh:
            file_values = tomllib.load(fh).get(section, {})
        bad = set(file_values) - names
        if bad:
            raise ConfigError(f"{cfg_file} [{section}]: unknown setting(s) {sorted(bad)}; allowed: {sorted(names)}")
        values.update(file_values)
    for name in names:
        env = os.environ.get(f"DMSLAB_{name.upper()}")
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the TOML file, the environment and ``overrides`` (``None`` values are ignored)."""
    names = {f.name for f in fields(Settings)}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; allowed: {sorted(names)}")
    home = Path(os.environ.get("DMSLAB_HOME", overrides.get("home") or "~/.dmslab")).expanduser()
    values = {k: _coerce(k, v) for k, v in read_layers(home, "dmslab", names, overrides).items()}
    home = values.setdefault("home", home)
    values.setdefault("database_url", f"sqlite:///{home / 'dmslab.sqlite'}")
    values.setdefault("key_file", home / "pseudonym.key")
    values.setdefault("quarantine_dir", home / "quarantine")
    paths = ("home", "database_url", "key_file", "quarantine_dir")
    return replace(Settings(**{k: values[k] for k in paths}), **{k: v for k, v in values.items() if k not in paths})
