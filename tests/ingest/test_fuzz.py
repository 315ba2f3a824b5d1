"""Fuzz :func:`dmslab.ingest.parse_file` with mutated RDSRs (issue 4, item 6).

Every mutant must come back as an :class:`~dmslab.ingest.Outcome` (no exception escapes, no hang) that is
either a report whose values pass the data contracts or carry the contract's complaint in ``flags``, or a
rejection with a reason in :attr:`IngestError.REASONS`. An outcome whose detail starts with "unexpected"
is a parser bug that ``parse_file`` caught on its way out: each one is listed with its reproducer
(``family``, ``seed``, base file), which :func:`mutant` turns back into the same bytes.

Mutants come from the synthetic department (always) and the public vendor corpus (when present). All
randomness is seeded, so a run is reproducible file for file.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dmslab.contracts import check_values
from dmslab.errors import IngestError
from dmslab.ingest import Outcome, parse_file
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, record_values

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom and VendorQuirk warnings, by design

SEED = 20260105
PER_FAMILY_SYNTHETIC = 400  # x 6 families = 2 400 synthetic mutants
PER_FAMILY_CORPUS = 100  # x 6 families = 600 corpus mutants
PER_FILE_LIMIT_S = 5.0  # a parse taking more CPU seconds than this is treated as a hang (CPU time: stable under load)
TOTAL_LIMIT_S = {"synthetic": 90.0, "corpus": 90.0}  # mutate + parse, whole campaign, CPU s (typ. 15 s)
CORPUS_MAX_BYTES = 150_000  # keeps the corpus campaign fast; the large RF files add time, not new structure

_CONTENT_SEQ = Tag(0x0040A730)
_MEASURED_VALUE_SEQ = Tag(0x0040A300)
_NUMERIC_VALUE = Tag(0x0040A30A)
_FLOAT_VALUE = Tag(0x0040A161)
_UNITS_SEQ = Tag(0x004008EA)
_CONCEPT_NAME = Tag(0x0040A043)
_VALUE_TYPE = Tag(0x0040A040)
_SOP_CLASS = Tag(0x00080016)
_TABLES = (("ct_events", "ct_event"), ("proj_events", "proj_event"), ("planes", "proj_plane"))


# --------------------------------------------------------------------------------------------- mutators


def _bitflip(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(132 if len(buf) > 132 else 0, len(buf))
        buf[pos] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _overwrite(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        n = rng.randint(1, 16)
        pos = rng.randrange(132, max(133, len(buf) - n))
        fill = rng.choice([bytes(rng.randrange(256) for _ in range(n)), b"\xff" * n, b"\x00" * n])
        buf[pos:pos + n] = fill
    return bytes(buf)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(0, len(data))]


def _raw(tag: int, vr: str, value: bytes) -> RawDataElement:
    """An element written byte for byte, bypassing pydicom's value validation (garbage on purpose)."""
    if len(value) % 2:
        value += b" "
    return RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def _content_items(ds: Dataset) -> Iterator[tuple[Any, int, Dataset]]:
    """Every content item below ``ds`` as (parent sequence, index, item), depth first."""
    seq = ds.get(_CONTENT_SEQ)
    if seq is None or seq.VR != "SQ":
        return
    for i, item in enumerate(seq.value):
        yield seq.value, i, item
        yield from _content_items(item)


def _num_items(ds: Dataset) -> list[Dataset]:
    return [it for _s, _i, it in _content_items(ds) if it.get(_MEASURED_VALUE_SEQ) is not None
            and it[_MEASURED_VALUE_SEQ].VR == "SQ" and len(it[_MEASURED_VALUE_SEQ].value)]


