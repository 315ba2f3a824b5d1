"""The shared DICOM byte walker against known byte layouts and against pydicom's own reader and writer."""

from __future__ import annotations

import io
import struct
from typing import Any

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import data_element_generator, read_dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import convert_value

from dmslab.dicom import ITEM, ITEM_END, LONG_VRS, SEQ_END, UNDEFINED, VRS, Walker, first_elements
from dmslab.errors import DicomStructureError, DmslabError


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2s2xL", tag >> 16, tag & 0xFFFF, vr, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _implicit(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value) if length is None else length) + value


def _delim(tag: int) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, 0)


# --- known byte layouts (PS3.5 §7.1, §7.5) ---------------------------------------------------------------------


def test_explicit_vr_short_and_long_headers() -> None:
    buf = _explicit(0x00100010, b"PN", b"AB^C") + _explicit(0x00420011, b"OB", b"\x01\x02")
    assert Walker(buf, implicit=False).header(0) == (0x00100010, b"PN", 4, 8)
    assert Walker(buf, implicit=False).header(12) == (0x00420011, b"OB", 2, 24)
    assert [e[0] for e in Walker(buf, implicit=False).top_level(0)] == [0x00100010, 0x00420011]


def test_implicit_vr_undefined_length_sequence_and_items_with_delimiters() -> None:
    item = _implicit(0x00080100, b"113701") + _implicit(0x00080102, b"DCM ")
    seq = (_implicit(ITEM, b"", UNDEFINED) + item + _delim(ITEM_END)
           + _implicit(ITEM, item) + _delim(SEQ_END))
    buf = _implicit(0x00100020, b"P1") + _implicit(0x0040A043, seq, UNDEFINED) + _implicit(0x00100030, b"20260101")
    got = {tag: value for tag, _vr, _len, _pos, value, _end in Walker(buf, implicit=True).top_level(0)}
    code = {0x00080100: b"113701", 0x00080102: b"DCM "}
    assert got == {0x00100020: b"P1", 0x0040A043: [code, code], 0x00100030: b"20260101"}


def test_implicit_vr_defined_length_sequence_is_known_from_the_dictionary() -> None:
    item = _implicit(0x00080100, b"1234")
    buf = _implicit(0x0040A043, _implicit(ITEM, item)) + _implicit(0x00091001, _implicit(ITEM, item))
    got = {tag: value for tag, *_rest, value, _end in Walker(buf, implicit=True).top_level(0)}
    assert got[0x0040A043] == [{0x00080100: b"1234"}]  # the dictionary says SQ
    assert got[0x00091001] == _implicit(ITEM, item)  # a private tag of defined length stays bytes


def test_group_0002_is_explicit_even_in_implicit_vr() -> None:
    buf = _explicit(0x00020010, b"UI", ImplicitVRLittleEndian.encode() + b"\0") + _implicit(0x00100020, b"P1")
    got = [(tag, vr, value) for tag, vr, _len, _pos, value, _end in Walker(buf, implicit=True).top_level(0)]
    assert got == [(0x00020010, b"UI", b"1.2.840.10008.1.2\0"), (0x00100020, None, b"P1")]


@pytest.mark.parametrize(("buf", "reason"), [
    (_implicit(0x0040A043, _implicit(ITEM, b"") + _implicit(0x00100020, b"P1"), UNDEFINED), "bad_item"),
    (_implicit(0x0040A043, _implicit(ITEM, _delim(ITEM_END))), "bad_delimiter"),
    (_delim(ITEM_END) + _implicit(0x00100020, b"P1"), "bad_delimiter"),
    (_implicit(0x0040A043, _implicit(ITEM, _implicit(0x00080100, b"12"), 4)), "overrun"),
    (_implicit(0x0040A043, _implicit(ITEM, b"", UNDEFINED) + _implicit(0x00080100, b"12"), UNDEFINED), "truncated"),
    (_implicit(0x00100020, b"P1")[:-1], "truncated"),
    (_implicit(0x00100020, b"P1")[:7], "truncated"),
])
def test_broken_structures_raise_a_typed_error_with_its_reason(buf: bytes, reason: str) -> None:
    with pytest.raises(DicomStructureError) as info:
        for _ in Walker(buf, implicit=True).top_level(0):
            pass
    assert info.value.reason == reason and isinstance(info.value, DmslabError)
    assert 0 <= info.value.offset <= len(buf)


