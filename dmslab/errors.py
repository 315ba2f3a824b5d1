"""Exceptions and warnings raised by dmslab.

Every ingest failure carries a stable ``reason`` code; the code becomes the quarantine reason and the
``source_object.reason`` column, so MPEs can count failures by kind.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from types import ModuleType

__all__ = [
    "ConfigError",
    "DatabaseMissingError",
    "DatabaseUnavailableError",
    "DatabaseUrlError",
    "DicomStructureError",
    "DmslabError",
    "DmslabWarning",
    "FilterError",
    "InboxFullError",
    "IngestError",
    "KeyMissingError",
    "KeyPermissionError",
    "MissingExtraError",
    "MppsError",
    "PdfError",
    "SkinDoseError",
    "StoreBusyError",
    "StoreError",
    "UnknownUnitError",
    "VendorQuirkWarning",
    "import_optional",
    "warn_and_log",
]


class DmslabError(Exception):
    """Base class of every dmslab error."""


class ConfigError(DmslabError, ValueError):
    """A setting has a value that is not allowed; the message lists what is allowed."""


class FilterError(DmslabError, ValueError):
    """A study filter that selects nothing meaningful: a period that ends before it starts, a bound that is not a
    date, a patient group that is neither ``adult`` nor a paediatric band; the message says what to give."""


class KeyMissingError(DmslabError):
    """The pseudonymisation key file does not exist yet."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"No pseudonymisation key at {path!r}. Run `dmslab init` once to create it "
            "(keep the key outside the database and back it up: without it, patients cannot be re-linked)."
        )


