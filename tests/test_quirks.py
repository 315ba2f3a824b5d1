"""Vendor quirks: a declarative table, every row used by the code, every applied fix recorded."""

import re
from pathlib import Path

import pytest

import dmslab
from dmslab.ingest import parse_file
from dmslab.quirks import note, quirks

PKG = Path(dmslab.__file__).parent


def test_every_quirk_has_what_fix_and_source():
    assert quirks()
    for q in quirks().values():
        assert q.what and q.fix and q.source and q.edition, q.quirk_id


def test_every_quirk_row_is_applied_somewhere_and_every_applied_id_exists():
    code = "\n".join(p.read_text() for p in PKG.rglob("*.py"))
    used = set(re.findall(r'note\("([a-z0-9-]+)"', code))
    used |= set(re.findall(r"vendor_quirks.csv: ([a-z0-9-, ]+)\)", code))
    used = {u.strip() for part in used for u in part.split(",")}
    assert used - set(quirks()) == set()
    assert set(quirks()) - used == set()


def test_slash_separated_numbers_are_averaged_and_recorded():
    from dmslab.codes import KVP
    from dmslab.ingest.rdsr._extract import Extractor
    from dmslab.ingest.rdsr._tree import Item, numbers_from_text

    values, bad = numbers_from_text("10.50/ 15.00")
    assert values == (10.5, 15.0) and bad == "10.50/ 15.00"
    ex = Extractor("ct_event", "event[0]")
    with pytest.warns(dmslab.errors.VendorQuirkWarning):
        got = ex.num(Item(KVP, "NUM", values, "kV", bad_number=bad), "kvp", "voltage_kv")
    assert got == 12.75
    assert ex.fixes[0].startswith("quirk numeric-slash-list: kvp")
    assert ex.fixes[1].startswith("quirk numeric-multi-value: kvp mean of 2")


def test_unknown_quirk_id_is_an_error():
    with pytest.raises(KeyError, match="known"):
        note("no-such-quirk")


@pytest.mark.requires_corpus
@pytest.mark.parametrize(("name", "expected"), [
    ("RF-RDSR-Eurocolumbus.dcm", "quirk numeric-multi-value: kvp mean of"),
    ("RF-RDSR-Siemens-Zee.dcm", "quirk retired-exposure-time: exposure_time_ms"),
    ("RF-RDSR-GE-OECEliteMiniView.dcm", "quirk no-template-identifier"),
    ("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm", "dap_gym2: dGy.cm2"),
])
def test_applied_quirks_are_recorded_on_the_record(corpus, pseudo, name, expected):
    rep = parse_file(corpus / "openrem" / name, pseudo).report
    recorded = [f for r in (rep.study, *rep.ct_events, *rep.proj_events, *rep.planes) for f in r.unit_fixes]
    assert any(f.startswith(expected) for f in recorded), recorded[:10]
