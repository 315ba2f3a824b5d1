"""The manual-entry CSV reader behind the ``manual_csv`` fuzz findings of issue 21 (a lone carriage return, CSV
syntax errors, bytes that are not UTF-8): a clear :class:`ManualEntryError` naming the line, or the rows read."""

from __future__ import annotations

import csv
import io

import pytest

from dmslab.ingest.manual import ManualEntryError, read_manual_csv

_HEADER = "study_uid,ctdivol_mgy,dlp_mgycm,entered_by,reason"


def test_csv_with_a_lone_carriage_return_reads_it_as_a_line_end():
    text = f"{_HEADER}\r1.2.3,12.5,450,MPE,OCR review\r1.2.4,3,90,MPE,OCR review\r"
    reports = read_manual_csv(io.StringIO(text))
    assert [(r.study.study_uid, r.ct_events[0].dlp_mgycm) for r in reports] == [("1.2.3", 450.0), ("1.2.4", 90.0)]


def test_csv_syntax_error_names_the_line():
    old = csv.field_size_limit(12)  # the header's longest name has 11 characters
    try:
        with pytest.raises(ManualEntryError, match=r"^line 3: not readable as CSV \(field larger than field limit"):
            read_manual_csv(io.StringIO(f"{_HEADER}\n1.2.3,1,2,MPE,x\n1.2.3,1,2,MPE,{'y' * 20}\n"))
    finally:
        csv.field_size_limit(old)


def test_csv_file_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "manual.csv"
    head = f"{_HEADER}\n1.2.3,12.5,450,M".encode()
    path.write_bytes(head + b"\xe9" + b"ller,OCR review\n")
    with pytest.raises(ManualEntryError, match=rf"^line 2: not UTF-8 text \(byte {len(head)}: invalid continuation"):
        read_manual_csv(path)
