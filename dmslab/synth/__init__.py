"""Synthetic hospital department writing DICOM X-Ray Radiation Dose SRs plus ground truth.

>>> from dmslab.synth import DepartmentConfig, generate_department
>>> truth = generate_department("/tmp/dept", DepartmentConfig(months=1))  # doctest: +SKIP
"""

from __future__ import annotations

from ._config import DepartmentConfig
from ._generate import generate_department
from ._truth import (
    DrlExceedance,
    EventTruth,
    GroundTruth,
    HighDoseFluoro,
    Injected,
    ProtocolChange,
    RoomTruth,
    StudyTruth,
)

__all__ = [
    "DepartmentConfig",
    "generate_department",
    "GroundTruth",
    "RoomTruth",
    "StudyTruth",
    "EventTruth",
    "Injected",
    "ProtocolChange",
    "DrlExceedance",
    "HighDoseFluoro",
]
