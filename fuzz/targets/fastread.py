"""The lean SR byte walker (:func:`dmslab.ingest.rdsr._fastread.read_sr`): raises nothing; a dataset with its tree,
or ``None`` (pydicom's path then reads the file or rejects it with a reason)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from dmslab.ingest.rdsr._fastread import read_sr
from dmslab.ingest.rdsr._tree import Item

SEEDS = ("sr",)
DICT = "dicom.dict"


def check(data: bytes) -> None:
    ds = read_sr(data)
    if ds is None:
        return
    assert isinstance(ds, Dataset)
    assert isinstance(ds.content_tree, Item)