class KeyPermissionError(DmslabError):
    """The pseudonymisation key file may be read or changed by other users (group or world permissions)."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(
            f"the pseudonymisation key {path} is open to other users (mode {mode:04o}); refusing to use it: "
            f"make it private with `chmod 600 {path}` (and check who has seen it)"
        )


class DatabaseUrlError(ConfigError):
    """The database URL cannot be used: malformed, an unknown database, or its driver is not installed."""


class DatabaseUnavailableError(DmslabError):
    """The database at a (well-formed) URL cannot be reached or refused the connection."""


class DatabaseMissingError(DmslabError):
    """There is no dmslab database at the URL yet (``dmslab init`` creates it)."""


class IngestError(DmslabError):
    """A DICOM object could not be ingested.

    Parameters
    ----------
    reason
        Stable machine-readable code, e.g. ``not_dicom``, ``not_a_dose_report``,
        ``unsupported_template``, ``missing_required_concept``, ``unknown_unit``, ``corrupt``,
        ``unreadable`` (the file cannot be read, e.g. no read permission: it is kept where it is).
    detail
        Human-readable explanation, saying what to do next where possible.
    """

    REASONS = frozenset(
        {
            "not_dicom",
            "corrupt",
            "unsupported_sop_class",
            "not_a_dose_report",
            "unsupported_template",
            "missing_required_concept",
            "unknown_unit",
            "no_importer",
            "unreadable",
        }
    )

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown ingest reason {reason!r}; allowed: {sorted(self.REASONS)}")
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class UnknownUnitError(IngestError):
    """A measured value came with a unit dmslab does not know how to convert."""

    def __init__(self, unit: str, quantity: str) -> None:
        super().__init__(
            "unknown_unit",
            f"unit {unit!r} for {quantity} is not in the units map; add it to dmslab/data/units_map.csv "
            "with a source if it is a genuine vendor variant",
        )


class DicomStructureError(DmslabError, ValueError):
    """DICOM bytes whose element structure does not hold together (:mod:`dmslab.dicom`).

    Parameters
    ----------
    reason
        Stable code: ``truncated`` (the bytes end inside an element, item or sequence), ``bad_item`` (a sequence
        holds something other than items), ``bad_delimiter`` (a delimiter out of place), ``overrun`` (an element
        or item runs past the end of its item or sequence), ``undefined_length`` (an undefined length on a value
        that is not a sequence), ``too_deep`` (sequences nested deeper than Python's recursion limit).
    offset
        The byte position where the walk found it.
    detail
        Human-readable explanation.
    """

    REASONS = frozenset({"truncated", "bad_item", "bad_delimiter", "overrun", "undefined_length", "too_deep"})

    def __init__(self, reason: str, offset: int, detail: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown structure reason {reason!r}; allowed: {sorted(self.REASONS)}")
        self.reason = reason
        self.offset = offset
        self.detail = detail
        super().__init__(f"{detail} (byte {offset})")


class StoreError(DmslabError):
    """Writing to the store failed; the transaction was rolled back and nothing of the batch was kept.

    ``dmslab.jobs`` retries such a batch object by object, so one bad object cannot block the others.
    """


class StoreBusyError(StoreError):
    """Another writer held the database lock for longer than the store's lock timeout.

    Nothing was written; the files stay where they are and a later run ingests them. Raise the timeout
    (``Store(lock_timeout_s=...)``) or look for a writer that keeps its transaction open.
    """


class MppsError(DmslabError):
    """An MPPS N-CREATE / N-SET that cannot be applied (DICOM PS3.4 F.7.2).

    Parameters
    ----------
    reason
        Stable code, one of :data:`STATUSES`; ``status`` is the DIMSE status the SCP answers with.
    detail
        What is wrong with the request (sent back as the Error Comment, cut to 64 characters).
    """

    #: reason -> DIMSE status (PS3.7 C.4.2 / PS3.4 F.7.2).
    STATUSES = {
        "invalid_attribute_value": 0x0106,
        "processing_failure": 0x0110,
        "duplicate_instance": 0x0111,
        "no_such_instance": 0x0112,
        "missing_attribute": 0x0120,
        "resource_limitation": 0x0213,
    }

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in self.STATUSES:
            raise ValueError(f"unknown MPPS reason {reason!r}; allowed: {sorted(self.STATUSES)}")
        self.reason = reason
        self.detail = detail
        super().__init__(detail)

    @property
    def status(self) -> int:
        """The DIMSE status of :attr:`reason`."""
        return self.STATUSES[self.reason]


class InboxFullError(DmslabError, OSError):
    """Not enough free disk space to accept another object safely (``reason`` is ``disk_full``): the sender is
    answered with a failure status and resends later; free space on the inbox's file system."""

    reason = "disk_full"


class MissingExtraError(DmslabError, ImportError):
    """An optional dependency of a feature is not installed; the message names the extra that provides it."""

    reason = "missing_extra"

    def __init__(self, module: str, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs {module}, which is not installed: install it with "
                         f"pip install 'dmslab[{extra}]'", name=module)
        self.module, self.feature, self.extra = module, feature, extra


def import_optional(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module`` of an optional extra, or raise :class:`MissingExtraError` naming ``extra``.

    Only a missing ``module`` itself (or its own package) becomes that message; any other import error inside it
    is raised as it is (a broken installation is not a missing extra).

    >>> import_optional("json", feature="reading JSON", extra="none").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            raise MissingExtraError(module, feature, extra) from exc
        raise


class StoreReadOnlyError(StoreError):
    """A store opened read-only (reports, dashboards, ``dmslab audit``) was asked to write."""


class SchemaOutdatedError(DmslabError):
    """The database's schema is older (or newer) than this dmslab's; only ``dmslab migrate`` changes it."""


class PdfError(DmslabError):
    """A report's PDF could not be rendered: no headless Chromium on the machine, or Chromium failed. The
    message says which and what to install (``apt-get install chromium``)."""


class SkinDoseError(DmslabError, ValueError):
    """A skin-dose calculation that cannot be made as asked: a phantom size or cell size out of range, an event
    without the geometry the method needs. ``reason`` is a stable code; the message says what to give."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class DmslabWarning(UserWarning):
    """Base class of dmslab warnings."""


class VendorQuirkWarning(DmslabWarning):
    """A vendor deviation from the standard was recognised and fixed; the fix is recorded on the record."""


def warn_and_log(message: str, category: type[Warning] = DmslabWarning, *, logger: logging.Logger) -> None:
    """Log ``message`` at WARNING level and issue it as a Python warning of ``category``."""
    logger.warning(message)
    warnings.warn(message, category, stacklevel=3)
