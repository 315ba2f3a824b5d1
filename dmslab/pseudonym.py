"""Pseudonymisation of patient identifiers with a keyed HMAC (SHA-256).

The key is a random 32-byte secret created once by ``dmslab init`` and kept in a file outside the
database (mode 0600). The same key maps the same Patient ID to the same pseudonym, so studies of one
patient link up, while the database alone cannot be reversed to identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from dmslab.errors import KeyMissingError, KeyPermissionError

__all__ = ["Pseudonymiser", "create_key", "load_key"]

_KEY_BYTES = 32


def create_key(path: str | os.PathLike[str]) -> Path:
    """Create a new random key file at ``path`` (mode 0600); refuse to overwrite an existing key."""
    p = Path(path)
    if p.exists():
        raise FileExistsError(f"a pseudonymisation key already exists at {p}; refusing to overwrite it")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(_KEY_BYTES) + "\n")
    return p


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The key in the file written by :func:`create_key`.

    Raises
    ------
    KeyMissingError
        There is no key file (``dmslab init`` creates it).
    KeyPermissionError
        Users other than the owner may read or change the file (group or world permission bits set); the
        message says how to fix it.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyMissingError(str(p)) from None
    with os.fdopen(fd) as fh:
        mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
        if mode & 0o077:
            raise KeyPermissionError(str(p), mode)
        return bytes.fromhex(fh.read().strip())


class Pseudonymiser:
    """Map identifiers to keyed HMAC-SHA256 pseudonyms.

    >>> p = Pseudonymiser(bytes(32))
    >>> p("ID 123") == p(" ID 123 ") and len(p("ID 123")) == 64
    True
    >>> p("") is None
    True
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < 16:
            raise ValueError("key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Pseudonymiser:
        """Load the key written by :func:`create_key` (see :func:`load_key` for what is refused)."""
        return cls(load_key(path))

    def __call__(self, identifier: str | None) -> str | None:
        """The pseudonym of ``identifier`` (surrounding blanks ignored); ``None`` for an empty value."""
        if identifier is None:
            return None
        value = str(identifier).strip()
        if not value:
            return None
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Pseudonymiser(key=***)"
