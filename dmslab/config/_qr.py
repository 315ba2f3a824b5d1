"""The ``[qr]`` section: the PACS that ``dmslab qr`` back-fills from, configured once per site.

Environment variables: ``DMSLAB_QR_<NAME>``, e.g. ``DMSLAB_QR_PACS_HOST``. The command's arguments and flags
override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dmslab.errors import ConfigError

__all__ = ["QrSettings"]


def _aet_ok(value: str | None) -> bool:
    return value is None or (1 <= len(value.strip()) <= 16 and "\\" not in value)


@dataclass(frozen=True, slots=True)
class QrSettings:
    """Which PACS to query and how to retrieve from it.

    Attributes
    ----------
    pacs_host, pacs_port, pacs_aet
        The PACS: host name or address, DICOM port and AE title (called AE). ``dmslab qr`` needs all three, from
        here or from its arguments.
    calling_aet
        Our AE title towards the PACS (default ``DMSLAB``).
    move_aet
        Retrieve by C-MOVE to this AE title instead of C-GET (e.g. the AE title of a running ``dmslab receive``).
    listen_port
        With ``move_aet``: receive the moved objects in the ``dmslab qr`` process itself on this port.
    timeout_s
        Network and DIMSE timeout [s] (default 30).
    chunk_days
        Days per study-level C-FIND window (PACSs cap result sets; default 7).
    inbox_dir
        Where retrieved objects wait for ingest (default ``<home>/qr-inbox``).
    """

    pacs_host: str | None = None
    pacs_port: int | None = None
    pacs_aet: str | None = None
    calling_aet: str = "DMSLAB"
    move_aet: str | None = None
    listen_port: int | None = None
    timeout_s: float = 30.0
    chunk_days: int = 7
    inbox_dir: Path = Path("qr-inbox")

    SECTION: ClassVar[str] = "qr"
    ENV_PREFIX: ClassVar[str] = "QR_"

    def __post_init__(self) -> None:
        for name in ("pacs_aet", "calling_aet", "move_aet"):
            if not _aet_ok(getattr(self, name)):
                raise ConfigError(f"[qr] {name} must be 1-16 characters without a backslash, got "
                                  f"{getattr(self, name)!r}")
        for name in ("pacs_port", "listen_port"):
            port = getattr(self, name)
            if port is not None and not 0 < port < 65536:
                raise ConfigError(f"[qr] {name} must be 1..65535, got {port}")
        if self.timeout_s <= 0 or self.chunk_days < 1:
            raise ConfigError(f"[qr] timeout_s must be > 0 and chunk_days >= 1, got {self.timeout_s}, "
                              f"{self.chunk_days}")
