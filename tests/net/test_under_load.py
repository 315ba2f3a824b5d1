"""Sender and receiver in one process (``dmslab demo``'s path) while 2 x nproc busy loops compete for the CPUs:
every one of >= 1 000 objects gets its response and is ingested exactly once.

Before the fix this lost objects in every run: pynetdicom's reactor thread swallowed a C-STORE response, the
sender waited its 30 s DIMSE timeout, aborted and never sent the rest (283 of 1 873 answered).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _receiver_util import ingested_counts, make_settings

from dmslab.net.scp import send_and_ingest_over_dicom
from dmslab.synth import DepartmentConfig, generate_department

_BUSY_S = 240  # each busy loop ends by itself after this, whatever happens to the test


@pytest.mark.slow
def test_1000_objects_in_one_process_beside_busy_loops(tmp_path: Path) -> None:
    folder = tmp_path / "dept"
    truth = generate_department(folder, DepartmentConfig(months=3, studies_per_room_per_day=3.5,
                                                         multi_rdsr_fraction=0.0, seed=11))
    expected = {uid for s in truth.studies for uid in s.sop_instance_uids}
    assert len(expected) >= 1000
    settings = make_settings(tmp_path)
    n_busy = 2 * (os.cpu_count() or 1)
    busy = [subprocess.Popen([sys.executable, "-c", f"import time\nend = time.monotonic() + {_BUSY_S}\n"
                              "while time.monotonic() < end: pass"]) for _ in range(n_busy)]
    try:
        summary = send_and_ingest_over_dicom(folder, settings, timeout_s=_BUSY_S)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    assert (summary.files, summary.success, summary.failed, summary.unsent) == (len(expected), len(expected), {}, {})
    assert summary.associations == 1  # no retry was needed: no response was lost
    assert summary.drained and summary.all_stored
    counts = ingested_counts(settings.database_url)
    assert set(counts) == expected and set(counts.values()) == {1}