def _delete_items(ds: Dataset, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        items = list(_content_items(ds))
        if not items:
            return
        seq, i, item = rng.choice(items)
        roll = rng.random()
        if roll < 0.7:
            del seq[i]
        elif roll < 0.85:
            item.pop(_CONCEPT_NAME, None)
        else:
            item.pop(_CONTENT_SEQ if _CONTENT_SEQ in item else _VALUE_TYPE, None)


_GARBAGE_TEXT = [b"abc", b"1,5", b"NaN", b"inf", b"-inf", b"-1e308", b"1e400", b"\x00\x00", b"", b"3\\x", b"1/2",
                 b"  ", b"0x1F", b"12.3.4", b"-0", b"1e-400", b"\xff\xfe", b"1" * 64, b"5\\5\\5\\5"]
_GARBAGE_UNITS = ["furlong", "", "mGy*cm2x", "Gy.m2.m2", "%", "{ratio}", "uGy", "dGy.cm2", "MGY"]


def _garbage_value(item: Dataset, rng: random.Random) -> None:
    mv: Dataset = item[_MEASURED_VALUE_SEQ].value[0]
    roll = rng.randrange(8)
    if roll == 0:
        mv[_NUMERIC_VALUE] = _raw(0x0040A30A, "DS", rng.choice(_GARBAGE_TEXT))
    elif roll == 1:
        mv[_NUMERIC_VALUE] = _raw(0x0040A30A, rng.choice(["UN", "OB", "FD", "SQ", "LO"]), bytes(
            rng.randrange(256) for _ in range(rng.choice([0, 2, 8, 16]))))
    elif roll == 2:
        mv.FloatingPointValue = rng.choice([float("nan"), float("inf"), -float("inf"), 1e308, -1.0, 0.0])
    elif roll == 3 and mv.get(_UNITS_SEQ) is not None and mv[_UNITS_SEQ].VR == "SQ" and len(mv[_UNITS_SEQ].value):
        mv[_UNITS_SEQ].value[0].CodeValue = rng.choice(_GARBAGE_UNITS)
    elif roll == 4:
        mv.pop(_UNITS_SEQ, None)
    elif roll == 5:
        mv[_UNITS_SEQ] = _raw(0x004008EA, "LO", b"mGy")
    elif roll == 6:
        item[_MEASURED_VALUE_SEQ] = _raw(0x0040A300, "LO", b"12.5 mGy")
    else:
        item[_VALUE_TYPE] = _raw(0x0040A040, "CS", rng.choice([b"NUMX", b"CODE", b"TEXT", b"", b"CONTAINER"]))


def _garbage_num(ds: Dataset, rng: random.Random) -> None:
    items = _num_items(ds)
    for item in rng.sample(items, min(len(items), rng.randint(1, 3))):
        _garbage_value(item, rng)


_SOP_CLASSES = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33",
                "1.2.840.10008.5.1.4.1.1.88.68", "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.59",
                "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.88.76", "1.2.840.10008.5.1.4.1.1.88.67"]


def _swap_sop(ds: Dataset, rng: random.Random) -> None:
    roll = rng.randrange(5)
    if roll <= 1:
        ds.SOPClassUID = rng.choice(_SOP_CLASSES)
    elif roll == 2:
        ds[_SOP_CLASS] = _raw(0x00080016, "UI", rng.choice([b"", b"garbage", b"1.2.3\x00", b"\xff\xff"]))
    elif roll == 3 and "ConceptNameCodeSequence" in ds and len(ds.ConceptNameCodeSequence):
        ds.ConceptNameCodeSequence[0].CodeValue = rng.choice(["113500", "18748-4", "113701x", ""])
    else:
        seq = Dataset()
        seq.MappingResource = "DCMR"
        seq.TemplateIdentifier = rng.choice(["10021", "2000", "10001", "10011", "99999"])
        ds.ContentTemplateSequence = [seq]
    if rng.random() < 0.5 and "SOPClassUID" in ds and ds[_SOP_CLASS].VR == "UI" and not ds[_SOP_CLASS].is_raw:
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID


