"""kill -9 of the receiver and of the ingest worker at random points during a 1 000-object send: 0 lost, 0 doubled.

Counted by SOP Instance UID against what the sender got Success for.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from _receiver_util import ReceiverProcess, free_port, ingested_counts, make_settings, wait_port, wait_until

from dmslab.net.scp import send_files
from dmslab.synth import DepartmentConfig, generate_department


def _sender(files: list[Path], uid_of: dict[Path, str], port: int, success: set[str], done: threading.Event) -> None:
    todo = list(files)
    while todo:
        chunk = todo[:40]
        result = send_files(chunk, ("127.0.0.1", port), called_aet="DMSLAB", calling_aet="TESTSCU")
        success.update(result.success)
        todo = [p for p in todo if uid_of[p] not in success]
        if result.unsent:
            time.sleep(0.1)  # receiver down: retry what got no Success, as a modality would
    done.set()


@pytest.mark.slow
def test_kill9_receiver_and_worker_during_1000_object_send(tmp_path: Path) -> None:
    folder = tmp_path / "dept"
    truth = generate_department(folder, DepartmentConfig(months=3, studies_per_room_per_day=3.5,
                                                         multi_rdsr_fraction=0.0, seed=5))
    uid_of = {folder / f: uid for s in truth.studies for f, uid in zip(s.files, s.sop_instance_uids, strict=True)}
    files = sorted(uid_of)
    assert len(files) >= 1000
    settings = make_settings(tmp_path)
    port = free_port()
    receiver = ReceiverProcess(settings.home, settings.database_url, "--port", str(port), "--no-worker",
                               "--allow", "TESTSCU").start()
    worker = ReceiverProcess(settings.home, settings.database_url, "--worker-only").start()
    wait_port(port)
    success: set[str] = set()
    done = threading.Event()
    thread = threading.Thread(target=_sender, args=(files, uid_of, port, success, done), daemon=True)
    thread.start()
    rng = random.Random(20261124)
    kills = {"receiver": 0, "worker": 0}
    try:
        while not done.wait(rng.uniform(0.3, 1.5)) and sum(kills.values()) < 8:
            victim = rng.choice(["receiver", "worker"])
            proc = receiver if victim == "receiver" else worker
            proc.kill9()
            kills[victim] += 1
            proc.start()
        thread.join(timeout=300)
        assert done.is_set(), "the sender did not finish"
        pending = settings.home / "inbox" / "pending"
        wait_until(lambda: not any(pending.iterdir()), 120, "inbox not drained")
    finally:
        codes = (receiver.stop(), worker.stop())
    assert codes == (0, 0)  # both stop cleanly on SIGTERM
    assert kills["receiver"] >= 1 and kills["worker"] >= 1, kills
    counts = ingested_counts(settings.database_url)
    assert success == set(uid_of.values())  # every object eventually got Success...
    assert set(counts) == success  # ...and each one is in the store: 0 lost
    assert max(counts.values()) == 1  # 0 duplicated
    assert not any((settings.home / "inbox" / "failed").iterdir())
