"""Configuration of the synthetic department."""

from __future__ import annotations

import datetime
import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DepartmentConfig"]


@dataclass(frozen=True, slots=True)
class DepartmentConfig:
    """Size, period and randomness of a synthetic imaging department.

    Parameters
    ----------
    ct_rooms, dx_rooms, mg_rooms, rf_rooms : int
        Number of rooms (one device each) per modality, ``>= 0``.
    months : int
        Length of the simulated period in calendar months, ``>= 1``.
    studies_per_room_per_day : float
        Mean number of CT studies per room and working day (Poisson mean,
        ``>= 0``). DX, MG and RF rooms use fixed multiples of it
        (1.5, 0.8 and 0.5 respectively).
    start : datetime.date
        First day of the period.
    seed : int
        Seed of ``numpy.random.default_rng`` and of the UID generator.
    multi_rdsr_fraction : float
        Fraction ``[0, 1]`` of CT studies for which an earlier, partial
        (cumulative) RDSR is written in addition to the complete one.
    """

    ct_rooms: int = 2
    dx_rooms: int = 1
    mg_rooms: int = 1
    rf_rooms: int = 1
    months: int = 3
    studies_per_room_per_day: float = 6.0
    start: datetime.date = datetime.date(2026, 1, 5)
    seed: int = 20260105
    multi_rdsr_fraction: float = 0.02

    def __post_init__(self) -> None:
        for name in ("ct_rooms", "dx_rooms", "mg_rooms", "rf_rooms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if isinstance(self.months, bool) or not isinstance(self.months, int) or self.months < 1:
            raise ValueError(f"months must be an integer >= 1, got {self.months!r}")
        rate = self.studies_per_room_per_day
        if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
            raise ValueError(f"studies_per_room_per_day must be a finite number >= 0, got {rate!r}")
        frac = self.multi_rdsr_fraction
        if not isinstance(frac, (int, float)) or not 0.0 <= frac <= 1.0:
            raise ValueError(f"multi_rdsr_fraction must be in [0, 1], got {frac!r}")
        if not isinstance(self.start, datetime.date):
            raise ValueError(f"start must be a datetime.date, got {self.start!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")

    @property
    def end(self) -> datetime.date:
        """First day after the simulated period (``start`` + ``months``)."""
        month0 = self.start.month - 1 + self.months
        year = self.start.year + month0 // 12
        month = month0 % 12 + 1
        day = self.start.day
        while True:
            try:
                return datetime.date(year, month, day)
            except ValueError:
                day -= 1

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict (``start`` as ISO date)."""
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepartmentConfig:
        """Inverse of :meth:`to_dict`."""
        kwargs = dict(data)
        kwargs["start"] = datetime.date.fromisoformat(str(kwargs["start"]))
        return cls(**kwargs)
