"""The sender tells the truth: retries what got no response on a new association, counts Success / failed (by
status) / unsent (by reason), against a Storage SCP that aborts mid-way or refuses objects."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE, evt

from dmslab.net.handlers import StoreStatus
from dmslab.net.scp import STORAGE_CLASSES, LoopbackSummary, Retry, send_files
from dmslab.synth import GroundTruth


class FlakySCP:
    """A Storage SCP on 127.0.0.1 that stores ``abort_after`` objects per association and then aborts it (on the
    first ``abort_associations`` associations), and answers ``refuse`` SOP Instance UIDs with Out of Resources."""

    def __init__(self, *, abort_after: int, abort_associations: int, refuse: frozenset[str] = frozenset()) -> None:
        self.abort_after, self.abort_associations, self.refuse = abort_after, abort_associations, refuse
        self.stored: list[str] = []
        self.associations = 0
        self._per_assoc: dict[int, int] = {}
        self._lock = threading.Lock()
        ae = AE(ae_title="FLAKY")
        for sop_class, syntaxes in STORAGE_CLASSES.items():
            ae.add_supported_context(sop_class, syntaxes)
        handlers = [(evt.EVT_C_STORE, self._store), (evt.EVT_ESTABLISHED, self._established)]
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        self.port = int(self.server.server_address[1])

    def _established(self, event: evt.Event) -> None:
        with self._lock:
            self.associations += 1
            self._per_assoc[id(event.assoc)] = 0

    def _store(self, event: evt.Event) -> int:
        sop = str(event.request.AffectedSOPInstanceUID)
        with self._lock:
            done = self._per_assoc[id(event.assoc)]
            if done >= self.abort_after and self.associations <= self.abort_associations:
                event.assoc.abort()  # the object in flight gets no response and is not stored
                return StoreStatus.PROCESSING_FAILURE  # never sent: the association is gone
            self._per_assoc[id(event.assoc)] = done + 1
            if sop in self.refuse:
                return StoreStatus.OUT_OF_RESOURCES
            self.stored.append(sop)
        return StoreStatus.SUCCESS


@pytest.fixture
def files(department: tuple[Path, GroundTruth]) -> list[Path]:
    return sorted(department[0].rglob("*.dcm"))[:12]


@pytest.fixture
def scp_factory() -> Iterator[list[FlakySCP]]:
    made: list[FlakySCP] = []
    yield made
    for scp in made:
        scp.server.shutdown()


def _uids(paths: list[Path]) -> list[str]:
    return [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths]


_FAST = Retry(attempts=3, pause_s=0.05, response_timeout_s=30)


def test_objects_without_response_are_sent_again_on_a_new_association(files: list[Path],
                                                                       scp_factory: list[FlakySCP]) -> None:
    scp = FlakySCP(abort_after=5, abort_associations=1)
    scp_factory.append(scp)
    result = send_files(files, ("127.0.0.1", scp.port), called_aet="FLAKY", calling_aet="TESTSCU", retry=_FAST)
    assert scp.associations == 2 and result.attempts == 2
    assert sorted(result.success) == sorted(_uids(files)) == sorted(scp.stored)  # each stored once, none lost
    assert (result.failed, result.unsent) == ([], [])
    assert result.all_stored
    assert result.lines() == ["12 file(s): 12 Success, 0 failed, 0 unsent; 2 association(s)"]


def test_gives_up_after_the_attempts_and_says_what_was_not_sent(files: list[Path],
                                                                scp_factory: list[FlakySCP]) -> None:
    scp = FlakySCP(abort_after=3, abort_associations=99)
    scp_factory.append(scp)
    result = send_files(files, ("127.0.0.1", scp.port), called_aet="FLAKY", calling_aet="TESTSCU", retry=_FAST)
    uids = _uids(files)
    assert scp.associations == 3 and result.attempts == 3
    assert result.success == uids[:9] == scp.stored
    assert result.unsent == files[9:] and not result.all_stored
    assert set(result.reasons.values()) == {"no response after 3 association attempt(s)"}
    assert result.lines() == ["12 file(s): 9 Success, 0 failed, 3 unsent (no response after 3 association "
                              "attempt(s): 3); 3 association(s)"]


def test_failure_statuses_are_counted_not_retried(files: list[Path], scp_factory: list[FlakySCP]) -> None:
    uids = _uids(files)
    scp = FlakySCP(abort_after=1000, abort_associations=0, refuse=frozenset(uids[2:4]))
    scp_factory.append(scp)
    unreadable = files[0].parent / "not-dicom.dcm"
    unreadable.write_bytes(b"not DICOM at all" * 20)
    try:
        result = send_files([*files, unreadable], ("127.0.0.1", scp.port), called_aet="FLAKY",
                            calling_aet="TESTSCU", retry=_FAST)
    finally:
        unreadable.unlink()
    assert result.attempts == 1 and scp.associations == 1
    assert result.failed == [(u, StoreStatus.OUT_OF_RESOURCES) for u in uids[2:4]]
    assert result.success == uids[:2] + uids[4:]
    assert result.unsent == [unreadable]
    assert result.lines() == ["13 file(s): 10 Success, 2 failed (0xA700: 2), 1 unsent (unreadable: not a DICOM "
                              "Part 10 file (no 'DICM' after the 128-byte preamble): 1); 1 association(s)"]


def test_unreachable_peer_leaves_everything_unsent(files: list[Path]) -> None:
    scp = FlakySCP(abort_after=0, abort_associations=0)
    port = scp.port
    scp.server.shutdown()  # nothing listens on that port any more
    result = send_files(files[:2], ("127.0.0.1", port), called_aet="FLAKY", calling_aet="TESTSCU", retry=_FAST)
    assert result.success == [] and result.unsent == files[:2] and result.attempts == 3


def test_loopback_summary_lines_show_failed_and_unsent() -> None:
    summary = LoopbackSummary(10, 6, {"0xA700": 1}, True, 2.0, 6, 0, 0, unsent={"no response": 3}, associations=3)
    assert not summary.all_stored
    assert summary.lines()[0] == ("10 file(s) sent over DICOM (C-STORE to dmslab on loopback, 3 association(s)) in "
                                  "2.0 s: 6 Success, 1 failed (0xA700: 1), 3 unsent (no response: 3); inbox drained")
