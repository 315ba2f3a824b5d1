"""The manual-entry CSV reader (:func:`dmslab.ingest.manual.read_manual_csv`): reports whose values pass the data
contracts, or :class:`ManualEntryError` naming line and column — never another exception."""

from __future__ import annotations

import io

from dmslab.contracts import check_values
from dmslab.ingest.manual import ManualEntryError, read_manual_csv
from dmslab.records import record_values

SEEDS = ("csv",)
DICT = "manual.dict"


def check(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        reports = read_manual_csv(io.StringIO(text))
    except ManualEntryError:
        return
    for r in reports:
        for ev in r.ct_events:
            problems = check_values("ct_event", record_values(ev))
            assert not problems, problems
