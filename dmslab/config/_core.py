"""One typed, frozen :class:`Settings` object, read once, holding every section.

Precedence: defaults < TOML file (``$DMSLAB_CONFIG`` or ``<home>/dmslab.toml``; the core settings in its
``[dmslab]`` table, the others in ``[receiver]``, ``[smtp]``, ``[qr]``) < ``DMSLAB_*`` environment variables <
explicit keyword arguments (the CLI's flags). Nothing is created on disk by reading settings.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dmslab.config._layers import coerce, env_names, read_layers, read_section
from dmslab.config._qr import QrSettings
from dmslab.config._receiver import ReceiverSettings
from dmslab.config._smtp import SmtpSettings
from dmslab.errors import ConfigError

__all__ = ["Settings", "load_settings"]

logger = logging.getLogger(__name__)

_SECTIONS = {"receiver": ReceiverSettings, "smtp": SmtpSettings, "qr": QrSettings}


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
    receiver
        ``dmslab receive``: AE title, port, allow-list, inbox, TLS (``[receiver]``, see
        :class:`~dmslab.config.ReceiverSettings`).
    smtp
        E-mail of alerts and reports (``[smtp]``, see :class:`~dmslab.config.SmtpSettings`).
    qr
        The PACS of ``dmslab qr`` (``[qr]``, see :class:`~dmslab.config.QrSettings`).
    """

    home: Path
    database_url: str
    key_file: Path
    quarantine_dir: Path
    workers: int = max(1, os.cpu_count() or 1)
    batch_size: int = 200
    store_patient_name: bool = False
    receiver: ReceiverSettings = field(default_factory=ReceiverSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    qr: QrSettings = field(default_factory=QrSettings)

    SECTION = "dmslab"

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

        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _SECTIONS}
        out["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        out["smtp"] = self.smtp.masked()
        return out

    def core_environment(self) -> dict[str, str]:
        """The core settings as ``DMSLAB_*`` environment variables (password included), for a child process
        that calls :func:`load_settings`."""
        return {f"DMSLAB_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)
                if f.name not in _SECTIONS}


def _core_fields() -> set[str]:
    return {f.name for f in fields(Settings) if f.name not in _SECTIONS}


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the TOML file, the environment and ``overrides`` (``None`` values are ignored).

    ``overrides`` are core settings (``home``, ``database_url``, ``workers``...); sections are changed with
    :func:`dmslab.config.override`, e.g. ``replace(s, receiver=override(s.receiver, port=104))``.

    Raises
    ------
    ConfigError
        On an unknown setting (in the file, or in ``overrides``) or a value that cannot be used; the message
        names the section and the setting.
    """
    names = _core_fields()
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; allowed: {sorted(names)}")
    home = Path(os.environ.get("DMSLAB_HOME", overrides.get("home") or "~/.dmslab")).expanduser()
    env = {k: v for k, v in env_names(Settings).items() if k in names}
    values = {k: coerce(Settings, k, v) for k, v in read_layers(home, "dmslab", env, overrides).items()}
    home = values.setdefault("home", home)
    values.setdefault("database_url", f"sqlite:///{home / 'dmslab.sqlite'}")
    values.setdefault("key_file", home / "pseudonym.key")
    values.setdefault("quarantine_dir", home / "quarantine")
    values["receiver"] = read_section(ReceiverSettings, home, {"inbox_dir": home / "inbox",
                                                               "archive_dir": home / "archive"})
    values["smtp"] = read_section(SmtpSettings, home)
    values["qr"] = read_section(QrSettings, home, {"inbox_dir": home / "qr-inbox"})
    paths = ("home", "database_url", "key_file", "quarantine_dir")
    return replace(Settings(**{k: values[k] for k in paths}), **{k: v for k, v in values.items() if k not in paths})