def test_undefined_length_is_for_sequences_only() -> None:
    buf = struct.pack("<HH2s2xL", 0x0042, 0x0011, b"OB", UNDEFINED) + b"\1\2"
    with pytest.raises(DicomStructureError) as info:
        list(Walker(buf, implicit=False).top_level(0))
    assert info.value.reason == "undefined_length"


def test_keep_false_walks_without_values() -> None:
    buf = _implicit(0x00100020, b"P1") + _implicit(0x0040A043, _implicit(ITEM, _implicit(0x00080100, b"12")))
    assert [v for *_x, v, _e in Walker(buf, implicit=True, keep=False).top_level(0)] == [None, [{}]]


# --- against pydicom ---------------------------------------------------------------------------------------------


def _document(undefined: bool) -> Dataset:
    """A small SR-like dataset: text, numbers, binary values, two levels of nested sequences."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.67"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.PatientName = "Müller^Anna"
    ds.PatientWeight = "71.5"
    ds.Rows = 2
    ds.RealWorldValueLastValueMapped = 7
    ds.ValueType = "CONTAINER"
    children = []
    for i in range(3):
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = f"11{i}", "DCM", f"concept {i}"
        mv = Dataset()
        mv.NumericValue = f"{i}.25"
        mv.FloatingPointValue = i + 0.25
        item = Dataset()
        item.ValueType = "NUM"
        item.ConceptNameCodeSequence = Sequence([code])
        item.MeasuredValueSequence = Sequence([mv])
        children.append(item)
    ds.ContentSequence = Sequence(children)
    if undefined:
        for elem in [ds["ContentSequence"], *(e for it in children for e in it if e.VR == "SQ")]:
            elem.is_undefined_length = True
        for it in children:
            it.is_undefined_length_sequence_item = True
    return ds


def _encoded(ds: Dataset, *, implicit: bool) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    return out.getvalue()


def _pydicom_read(data: bytes, implicit: bool) -> tuple[Dataset, int]:
    """pydicom's reading of the dataset after the file meta, with every element still raw; and where it starts."""
    start = 132 + 12 + struct.unpack_from("<L", data, 140)[0]
    fp = io.BytesIO(data)
    fp.seek(start)
    return read_dataset(fp, implicit, True), start


def _pydicom_tree(ds: Dataset) -> dict[int, Any]:
    """tag -> raw value bytes, or tag -> list of item trees, as pydicom read them."""
    out: dict[int, Any] = {}
    for tag in ds.keys():
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes) and raw.VR != "SQ" and not (
                raw.VR is None and pydicom.datadict.dictionary_VR(tag) == "SQ"):
            out[int(tag)] = raw.value
        else:
            out[int(tag)] = [_pydicom_tree(item) for item in ds[tag].value]
    return out


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("undefined", [True, False])
def test_walk_gives_the_elements_pydicom_reads(implicit: bool, undefined: bool) -> None:
    data = _encoded(_document(undefined), implicit=implicit)
    assert (b"\xfe\xff\xdd\xe0" in data) is undefined  # the layout under test is really there
    ref, _start = _pydicom_read(data, implicit)
    got = {tag: value for tag, _vr, _n, _pos, value, _end in Walker(data, implicit=implicit).top_level(132)}
    meta = {tag: got.pop(tag) for tag in list(got) if tag >> 16 == 0x0002}
    assert got == _pydicom_tree(ref)
    assert meta[0x00020010].rstrip(b"\0").decode() == pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID


def _element_starts(data: bytes, implicit: bool) -> set[int]:
    """Where pydicom's element reader finds each top-level element to start (undefined-length sequences, which it
    reads whole, start where the element before them ends)."""
    start = 132 + 12 + struct.unpack_from("<L", data, 140)[0]
    fp = io.BytesIO(data)
    fp.seek(start)
    starts, end = set(), start
    for elem in data_element_generator(fp, implicit, True):
        if isinstance(elem, RawDataElement):
            long = not implicit and elem.VR in EXPLICIT_VR_LENGTH_32
            starts.add(elem.value_tell - (12 if long else 8))
            end = elem.value_tell + elem.length
        else:
            starts.add(end)
    return starts


@pytest.mark.parametrize("implicit", [True, False])
def test_every_cut_inside_an_element_is_truncated_and_every_cut_between_elements_is_not(implicit: bool) -> None:
    data = _encoded(_document(undefined=True), implicit=implicit)
    starts = _element_starts(data, implicit)
    boundaries = starts | {len(data)}
    first = min(starts)
    assert len(starts) == 9
    for cut in range(first, len(data) + 1):
        try:
            for _ in Walker(data[:cut], implicit=implicit).top_level(first):
                pass
        except DicomStructureError as exc:
            assert cut not in boundaries and exc.reason == "truncated", (cut, exc)
        else:
            assert cut in boundaries, cut


def test_first_elements_match_pydicom() -> None:
    for implicit in (True, False):
        data = _encoded(_document(undefined=True), implicit=implicit)
        ref = pydicom.dcmread(io.BytesIO(data))
        body = data[132 + 12 + struct.unpack_from("<L", data, 140)[0]:]
        found = first_elements(body, implicit=implicit, last=0x00080018)
        assert found[0x00080016].rstrip(b"\0").decode() == ref.SOPClassUID
        assert found[0x00080018].rstrip(b"\0").decode() == ref.SOPInstanceUID
        assert 0x00100010 not in found


# --- the VR table -----------------------------------------------------------------------------------------------


def test_vr_table_is_pydicoms() -> None:
    assert {vr.decode() for vr in VRS} == {v.value for v in VR if "_" not in v.value and " " not in v.value}
    assert {vr.decode() for vr in LONG_VRS} == {str(v) for v in EXPLICIT_VR_LENGTH_32}
    for vr, info in VRS.items():
        if info.size and not vr.startswith(b"O"):  # one binary value of that size decodes, one byte less does not
            elem = RawDataElement(Tag(0x00091010), vr.decode(), info.size, b"\x01" * info.size, 0, False, True)
            one = convert_value(vr.decode(), elem, None)
            two = RawDataElement(Tag(0x00091010), vr.decode(), 2 * info.size, b"\x01" * 2 * info.size, 0, False,
                                 True)
            assert not isinstance(one, (list, MultiValue)) and len(convert_value(vr.decode(), two, None)) == 2


_TEXT_VRS = sorted(vr.decode() for vr, info in VRS.items() if info.text)


@settings(max_examples=300, deadline=None)
@given(vr=st.sampled_from(_TEXT_VRS), raw=st.binary(max_size=40),
       encodings=st.sampled_from([["iso8859"], ["iso_ir_100"], ["iso2022_jp", "shift_jis"], ["UTF-8"]]))
def test_text_vrs_never_fail_to_decode(vr: str, raw: bytes, encodings: list[str]) -> None:
    """Why the lean SR reader may leave text header values to decode on access (dmslab.ingest.rdsr._fastread
    ._validate): under pydicom's default reading validation, decoding a character string cannot raise."""
    import warnings

    elem = RawDataElement(Tag(0x00100010 if vr == "PN" else 0x00091010), vr, len(raw), raw, 0, False, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert_value(vr, elem, encodings)
