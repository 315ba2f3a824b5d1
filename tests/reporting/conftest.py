"""Fixtures for the reporting tests: a store filled from the synthetic department, pipeline files, an SMTP server."""

from __future__ import annotations

import datetime as dt
import socket
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dmslab.analysis.naming import apply_names
from dmslab.config import Settings, load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store
from dmslab.synth import GroundTruth

ROOT = Path(__file__).resolve().parents[2]
OVERVIEW = ROOT / "notebooks" / "department_overview.ipynb"


def fill(settings: Settings, department: tuple[Path, GroundTruth]) -> GroundTruth:
    """Ingest the synthetic department into the store of ``settings`` and give its studies standard names
    (here, not in a notebook: reports only read)."""
    summary = ingest_paths([department[0]], settings)
    assert summary.rejected == 0 and summary.ingested > 0
    store = Store(settings.database_url)
    try:
        apply_names(store)
    finally:
        store.close()
    return department[1]


@pytest.fixture
def filled(settings: Settings, department: tuple[Path, GroundTruth]) -> tuple[Settings, GroundTruth]:
    """The department ingested into SQLite and (when configured) PostgreSQL."""
    return settings, fill(settings, department)


@pytest.fixture
def filled_sqlite(tmp_path: Path, department: tuple[Path, GroundTruth]) -> tuple[Settings, GroundTruth]:
    """The department ingested into a fresh SQLite file (for tests that are about files, not the backend)."""
    home = tmp_path / "home"
    home.mkdir()
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{tmp_path / 'dmslab.sqlite'}", workers=1)
    return settings, fill(settings, department)


def median_ctdivol(truth: GroundTruth, room: str, protocol: str,
                   period: tuple[dt.date, dt.date] | None = None) -> float:
    """Median CTDIvol (mGy) over the non-localizer events of ``room`` × ``protocol`` (studies in ``period``
    ``[start, end)`` when given), from the ground truth."""
    first, end = period or (dt.date.min, dt.date.max)
    values = [e.ctdivol_mgy for s in truth.studies if s.modality == "CT" and s.station_name == room
              and s.protocol == protocol and first <= dt.date.fromisoformat(s.study_datetime[:10]) < end
              for e in s.events if e.ctdivol_mgy is not None and e.acquisition_type != "Constant Angle Acquisition"]
    return statistics.median(values)


def write_pipeline(folder: Path, name: str, *, notebook: Path = OVERVIEW, schedule: str = "monthly",
                   drl_set: str = "UK", recipients: tuple[str, ...] = ()) -> Path:
    """A pipeline file running ``notebook``."""
    folder.mkdir(parents=True, exist_ok=True)
    rec = "".join(f"\n  - {r}" for r in recipients) or " []"
    path = folder / f"{name}.yml"
    path.write_text(f"title: Test {name}\nnotebook: {notebook}\nschedule: {schedule}\n"
                    f"parameters:\n  modality: CT\n  rooms: []\n  drl_set: {drl_set}\nrecipients:{rec}\n")
    return path


@dataclass
class Mailbox:
    """What the test SMTP server received."""

    host: str
    port: int
    envelopes: list = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, stopped after the test."""
    from aiosmtpd.controller import Controller

    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
