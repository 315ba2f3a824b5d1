"""The site's image viewer: a URL template with the ``{study_uid}`` placeholder.

Accession numbers are not a placeholder: the store keeps them only as keyed pseudonyms (like patient IDs), so a
link cannot carry one, and exam lists that are e-mailed carry no identifier a RIS can resolve. Every DICOM viewer
opens a study by its Study Instance UID (DICOMweb viewers take it in the URL)."""

from __future__ import annotations

import string
from urllib.parse import urlsplit

from dmslab.errors import ConfigError

__all__ = ["VIEWER_FIELDS", "check_viewer_url"]

#: The placeholders a viewer URL template may hold.
VIEWER_FIELDS = ("study_uid",)


def check_viewer_url(template: str) -> None:
    """Check a ``viewer_url`` template: empty (no links), or an http(s) URL whose only placeholders are
    :data:`VIEWER_FIELDS`, at least one of them.

    >>> check_viewer_url("https://pacs.hospital.local/viewer?StudyInstanceUIDs={study_uid}")
    >>> check_viewer_url("https://pacs/viewer?patient={patient_id}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dmslab.errors.ConfigError: [dmslab] viewer_url: unknown placeholder(s) ['patient_id']; allowed: ...

    Raises
    ------
    ConfigError
        When the template is not an http(s) URL, has an unknown or malformed placeholder, or none at all.
    """
    if not template:
        return
    allowed = ", ".join(f"{{{f}}}" for f in VIEWER_FIELDS)
    try:
        names = [name for _text, name, _spec, _conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"[dmslab] viewer_url: {template!r} is not a valid template ({exc}); "
                          f"write placeholders as {allowed}") from None
    if "accession" in names:
        raise ConfigError("[dmslab] viewer_url: {accession} cannot be filled: dmslab stores accession numbers only "
                          "as keyed pseudonyms; open the study by {study_uid} (every DICOM viewer can)")
    unknown = sorted({n for n in names if n not in VIEWER_FIELDS})
    if unknown:
        raise ConfigError(f"[dmslab] viewer_url: unknown placeholder(s) {unknown}; allowed: {allowed}")
    if not names:
        raise ConfigError(f"[dmslab] viewer_url: {template!r} has no placeholder; use {allowed}")
    if urlsplit(template).scheme not in ("http", "https"):
        raise ConfigError(f"[dmslab] viewer_url: {template!r} must start with http:// or https://")
