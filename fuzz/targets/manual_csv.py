"""The manual-entry CSV reader (:func:`dmslab.ingest.manual.read_manual_csv`) on a file of any bytes: reports whose
values pass the data contracts, or :class:`ManualEntryError` naming the line (and column) — never another
exception. The bytes go through a file so the reader's own UTF-8 decoding is fuzzed too."""

from __future__ import annotations

from dmslab.contracts import check_values
from dmslab.ingest.manual import ManualEntryError, read_manual_csv
from dmslab.records import record_values
from targets._scratch import scratch_file

SEEDS = ("csv",)
DICT = "manual.dict"
_FILE = scratch_file("manual.csv")


def check(data: bytes) -> None:
    _FILE.write_bytes(data)
    try:
        reports = read_manual_csv(_FILE)
    except ManualEntryError as exc:
        assert str(exc).startswith("line "), exc
        return
    for r in reports:
        assert r.source.importer == "manual" and r.ct_events, r
        for ev in r.ct_events:
            problems = check_values("ct_event", record_values(ev))
            assert not problems, problems
