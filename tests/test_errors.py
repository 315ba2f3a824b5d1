"""Every exception class dmslab defines derives from DmslabError (every warning from DmslabWarning), and carries a
reason where callers dispatch on one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import dmslab
from dmslab.errors import DmslabError, DmslabWarning, InboxFullError, MppsError


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(dmslab.__path__, "dmslab.")]
    return [n for n in names if ".migrations" not in n and not n.endswith("__main__")]


def test_every_exception_class_derives_from_dmslab_error() -> None:
    outside = []
    for name in _modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            base = DmslabWarning if issubclass(cls, Warning) else DmslabError
            if not issubclass(cls, base):
                outside.append(f"{name}.{cls_name}")
    assert outside == []
    assert len(_modules()) > 100  # the walk sees the whole package


@pytest.mark.parametrize(("reason", "status"), [("invalid_attribute_value", 0x0106), ("duplicate_instance", 0x0111),
                                                ("no_such_instance", 0x0112), ("missing_attribute", 0x0120)])
def test_mpps_error_reason_gives_the_dimse_status(reason: str, status: int) -> None:
    exc = MppsError(reason, "detail")
    assert exc.reason == reason and exc.status == status and str(exc) == "detail"
    with pytest.raises(ValueError, match="unknown MPPS reason 'nope'"):
        MppsError("nope", "x")


def test_inbox_full_is_a_dmslab_error_and_an_os_error() -> None:
    exc = InboxFullError("inbox /x: less than 10 bytes free; object refused")
    assert isinstance(exc, DmslabError) and isinstance(exc, OSError) and exc.reason == "disk_full"
