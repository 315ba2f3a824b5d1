"""The lean SR reader builds exactly the tree the pydicom path builds, on every file we have."""

from __future__ import annotations

import pydicom
import pytest

from dmslab.ingest.rdsr._fastread import read_sr
from dmslab.ingest.rdsr._tree import Item, _item, read_tree


def _norm(it: Item) -> Item:
    it.meaning = it.meaning.strip() if it.meaning else it.meaning
    for c in it.children:
        _norm(c)
    return it


def _compare(path) -> bool | None:
    lean = read_sr(path.read_bytes())
    if lean is None:
        return None
    ref = pydicom.dcmread(path)
    assert str(lean.StudyInstanceUID) == str(ref.StudyInstanceUID)
    assert str(lean.get("PatientID", "")) == str(ref.get("PatientID", ""))
    assert str(lean.file_meta.TransferSyntaxUID) == str(ref.file_meta.TransferSyntaxUID)
    return _norm(read_tree(lean)) == _norm(_item(ref))


def test_synthetic_trees_identical(department):
    root, truth = department
    paths = [root / f for s in truth.studies for f in s.files]
    assert all(_compare(p) is True for p in paths)


@pytest.mark.requires_corpus
def test_corpus_trees_identical_or_fallback(corpus):
    paths = sorted(p for p in (corpus / "openrem").glob("*.dcm")
                   if p.read_bytes()[128:512].find(b"1.2.840.10008.5.1.4.1.1.88.") >= 0)
    results = {p.name: _compare(p) for p in paths}
    assert len(results) >= 30
    assert [n for n, r in results.items() if r is False] == []
    # Explicit VR big endian (retired) is left to pydicom
    assert results["MG-RDSR-Giotto-DBT.dcm"] is None
    assert sum(r is True for r in results.values()) == len(results) - 1


def test_truncated_file_falls_back(department):
    root, truth = department
    data = (root / truth.studies[0].files[0]).read_bytes()
    assert read_sr(data[: len(data) // 2]) is None
    assert read_sr(b"not dicom at all" * 20) is None
