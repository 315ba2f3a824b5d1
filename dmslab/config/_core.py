"""One typed, frozen :class:`Settings` object, read once, holding every section.

Precedence: defaults < TOML file (``$DMSLAB_CONFIG`` or ``<home>/dmslab.toml``; the core settings in its
``[dmslab]`` table, the others in ``[receiver]``, ``[smtp]``, ``[qr]``) < ``DMSLAB_*`` environment variables <
explicit keyword arguments (the CLI's flags). Nothing is created on disk by reading settings.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dmslab.config._layers import coerce, env_names, read_layers, read_section
from dmslab.config._qr import QrSettings
from dmslab.config._receiver import ReceiverSettings
from dmslab.config._smtp import SmtpSettings
from dmslab.config._viewer import check_viewer_url
from dmslab.errors import ConfigError

__all__ = ["DEFAULT_NOT_PATIENT_PATTERNS", "Settings", "load_settings"]

logger = logging.getLogger(__name__)

_SECTIONS = {"receiver": ReceiverSettings, "smtp": SmtpSettings, "qr": QrSettings}

#: Default ``not_patient_patterns``: "phantom" anywhere, and QA, QC, test or physics as a word of their own
#: (not inside a longer word: "QA001" and "TEST^PATIENT" match, the names "Qasim", "Testa" do not).
DEFAULT_NOT_PATIENT_PATTERNS: tuple[str, ...] = ("phantom", "(?<![a-z])(qa|qc|test|physics)(?![a-z])")


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
    not_patient_patterns
        Regular expressions (Python ``re``, case-insensitive, searched anywhere) that mark a study as not a
        patient exam — phantoms, QA, constancy tests — when the Patient's Name (0010,0010) or Patient ID
        (0010,0020) matches one (``DMSLAB_NOT_PATIENT_PATTERNS``: a JSON list, or comma-separated patterns
        without commas). Checked at ingest, where
        the name is still known; the match is stored as ``study.exclusion_reason`` (``not_patient_pattern:
        <pattern>``), and such studies, like objects with Quality Control Image (0028,0300) or Quality
        Control Subject (0010,0200) YES, are left out of statistics, DRL audits and alerts by default.
        Default :data:`DEFAULT_NOT_PATIENT_PATTERNS`; an empty list turns the name check off. A pattern that
        matches an empty name (it would exclude every study) is an error.
    site_name
        The site's name as reports show it in their title block (``DMSLAB_SITE_NAME``); default empty.
    viewer_url
        Template of a link that opens an exam's images in the site's viewer (``DMSLAB_VIEWER_URL``), with the
        placeholder ``{study_uid}`` (Study Instance UID, URL-quoted), e.g.
        ``"https://pacs.hospital.local/viewer?study={study_uid}"``. Not ``{accession}``: accession numbers are
        stored only as keyed pseudonyms. Empty (default): exam lists have no links.
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
    not_patient_patterns: tuple[str, ...] = DEFAULT_NOT_PATIENT_PATTERNS
    site_name: str = ""
    viewer_url: str = ""
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
        _check_patterns(self.not_patient_patterns)
        check_viewer_url(self.viewer_url)

    def masked(self) -> dict[str, Any]:
        """The settings for logging, with the password of the database URL hidden."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _SECTIONS}
        out["database_url"] = _hide_password(self.database_url)
        out["smtp"] = self.smtp.masked()
        return out

    def core_environment(self) -> dict[str, str]:
        """The core settings as ``DMSLAB_*`` environment variables (password included), for a child process
        that calls :func:`load_settings`."""
        def text(v: Any) -> str:  # a list as JSON: a regular expression may hold commas
            return json.dumps(list(v)) if isinstance(v, tuple) else str(v)

        return {f"DMSLAB_{f.name.upper()}": text(getattr(self, f.name)) for f in fields(self)
                if f.name not in _SECTIONS}


#: ``scheme://user:`` then the password up to the first ``@``: how SQLAlchemy's URL parser splits a database URL.
_PASSWORD = re.compile(r"^([\w+]+://[^:/]*:)[^@]*@")


def _hide_password(url: str) -> str:
    """``url`` with its password shown as ``***`` (split as the store's URL parser splits it).

    >>> _hide_password("postgresql+psycopg://dms:s3cr%40t@db:5433/dmslab?sslmode=require")
    'postgresql+psycopg://dms:***@db:5433/dmslab?sslmode=require'
    >>> _hide_password("sqlite:///home/dmslab.sqlite")
    'sqlite:///home/dmslab.sqlite'
    """
    return _PASSWORD.sub(r"\1***@", url, count=1)


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"[dmslab] not_patient_patterns: {text!r} is neither a JSON list nor comma-separated "
                          f"patterns ({exc})") from None
    if not isinstance(value, list):
        raise ConfigError(f"[dmslab] not_patient_patterns must be a list, got {text!r}")
    return [str(v) for v in value]


def _check_patterns(patterns: tuple[str, ...]) -> None:
    """Every ``not_patient_patterns`` entry compiles and does not match an empty name."""
    if not isinstance(patterns, tuple) or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f"[dmslab] not_patient_patterns must be a list of regular expressions, got {patterns!r}")
    for p in patterns:
        try:
            rx = re.compile(p, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"[dmslab] not_patient_patterns: {p!r} is not a valid regular expression ({exc}); "
                              "use Python re syntax, e.g. 'phantom' or '^QA[0-9]+$'") from None
        if rx.search("") is not None:
            raise ConfigError(f"[dmslab] not_patient_patterns: {p!r} matches an empty name and would exclude "
                              "every study; give a pattern that needs at least one character")


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
    raw = read_layers(home, "dmslab", env, overrides)
    if isinstance(raw.get("not_patient_patterns"), str) and raw["not_patient_patterns"].lstrip().startswith("["):
        raw["not_patient_patterns"] = _json_list(raw["not_patient_patterns"])
    values = {k: coerce(Settings, k, v) for k, v in raw.items()}
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
