"""A foreign client: dcmtk echoscu/storescu send the synthetic department; every object is ingested exactly once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from _receiver_util import dcmtk, ingested_counts, receiver_settings

from dmslab.config import Settings
from dmslab.net.scp import Receiver
from dmslab.store import Store
from dmslab.synth import GroundTruth

STORESCU, ECHOSCU = dcmtk("storescu"), dcmtk("echoscu")
pytestmark = pytest.mark.skipif(STORESCU is None or ECHOSCU is None, reason="needs dcmtk (Debian package dcmtk)")

_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _storescu(port: int, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STORESCU), "-aet", "STORESCU", "-aec", "DMSLAB", "+sd", "+r", "+sp", "*.dcm",
                           "127.0.0.1", str(port), str(folder)], env=_ENV, capture_output=True, text=True,
                          timeout=300)


def test_echoscu(settings: Settings) -> None:
    with Receiver(settings, receiver_settings(settings), worker="none") as rec:
        ok = subprocess.run([str(ECHOSCU), "-aet", "STORESCU", "-aec", "DMSLAB", "127.0.0.1", str(rec.port)],
                            capture_output=True, text=True, timeout=30)
        refused = subprocess.run([str(ECHOSCU), "-aet", "STRANGER", "-aec", "DMSLAB", "127.0.0.1", str(rec.port)],
                                 capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0
    assert refused.returncode != 0 and "Calling AE Title Not Recognized" in refused.stderr


def test_storescu_department_ingested_exactly_once(settings: Settings,
                                                   department: tuple[Path, GroundTruth]) -> None:
    folder, truth = department
    expected = {uid for s in truth.studies for uid in s.sop_instance_uids}
    with Receiver(settings, receiver_settings(settings), worker="process") as rec:
        first = _storescu(rec.port, folder)
        assert first.returncode == 0, first.stderr[-2000:]
        assert rec.wait_drained(120)
        counts = ingested_counts(settings.database_url)
        assert set(counts) == expected and set(counts.values()) == {1}
        store = Store(settings.database_url)
        before = store.counts()
        second = _storescu(rec.port, folder)
        assert second.returncode == 0, second.stderr[-2000:]
        assert rec.wait_drained(120)
        after = store.counts()
        store.close()
        again = ingested_counts(settings.database_url)
    assert again == counts
    assert {k: after[k] - before[k] for k in after} == {**{k: 0 for k in after}, "source_object": len(expected)}
    assert len(truth.studies) == after["study"]
