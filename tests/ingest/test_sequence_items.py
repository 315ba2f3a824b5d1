"""``sequence_items``: a reader never indexes text as a sequence item when a damaged file gives a sequence tag
another VR (the fuzzer's ``ContentTemplateSequence`` as CS: ``'str' object has no attribute 'get'``)."""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dmslab.ingest._header import sequence_items
from dmslab.ingest.headers._common import first


def _item(value: str) -> Dataset:
    d = Dataset()
    d.CodeValue = value
    return d


def test_items_of_a_real_sequence():
    ds = Dataset()
    ds.ProcedureCodeSequence = Sequence([_item("A"), _item("B")])
    assert [i.CodeValue for i in sequence_items(ds, "ProcedureCodeSequence")] == ["A", "B"]
    assert first(ds, "ProcedureCodeSequence").CodeValue == "A"


def test_absent_empty_and_text_valued_sequences_have_no_items():
    ds = Dataset()
    assert sequence_items(ds, "ProcedureCodeSequence") == []
    ds.ProcedureCodeSequence = Sequence([])
    assert sequence_items(ds, "ProcedureCodeSequence") == []
    ds.add(DataElement(0x0040A504, "CS", "TID"))  # Content Template Sequence damaged into text
    assert ds["ContentTemplateSequence"].value == "TID"
    assert sequence_items(ds, "ContentTemplateSequence") == []
    assert first(ds, "ContentTemplateSequence") is None
