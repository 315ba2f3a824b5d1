"""The durable inbox: complete files only, oldest first, partial files from a crash removed, full disk refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dmslab.net.inbox import Inbox, InboxFullError


def test_put_pending_done_fail(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox", min_free_bytes=0)
    a = inbox.put(b"first", name="1.2.3")
    b = inbox.put(b"second")
    os.utime(a, ns=(1, 1))  # older
    assert inbox.pending() == [a, b] and a.read_bytes() == b"first" and a.name == "1.2.3.dcm"
    assert list((tmp_path / "inbox" / "incoming").iterdir()) == []
    inbox.done(a)
    failed = inbox.fail(b, "why")
    assert inbox.pending() == [] and failed.read_bytes() == b"second"
    assert failed.with_name(failed.name + ".reason.txt").read_text() == "why\n"


def test_partial_files_of_a_crash_are_removed(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, min_free_bytes=0)
    (tmp_path / "incoming" / "x.dcm.abcd.part").write_bytes(b"half")
    assert inbox.clean_incoming() == 1 and inbox.pending() == []


def test_full_disk_refuses(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, min_free_bytes=2 * inbox_free(tmp_path))
    with pytest.raises(InboxFullError, match="bytes free; object refused"):
        inbox.put(b"x")
    assert inbox.pending() == [] and list((tmp_path / "incoming").iterdir()) == []


def inbox_free(path: Path) -> int:
    return Inbox(path, min_free_bytes=0).free_bytes()
