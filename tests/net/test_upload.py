"""C-STORE data sets are streamed to the inbox as they arrive: memory stays bounded for a large object, the size
limit is checked on the way (an object just under it is stored, one byte more is refused), an object cut off by a
lost connection leaves nothing behind, and the inbox's files and folders are private."""

from __future__ import annotations

import os
import stat
import struct
import tracemalloc
from pathlib import Path

import pytest
from _raw_dicom import associated, dataset_chunks, p_data, release, store_command, store_streamed
from _receiver_util import make_settings, receiver_settings, wait_until

from dmslab.net.handlers import StoreStatus
from dmslab.net.inbox import Inbox
from dmslab.net.scp import Receiver

_MIB = 1024 * 1024


def _receiver(tmp_path: Path, **kw: object) -> Receiver:
    settings = make_settings(tmp_path)
    rec = Receiver(settings, receiver_settings(settings, **kw), worker="none")
    rec.start()
    return rec


def _dataset_size(path: Path) -> int:
    data = path.read_bytes()
    return len(data) - 144 - struct.unpack_from("<I", data, 140)[0]


@pytest.mark.parametrize("size, limit", [(64 * _MIB, 512 * _MIB), (64 * _MIB, 16 * _MIB)])
def test_large_object_is_received_in_bounded_memory(tmp_path: Path, size: int, limit: int) -> None:
    rec = _receiver(tmp_path, max_object_bytes=limit)
    try:
        sock = associated(rec.port, calling="TESTSCU")
        tracemalloc.start()
        try:
            status = store_streamed(sock, "1.2.3.4.5", size)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        release(sock)
        # pynetdicom's in-memory assembly holds the whole object (and a copy): 64 MiB and more
        assert peak < 8 * _MIB, f"peak traced memory {peak / _MIB:.1f} MiB while receiving {size / _MIB:.0f} MiB"
        if size <= limit:
            assert status == StoreStatus.SUCCESS
            [stored] = rec.inbox.pending()
            assert _dataset_size(stored) == size
        else:
            assert status == StoreStatus.OUT_OF_RESOURCES
            assert rec.inbox.pending() == []
        assert list((rec.inbox.root / "incoming").iterdir()) == []
    finally:
        rec.stop()


def test_object_just_under_the_limit_is_stored_one_byte_more_is_refused(tmp_path: Path) -> None:
    limit = 100_000
    rec = _receiver(tmp_path, max_object_bytes=limit)
    try:
        sock = associated(rec.port, calling="TESTSCU")
        assert store_streamed(sock, "1.2.3.1", limit) == StoreStatus.SUCCESS
        assert store_streamed(sock, "1.2.3.2", limit + 2) == StoreStatus.OUT_OF_RESOURCES  # even OB length
        assert store_streamed(sock, "1.2.3.3", limit - 2) == StoreStatus.SUCCESS  # the association carries on
        release(sock)
        stored = sorted(rec.inbox.pending(), key=lambda p: p.name)
        assert [p.name.split(".dcm")[0].rsplit(".", 1)[0] for p in stored] == ["1.2.3.1", "1.2.3.3"]
        assert [_dataset_size(p) for p in stored] == [limit, limit - 2]
        assert rec.status.state["counts"]["refused"] == 1
        assert any("max_object_bytes=100000" in e["message"] for e in rec.status.state["errors"])
    finally:
        rec.stop()


def test_object_cut_off_by_the_sender_leaves_nothing(tmp_path: Path) -> None:
    rec = _receiver(tmp_path)
    try:
        sock = associated(rec.port, calling="TESTSCU")
        sock.sendall(p_data(0x03, store_command("1.2.3.9")))
        chunks = dataset_chunks("1.2.3.9", 2 * _MIB)
        for _ in range(40):  # about 640 kB of the 2 MiB, then the connection is lost
            sock.sendall(p_data(0x00, next(chunks)))
        incoming = rec.inbox.root / "incoming"
        wait_until(lambda: any(incoming.iterdir()), 30, "partial file not being written")
        sock.close()
        wait_until(lambda: not any(incoming.iterdir()), 30, "partial file of a lost connection not deleted")
        assert rec.inbox.pending() == []
    finally:
        rec.stop()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_inbox_files_and_folders_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: without care, files would be 0644 and folders 0755
    try:
        (tmp_path / "inbox" / "pending").mkdir(parents=True, mode=0o755)  # made by an older version
        inbox = Inbox(tmp_path / "inbox", min_free_bytes=0)
        put = inbox.put(b"object", name="1.2.3")
        tmp, fh = inbox.open_incoming()
        fh.close()
        failed = inbox.fail(inbox.put(b"bad"), "why")
    finally:
        os.umask(old)
    assert {sub: _mode(inbox.root / sub) for sub in ("", "incoming", "pending", "failed")} == \
        {"": 0o700, "incoming": 0o700, "pending": 0o700, "failed": 0o700}
    assert (_mode(put), _mode(tmp), _mode(failed), _mode(failed.with_name(failed.name + ".reason.txt"))) == \
        (0o600, 0o600, 0o600, 0o600)


def test_received_object_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        rec = _receiver(tmp_path)
        try:
            sock = associated(rec.port, calling="TESTSCU")
            assert store_streamed(sock, "1.2.3.7", 1000) == StoreStatus.SUCCESS
            release(sock)
            [stored] = rec.inbox.pending()
        finally:
            rec.stop()
    finally:
        os.umask(old)
    assert _mode(stored) == 0o600 and _mode(stored.parent) == 0o700