def _via_pydicom(edit: Callable[[Dataset, random.Random], None]) -> Callable[[bytes, random.Random], bytes]:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        ds = pydicom.dcmread(io.BytesIO(data))
        edit(ds, rng)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=False)
        return out.getvalue()

    return mutate


FAMILIES: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bitflip": _bitflip,
    "overwrite": _overwrite,
    "truncate": _truncate,
    "delete_items": _via_pydicom(_delete_items),
    "garbage_num": _via_pydicom(_garbage_num),
    "swap_sop": _via_pydicom(_swap_sop),
}


def mutant(base: Path, family: str, seed: int) -> bytes:
    """The bytes of one mutant: reproduce a reported failure with ``mutant(base, family, seed)``."""
    return FAMILIES[family](base.read_bytes(), random.Random(seed))


# --------------------------------------------------------------------------------------------- campaign


@dataclass
class Campaign:
    """Outcomes of one fuzz run with everything the assertions need."""

    name: str
    counts: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    bugs: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    n: int = 0
    total_s: float = 0.0
    max_parse_s: float = 0.0

    def table(self) -> str:
        """The outcome distribution as text."""
        rows = [f"fuzz {self.name}: {self.n} mutants in {self.total_s:.1f} CPU s "
                f"(slowest parse {self.max_parse_s * 1000:.0f} ms CPU)"]
        rows += [f"  {k:40s} {v:5d}" for k, v in sorted(self.counts.items())]
        return "\n".join(rows)


def _unflagged(report: DoseReport) -> list[str]:
    """Contract problems of the report's values that are not in the record's ``flags``."""
    parts: list[tuple[str, Any]] = [("study", report.study)]
    for attr, table in _TABLES:
        parts += [(table, rec) for rec in getattr(report, attr)]
    out = []
    for table, rec in parts:
        values = {k: v for k, v in record_values(rec).items() if v is not None and k not in ("flags", "unit_fixes")}
        out += [f"{table}: {p}" for p in check_values(table, values) if p not in rec.flags]
    return out


def _judge(camp: Campaign, outcome: object, tag: str) -> None:
    if not isinstance(outcome, Outcome):
        camp.violations.append(f"{tag}: parse_file returned {type(outcome).__name__}")
        return
    if (outcome.report is None) == (outcome.reason is None):
        camp.violations.append(f"{tag}: outcome has both or neither of report and reason")
    elif outcome.report is not None:
        camp.counts["ingested (flagged)" if outcome.report.flagged else "ingested"] += 1
        camp.violations += [f"{tag}: {p}" for p in _unflagged(outcome.report)]
    elif outcome.reason not in IngestError.REASONS:
        camp.violations.append(f"{tag}: unknown reason {outcome.reason!r}")
    elif (outcome.detail or "").startswith("unexpected"):
        camp.counts[f"rejected {outcome.reason} (UNEXPECTED)"] += 1
        camp.bugs.append(f"{tag}: {outcome.detail}")
    else:
        camp.counts[f"rejected {outcome.reason}"] += 1


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (tesseract): on a busy machine wall time says
    nothing about a campaign's cost."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run(name: str, bases: list[Path], per_family: int, out_dir: Path) -> Campaign:
    camp = Campaign(name)
    pseudo = Pseudonymiser(bytes(range(32)))
    t0 = _cpu()
    for f_i, family in enumerate(FAMILIES):
        for i in range(per_family):
            seed = SEED + 100_000 * f_i + i
            base = random.Random(seed).choice(bases)
            tag = f"{family} seed={seed} base={base.name}"
            path = out_dir / f"{family}-{seed}.dcm"
            try:
                path.write_bytes(mutant(base, family, seed))
            except Exception as exc:  # the mutator itself gave up on this base (pydicom refused): not a finding
                camp.counts[f"mutator skipped ({type(exc).__name__})"] += 1
                continue
            t = time.process_time()
            try:
                outcome: object = parse_file(path, pseudo)
            except Exception as exc:  # anything escaping parse_file is the finding
                outcome = None
                camp.counts["EXCEPTION ESCAPED parse_file"] += 1
                camp.escaped.append(f"{tag}: {type(exc).__module__}.{type(exc).__qualname__}: {exc}")
            dt = time.process_time() - t
            camp.max_parse_s = max(camp.max_parse_s, dt)
            if dt > PER_FILE_LIMIT_S:
                camp.slow.append(f"{tag}: {dt:.1f} CPU s")
            camp.n += 1
            if outcome is not None:
                _judge(camp, outcome, tag)
            path.unlink()
    camp.total_s = _cpu() - t0
    print(camp.table())  # the distribution is part of the test's report (pytest -s / -rP)
    return camp


