"""The four damaged dose reports of issue 21 (built by ``fuzz/damage.py`` from a synthetic CT RDSR): each comes
back as an Outcome with a reason, or as the report it still holds, and a folder ingest goes on past them."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest

from dmslab.config import load_settings
from dmslab.errors import VendorQuirkWarning
from dmslab.ingest import parse_file
from dmslab.ingest.rdsr._fastread import read_sr
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store

HERE = Path(__file__).resolve().parent
CASES = HERE / "issue21"  # the damaged files whole (their minimised forms are in regressions/parse_file/)
BASE = CASES / "base.dcm"
KEY = bytes(range(32))


def _case(name: str) -> Path:
    return CASES / f"issue21_{name}.dcm"


def _same_except_source(a, b) -> bool:
    return dataclasses.replace(a, source=None) == dataclasses.replace(b, source=None)


def test_damage_is_what_the_issue_describes():
    """Each file differs from the base in at most four bytes (same length): damage, not a different object."""
    base = BASE.read_bytes()
    for name in ("null_charset", "meta_vr", "concept_text", "backslash_code"):
        data = _case(name).read_bytes()
        assert len(data) == len(base)
        assert 1 <= sum(x != y for x, y in zip(data, base, strict=True)) <= 4, name


@pytest.mark.parametrize(("name", "detail"), [
    ("null_charset", "ValueError: embedded null character"),
    ("meta_vr", "NotImplementedError: Unknown Value Representation 'ZZ' in tag (0002,0010)"),
])
def test_undecodable_header_is_corrupt(pseudo, name, detail):
    """The lean reader used to raise these out of parse_file; now it hands the file to pydicom's path, which
    rejects it with the decoding error as detail."""
    assert read_sr(_case(name).read_bytes()) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pydicom: unknown character set
        out = parse_file(_case(name), pseudo)
    assert (out.report, out.reason) == (None, "corrupt")
    assert out.detail == f"DICOM file cannot be decoded: {detail}"


def test_concept_name_that_is_not_a_sequence(pseudo):
    """(0040,A043) with VR UT: no root concept (used to raise AttributeError in concept_of_raw)."""
    ds = read_sr(_case("concept_text").read_bytes())
    assert ds is not None and ds.content_tree.concept is None
    out = parse_file(_case("concept_text"), pseudo)
    assert (out.report, out.reason) == (None, "not_a_dose_report")
    assert "root concept None" in (out.detail or "")
    assert out.sop_instance_uid is not None and out.sha256 is not None


@pytest.mark.parametrize("name", ["backslash_code", "backslash_code_deflated"])
def test_backslash_in_a_code_keeps_the_report(pseudo, name):
    """``DCM\\`` in a scheme designator: the first value is read and a VendorQuirkWarning says so; the report is
    the undamaged one (deflated: through pydicom and rdsr/_tree.py; plain: through the lean reader)."""
    want = parse_file(BASE, pseudo)
    assert want.report is not None
    with pytest.warns(VendorQuirkWarning, match=r"holds several values \['DCM', ''\]; the first is used"):
        got = parse_file(_case(name), pseudo)
    assert got.reason is None, got.detail
    assert _same_except_source(got.report, want.report)


def test_folder_ingest_goes_on_past_damaged_files(tmp_path):
    """The issue's folder: a valid RDSR beside damaged ones. The valid one is stored; each damaged one is recorded
    in source_object and quarantined with its reason; nothing raises."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.dcm").write_bytes(BASE.read_bytes())
    for name in ("null_charset", "meta_vr", "concept_text"):
        (folder / f"{name}.dcm").write_bytes(_case(name).read_bytes())
    home = tmp_path / "home"
    home.mkdir()
    create_key(home / "pseudonym.key").write_text(KEY.hex() + "\n")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'db.sqlite'}", workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary = ingest_paths([folder], settings)
    assert (summary.ingested, summary.rejected) == (1, 3)
    assert sorted((Path(p).name, r) for p, r, _d in summary.rejected_files) == [
        ("concept_text.dcm", "not_a_dose_report"), ("meta_vr.dcm", "corrupt"), ("null_charset.dcm", "corrupt")]
    store = Store(settings.database_url)
    try:
        so = store.read("select status, reason, path from source_object order by reason")
        assert sorted(zip(so["status"], so["reason"].fillna(""), strict=True)) == [
            ("ingested", ""), ("rejected", "corrupt"), ("rejected", "corrupt"), ("rejected", "not_a_dose_report")]
        for kept in so[so["status"] == "rejected"]["path"]:
            assert Path(kept).is_relative_to(settings.quarantine_dir) and Path(kept).is_file()
            assert Path(kept + ".reason.txt").is_file()
        assert len(store.read("select study_uid from study")) == 1
    finally:
        store.close()
