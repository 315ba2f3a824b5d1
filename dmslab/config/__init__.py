"""dmslab settings: one frozen :class:`Settings` with a section per feature, read once by :func:`load_settings`.

Sections and their TOML tables: core (``[dmslab]``), :class:`ReceiverSettings` (``[receiver]``),
:class:`SmtpSettings` (``[smtp]``), :class:`QrSettings` (``[qr]``). :func:`override` applies the CLI's flags to a
section with the same coercion and validation.
"""

from dmslab.config._core import DEFAULT_NOT_PATIENT_PATTERNS, Settings, load_settings
from dmslab.config._layers import override
from dmslab.config._qr import QrSettings
from dmslab.config._receiver import ReceiverSettings
from dmslab.config._smtp import SmtpSettings
from dmslab.config._viewer import VIEWER_FIELDS, check_viewer_url

__all__ = ["DEFAULT_NOT_PATIENT_PATTERNS", "QrSettings", "ReceiverSettings", "Settings", "SmtpSettings",
           "VIEWER_FIELDS", "check_viewer_url", "load_settings", "override"]