@pytest.fixture(scope="module")
def synthetic_campaign(department: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    root, _truth = department
    bases = sorted(root.rglob("*.dcm"))
    return _run("synthetic", bases, PER_FAMILY_SYNTHETIC, tmp_path_factory.mktemp("fuzz-synthetic"))


@pytest.fixture(scope="module")
def corpus_campaign(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    pseudo = Pseudonymiser(bytes(range(32)))
    bases = [p for p in sorted((corpus / "openrem").glob("*.dcm")) if p.stat().st_size <= CORPUS_MAX_BYTES
             and (parse_file(p, pseudo).sop_class_uid or "").startswith("1.2.840.10008.5.1.4.1.1.88.")]
    assert len(bases) >= 10
    return _run("corpus", bases, PER_FAMILY_CORPUS, tmp_path_factory.mktemp("fuzz-corpus"))


@pytest.fixture(params=["synthetic", pytest.param("corpus", marks=pytest.mark.requires_corpus)])
def campaign(request: pytest.FixtureRequest) -> Campaign:
    fixture: Campaign = request.getfixturevalue(f"{request.param}_campaign")
    return fixture


# --------------------------------------------------------------------------------------------- tests


def test_mutators_are_deterministic(department: tuple[Path, Any]) -> None:
    base = sorted(department[0].rglob("*.dcm"))[0]
    for family in FAMILIES:
        assert mutant(base, family, 7) == mutant(base, family, 7), family
        assert mutant(base, family, 7) != base.read_bytes() or family == "delete_items", family


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_outcome_is_a_checked_report_or_a_known_rejection(campaign: Campaign) -> None:
    per_family = PER_FAMILY_SYNTHETIC if campaign.name == "synthetic" else PER_FAMILY_CORPUS
    assert campaign.n >= 0.95 * per_family * len(FAMILIES), campaign.table()
    assert not campaign.violations, "\n".join(campaign.violations[:50])
    assert campaign.counts["ingested"] + campaign.counts["ingested (flagged)"] > 0, campaign.table()
    assert sum(v for k, v in campaign.counts.items() if k.startswith("rejected")) > 0, campaign.table()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_mutant_hangs_and_the_campaign_stays_bounded(campaign: Campaign) -> None:
    assert not campaign.slow, f"parses over {PER_FILE_LIMIT_S} CPU s: {campaign.slow}"
    assert campaign.total_s < TOTAL_LIMIT_S[campaign.name], campaign.table()


#: Bugs this fuzzer found and that were fixed (issue 4): struct.error and type confusions in the lean SR reader,
#: non-sequence elements where sequences are expected, pydicom's lazy decoding errors, NaN in count fields.
#: Reproducers: ``mutant(base, family, seed)`` with truncate 20460105, garbage_num 20660106/07/44/50,
#: bitflip 20260484/439, corpus garbage_num 20660140/59.


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_exception_escapes_parse_file(campaign: Campaign) -> None:
    assert not campaign.escaped, f"{len(campaign.escaped)} escaped:\n" + "\n".join(campaign.escaped[:50])


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_parser_bug_surfaces_as_unexpected_error(campaign: Campaign) -> None:
    assert not campaign.bugs, f"{len(campaign.bugs)} parser bug(s):\n" + "\n".join(campaign.bugs[:50])
