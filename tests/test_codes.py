import re
from pathlib import Path

import pytest

from dmslab import codes
from dmslab.codes import code_key, label_for


@pytest.mark.parametrize(
    ("srt", "sct"),
    [("P5-08000", "77477000"), ("P5-08001", "116152004"), ("G-C171", "272741003"), ("G-A100", "24028007"),
     ("G-A101", "7771000"), ("P5-06000", "44491008"), ("P5-40010", "71651007")],
)
def test_legacy_srt_maps_to_sct(srt, sct):
    assert code_key("SRT", srt) == codes.SCT(sct)
    assert code_key("SCT", sct) == codes.SCT(sct)


def test_scheme_version_and_whitespace_do_not_matter():
    assert code_key("DCM", " 113830") == codes.MEAN_CTDIVOL
    assert code_key("dcm", "113830") == codes.MEAN_CTDIVOL


def test_labels():
    assert label_for(code_key("SRT", "P5-08001")) == "spiral"
    assert label_for(codes.DCM("113805")) == "constant_angle"
    assert label_for(codes.DCM("999999")) == "DCM:999999"


def test_no_matching_on_code_meaning():
    """Concepts are matched on (scheme, value) only: no comparison with a code meaning anywhere."""
    pkg = Path(codes.__file__).parent
    pattern = re.compile(r"(CodeMeaning|\.meaning)\s*(==|!=|\bin\b)")
    offenders = [f"{p}:{i}" for p in pkg.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
