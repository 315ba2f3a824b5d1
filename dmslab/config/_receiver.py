"""The ``[receiver]`` section: AE title, port, allow-list, inbox, TLS of ``dmslab receive`` — validated, frozen.

Environment variables are the upper-cased field names, e.g. ``DMSLAB_AE_TITLE``, ``DMSLAB_PORT``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dmslab.errors import ConfigError

__all__ = ["ReceiverSettings"]

_AFTER = ("delete", "archive")


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """Configuration of ``dmslab receive``.

    Attributes
    ----------
    ae_title
        Our AE title, 1-16 characters (``DMSLAB_AE_TITLE``; default ``DMSLAB``).
    port
        TCP port to listen on (``DMSLAB_PORT``; default 11112; 0 picks a free port).
    bind_address
        Address to listen on (``DMSLAB_BIND_ADDRESS``; default ``127.0.0.1``: this machine only; ``0.0.0.0`` for
        all IPv4 interfaces).
    allowed_aets
        Calling AE titles allowed to associate (``DMSLAB_ALLOWED_AETS``, comma separated); empty = any, which the
        receiver accepts on a loopback address only, unless ``allow_any`` is set.
    allow_any
        Listen on a non-loopback address with an empty ``allowed_aets`` (any calling AE may store objects)
        (``DMSLAB_ALLOW_ANY``, ``--allow-any``; default false: the receiver refuses to start instead).
    inbox_dir
        The durable inbox (``DMSLAB_INBOX_DIR``; default ``<home>/inbox``).
    min_free_bytes
        Refuse objects when the inbox file system has less free space than this, in bytes
        (``DMSLAB_MIN_FREE_BYTES``; default 200 MB).
    max_object_bytes
        Refuse single objects larger than this, in bytes (``DMSLAB_MAX_OBJECT_BYTES``; default 512 MiB).
    after_ingest
        ``delete`` (default: ingest recorded the header values, pixel data are not kept) or ``archive`` (move the
        file to ``archive_dir``) (``DMSLAB_AFTER_INGEST``).
    archive_dir
        Where ``archive`` keeps ingested files (``DMSLAB_ARCHIVE_DIR``; default ``<home>/archive``).
    ingest_batch
        Objects per ingest batch of the worker (``DMSLAB_INGEST_BATCH``; default 200).
    poll_s
        Seconds between inbox scans when idle (``DMSLAB_POLL_S``; default 0.2 s).
    max_backoff_s
        Longest wait between retries when the database is unavailable (``DMSLAB_MAX_BACKOFF_S``; default 60 s).
    tls_cert, tls_key
        PEM certificate chain and private key: when both are set the receiver speaks DICOM TLS only
        (``DMSLAB_TLS_CERT``, ``DMSLAB_TLS_KEY``).
    tls_ca
        PEM bundle of CAs whose client certificates are required (``DMSLAB_TLS_CA``; optional, mutual TLS).
    network_timeout_s
        Idle seconds before an association is aborted, and the longest time one PDU may take to arrive once it has
        begun (``DMSLAB_NETWORK_TIMEOUT_S``; default 30 s).
    acse_timeout_s
        Seconds a new connection has to complete its association (TLS handshake and A-ASSOCIATE-RQ) before it is
        closed, so that silent or trickling connections free their slot fast (``DMSLAB_ACSE_TIMEOUT_S``; default
        5 s).
    max_associations
        Connections served at once, all senders together; more are closed at accept
        (``DMSLAB_MAX_ASSOCIATIONS``; default 20).
    max_associations_per_address
        Connections served at once from one IP address; more are closed at accept, so that one host cannot take
        every slot (``DMSLAB_MAX_ASSOCIATIONS_PER_ADDRESS``; default 4, at most ``max_associations``).
    mpps
        Accept MPPS N-CREATE/N-SET on the receiver's port (``DMSLAB_MPPS``; default true).
    """

    ae_title: str = "DMSLAB"
    port: int = 11112
    bind_address: str = "127.0.0.1"
    allowed_aets: tuple[str, ...] = ()
    allow_any: bool = False
    inbox_dir: Path = Path("inbox")
    min_free_bytes: int = 200 * 1024 * 1024
    max_object_bytes: int = 512 * 1024 * 1024
    after_ingest: str = "delete"
    archive_dir: Path = Path("archive")
    ingest_batch: int = 200
    poll_s: float = 0.2
    max_backoff_s: float = 60.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    network_timeout_s: float = 30.0
    acse_timeout_s: float = 5.0
    max_associations: int = 20
    max_associations_per_address: int = 4
    mpps: bool = True

    SECTION: ClassVar[str] = "receiver"
    ENV_PREFIX: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.ae_title.strip()) <= 16 or "\\" in self.ae_title:
            raise ConfigError(f"ae_title must be 1-16 characters without backslash, got {self.ae_title!r}")
        for aet in self.allowed_aets:
            if not 1 <= len(aet) <= 16:
                raise ConfigError(f"allowed_aets: each AE title must be 1-16 characters, got {aet!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0-65535, got {self.port}")
        if self.after_ingest not in _AFTER:
            raise ConfigError(f"after_ingest must be one of {list(_AFTER)}, got {self.after_ingest!r}")
        if self.min_free_bytes < 0:
            raise ConfigError(f"min_free_bytes must be >= 0, got {self.min_free_bytes}")
        for name in ("max_object_bytes", "ingest_batch", "poll_s", "max_backoff_s", "network_timeout_s",
                     "acse_timeout_s", "max_associations", "max_associations_per_address"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        self._check_pairs()

    def _check_pairs(self) -> None:
        if self.max_associations_per_address > self.max_associations:
            raise ConfigError(f"max_associations_per_address ({self.max_associations_per_address}) must not exceed "
                              f"max_associations ({self.max_associations})")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together (or neither)")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context, or ``None`` when TLS is off."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        if self.tls_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.tls_ca)
        return ctx
