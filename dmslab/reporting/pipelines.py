"""Pipeline definitions (``pipelines/*.yml``) and the periods they report on.

A pipeline says which notebook runs, with which parameters, how often (daily, weekly, monthly) and who
receives the report. A run always covers one *complete* period: the daily pipeline run on 2 March reports on
1 March, the weekly one on the ISO week before, the monthly one on February.

A pipeline file::

    title: Monthly CT DRL audit
    notebook: ../notebooks/drl_audit.ipynb   # relative to this file
    schedule: monthly                        # daily | weekly | monthly
    parameters: {modality: CT, rooms: [], drl_set: UK}
    recipients: [mpe@hospital.example]
    language: en                             # en | de: the report's language (dmslab/reporting/locale)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from dmslab.errors import ConfigError
from dmslab.reporting._i18n import languages

__all__ = ["Period", "Pipeline", "Schedule", "load_pipelines"]

logger = logging.getLogger(__name__)

#: Parameters every notebook receives from the pipeline runner; a pipeline file may not set them.
RESERVED_PARAMETERS = ("database_url", "period_start", "period_end", "language", "site_name", "viewer_url")
_KEYS = {"name", "title", "notebook", "schedule", "parameters", "recipients", "enabled", "language"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class Schedule(StrEnum):
    """How often a pipeline runs; each run covers the last complete period."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period ``[start, end)`` of whole days with a label (``2026-03-01``, ``2026-W09``, ``2026-03``).

    Examples
    --------
    >>> Period.due("monthly", dt.date(2026, 3, 2))
    Period(label='2026-02', start=datetime.date(2026, 2, 1), end=datetime.date(2026, 3, 1))
    >>> Period.due("weekly", dt.date(2026, 3, 4)).label
    '2026-W09'
    """

    label: str
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if not isinstance(self.start, dt.date) or not isinstance(self.end, dt.date):
            raise TypeError("Period start and end must be datetime.date")
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} must be after its start {self.start}")

    @classmethod
    def containing(cls, schedule: Schedule | str, day: dt.date) -> Period:
        """The daily, weekly (ISO, Monday first) or monthly period that contains ``day``."""
        schedule = Schedule(schedule)
        if schedule is Schedule.DAILY:
            return cls(day.isoformat(), day, day + dt.timedelta(days=1))
        if schedule is Schedule.WEEKLY:
            monday = day - dt.timedelta(days=day.weekday())
            year, week, _ = monday.isocalendar()
            return cls(f"{year}-W{week:02d}", monday, monday + dt.timedelta(days=7))
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return cls(f"{first:%Y-%m}", first, following)

    @classmethod
    def due(cls, schedule: Schedule | str, as_of: dt.date) -> Period:
        """The last complete period before ``as_of`` (the one a run on ``as_of`` reports on)."""
        current = cls.containing(schedule, as_of)
        return cls.containing(schedule, current.start - dt.timedelta(days=1))

    @classmethod
    def parse(cls, label: str) -> Period:
        """The period named by ``label``: ``YYYY-MM-DD``, ``YYYY-Www`` or ``YYYY-MM``."""
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", label):
                return cls.containing(Schedule.DAILY, dt.date.fromisoformat(label))
            if m := re.fullmatch(r"(\d{4})-W(\d{2})", label):
                return cls.containing(Schedule.WEEKLY, dt.date.fromisocalendar(int(m[1]), int(m[2]), 1))
            if re.fullmatch(r"\d{4}-\d{2}", label):
                return cls.containing(Schedule.MONTHLY, dt.date.fromisoformat(label + "-01"))
        except ValueError as exc:
            raise ConfigError(f"invalid period {label!r}: {exc}") from exc
        raise ConfigError(f"invalid period {label!r}; expected YYYY-MM-DD, YYYY-Www or YYYY-MM")


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One scheduled notebook run: what runs, with which parameters, how often, and who gets the report.

    Parameters
    ----------
    name
        Identifier (letters, digits, ``_.-``); the file stem by default.
    notebook
        The notebook to execute (absolute, or resolved against the pipeline file's folder).
    schedule
        ``daily``, ``weekly`` or ``monthly``.
    parameters
        Extra notebook parameters (e.g. ``modality``, ``rooms``, ``drl_set``); ``database_url``,
        ``period_start`` and ``period_end`` are always set by the runner.
    recipients
        E-mail addresses that receive the report.
    title
        Human-readable title (subject of the e-mail and heading in the index page).
    enabled
        A disabled pipeline is listed but never run by ``dmslab pipelines run`` without its name.
    language
        Language of the report (``en``, ``de``: a catalogue of :func:`dmslab.reporting.languages`); the
        runner gives it to notebooks that take a ``language`` parameter.
    """

    name: str
    notebook: Path
    schedule: Schedule
    parameters: dict[str, Any] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()
    title: str = ""
    enabled: bool = True
    language: str = "en"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"pipeline name {self.name!r} must be letters, digits, '_', '.' or '-'")
        object.__setattr__(self, "schedule", _schedule(self.schedule, self.name))
        object.__setattr__(self, "notebook", Path(self.notebook))
        if not isinstance(self.parameters, dict) or not all(isinstance(k, str) for k in self.parameters):
            raise ConfigError(f"pipeline {self.name}: parameters must be a mapping of names to values")
        reserved = sorted(set(self.parameters) & set(RESERVED_PARAMETERS))
        if reserved:
            raise ConfigError(f"pipeline {self.name}: parameters {reserved} are set by the runner, remove them")
        bad = [r for r in self.recipients if not isinstance(r, str) or not _EMAIL.match(r)]
        if bad:
            raise ConfigError(f"pipeline {self.name}: invalid e-mail address(es) {bad}")
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"pipeline {self.name}: enabled must be true or false, got {self.enabled!r}")
        if self.language not in languages():
            raise ConfigError(f"pipeline {self.name}: language {self.language!r} has no catalogue; "
                              f"available: {list(languages())}")
        if not self.title:
            object.__setattr__(self, "title", self.name.replace("_", " "))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Read and validate one pipeline file; the notebook path is resolved against the file's folder."""
        import yaml

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping with keys {sorted(_KEYS)}")
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        missing = {"notebook", "schedule"} - set(raw)
        if missing:
            raise ConfigError(f"{path}: missing key(s) {sorted(missing)}")
        recipients = raw.get("recipients") or ()
        if isinstance(recipients, str):
            recipients = (recipients,)
        return cls(name=str(raw.get("name", path.stem)), notebook=(path.parent / str(raw["notebook"])).resolve(),
                   schedule=raw["schedule"], parameters=dict(raw.get("parameters") or {}),
                   recipients=tuple(recipients), title=str(raw.get("title", "")),
                   enabled=raw.get("enabled", True), language=str(raw.get("language", "en")))


def _schedule(value: Any, name: str) -> Schedule:
    try:
        return Schedule(value)
    except ValueError:
        raise ConfigError(f"pipeline {name}: schedule {value!r} not in {[s.value for s in Schedule]}") from None


def load_pipelines(directory: str | os.PathLike[str]) -> list[Pipeline]:
    """Every ``*.yml`` / ``*.yaml`` pipeline in ``directory``, sorted by name (names must be unique)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"pipelines folder {directory} not found (set --pipelines-dir or DMSLAB_PIPELINES_DIR)")
    pipelines = [Pipeline.from_yaml(p) for p in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])]
    names = [p.name for p in pipelines]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{directory}: pipeline name(s) used twice: {dupes}")
    return sorted(pipelines, key=lambda p: p.name)
