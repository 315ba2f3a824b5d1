"""Acceptance self-test: does dmslab read this site's dose reports the way the site says it should?

Before go-live an MPE collects a folder of the site's own dose objects and writes down, independently
of dmslab (from the console screen, the vendor's dose sheet or a reference tool), the values each file
holds. :func:`run_selftest` parses every listed file with the ingest parsers -- no database needed --
and compares, value by value. :func:`write_expected_template` writes what dmslab reads today as a
starting point for that list: the site reviews and corrects it; it is never evidence by itself.

The expected-values file is CSV (or JSON: a list of objects, or ``{"values": [...]}``) with columns

``file``
    Path relative to the folder.
``scope``
    ``study``, ``event[i]`` (irradiation events in document order, from 0) or ``plane[i]``
    (accumulated dose per acquisition plane, from 0).
``field``
    A record field, with its canonical unit in the name: ``total_dlp_mgycm``, ``ctdivol_mgy``,
    ``dap_gym2`` (see :mod:`dmslab.records`).
``value``
    The expected value in that unit; text fields compare as text, ``study_datetime`` /
    ``event_datetime`` as ISO 8601. An empty value means "dmslab should read nothing here".
``tolerance``
    Optional relative tolerance (default :data:`DEFAULT_TOLERANCE`).

Examples
--------
>>> from dmslab.selftest import run_selftest  # doctest: +SKIP
>>> result = run_selftest("acceptance/", "acceptance/expected.csv", settings=settings)  # doctest: +SKIP
>>> result.passed, result.totals  # doctest: +SKIP
(True, {'pass': 412, 'fail': 0, 'missing': 0, 'rejected': 0})
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from dmslab.config import Settings
from dmslab.ingest import Outcome, iter_files, parse_file
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import CtEventRecord, DoseReport, PlaneRecord, ProjEventRecord, StudyRecord

__all__ = ["DEFAULT_TOLERANCE", "STATUSES", "SelftestResult", "read_expected", "run_selftest",
           "write_expected_template"]

logger = logging.getLogger(__name__)

#: Relative tolerance used when the expected-values file gives none.
DEFAULT_TOLERANCE = 1e-6
#: Every status a value can have, in the order totals are listed.
STATUSES = ("pass", "fail", "missing", "rejected")
COLUMNS = ("file", "scope", "field", "expected", "got", "status", "reason")

_SCOPE = re.compile(r"^(study|event\[(\d+)\]|plane\[(\d+)\])$")
_FIELDS = {
    "study": frozenset(f.name for f in fields(StudyRecord)),
    "event": frozenset(f.name for f in (*fields(CtEventRecord), *fields(ProjEventRecord))),
    "plane": frozenset(f.name for f in fields(PlaneRecord)),
}
#: What :func:`write_expected_template` lists by default: dose values and the study's identity checks.
TEMPLATE_FIELDS = {
    "study": ("modality", "total_dlp_mgycm", "total_dap_gym2", "total_rp_dose_gy", "fluoro_time_s",
              "agd_left_mgy", "agd_right_mgy"),
    "event": ("ctdivol_mgy", "dlp_mgycm", "dap_gym2", "rp_dose_gy", "agd_mgy", "kvp"),
    "plane": ("dap_total_gym2", "rp_total_gy", "fluoro_time_s", "fluoro_dap_gym2", "acq_dap_gym2"),
}


@dataclass(frozen=True, slots=True)
class SelftestResult:
    """The per-value comparison table of a self-test run.

    Attributes
    ----------
    table
        One row per expected value: ``file``, ``scope``, ``field``, ``expected``, ``got``, ``status``
        (one of :data:`STATUSES`) and ``reason`` (why it is not ``pass``; empty when it is).
    folder
        The folder the files were read from.
    files
        Number of distinct files listed in the expected values.
    """

    table: pd.DataFrame
    folder: str
    files: int

    @property
    def totals(self) -> dict[str, int]:
        """Number of values per status (every status present, zero when none)."""
        counts = self.table["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in STATUSES}

    @property
    def passed(self) -> bool:
        """True when every expected value passed (and there was at least one)."""
        return len(self.table) > 0 and bool((self.table["status"] == "pass").all())

    @property
    def problems(self) -> pd.DataFrame:
        """The rows that did not pass."""
        return self.table[self.table["status"] != "pass"]

    def summary(self) -> str:
        """One line: how many values in how many files, and the count per status."""
        counts = ", ".join(f"{n} {s}" for s, n in self.totals.items())
        verdict = "PASSED" if self.passed else "FAILED"
        return f"selftest {verdict}: {len(self.table)} value(s) in {self.files} file(s) from {self.folder}: {counts}"

    def lines(self, limit: int = 50) -> list[str]:
        """A text rendering for the command line: the summary, then up to ``limit`` rows that did not pass."""
        out = [self.summary()]
        bad = self.problems
        for row in bad.head(limit).itertuples(index=False):
            out.append(f"  {row.status:8s} {row.file} {row.scope}.{row.field}: expected {row.expected!s}, "
                       f"got {row.got!s}{f' ({row.reason})' if row.reason else ''}")
        if len(bad) > limit:
            out.append(f"  ... and {len(bad) - limit} more (see .table)")
        return out

    def _repr_html_(self, limit: int = 200) -> str:
        bad = self.problems
        colour = "#1a7f37" if self.passed else "#b42318"
        head = f"<p style='color:{colour};font-weight:bold'>{html.escape(self.summary())}</p>"
        if bad.empty:
            return head
        more = f"<p>showing {limit} of {len(bad)} rows that did not pass</p>" if len(bad) > limit else ""
        return head + bad.head(limit).to_html(index=False, na_rep="") + more


# --------------------------------------------------------------------------------------------- expected values


def _check_row(i: int, row: dict[str, Any]) -> None:
    m = _SCOPE.match(str(row["scope"]))
    if not m:
        raise ValueError(f"expected values row {i}: scope {row['scope']!r} is not one of study, event[i], plane[i]")
    kind = str(row["scope"]).split("[")[0]
    if row["field"] not in _FIELDS[kind]:
        raise ValueError(f"expected values row {i}: {row['field']!r} is not a {kind} field; "
                         f"allowed: {sorted(_FIELDS[kind] - {'flags', 'unit_fixes'})}")


def read_expected(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an expected-values file (CSV, or JSON when the name ends in ``.json``).

    Returns
    -------
    pandas.DataFrame
        Columns ``file``, ``scope``, ``field``, ``value`` (text, ``""`` for "expect nothing") and
        ``tolerance`` (float, relative).

    Raises
    ------
    ValueError
        When a column is missing, a scope is malformed or a field is not a record field (the message
        lists the allowed names).
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        raw = json.loads(p.read_text(encoding="utf-8"))
        df = pd.DataFrame(raw["values"] if isinstance(raw, dict) else raw, dtype=object)
    else:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    missing = {"file", "scope", "field", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"{p}: missing column(s) {sorted(missing)}; need file, scope, field, value[, tolerance]")
    if "tolerance" not in df.columns:
        df["tolerance"] = ""
    df = df[["file", "scope", "field", "value", "tolerance"]].copy()
    for col in ("file", "scope", "field"):
        df[col] = df[col].astype(str).str.strip()
    df["value"] = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip() for v in df["value"]]
    df["tolerance"] = [DEFAULT_TOLERANCE if str(t).strip() in ("", "None", "nan") else float(t)
                       for t in df["tolerance"]]
    for i, row in enumerate(df.to_dict("records")):
        _check_row(i, row)
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- comparison


def _record(report: DoseReport, scope: str) -> tuple[Any, str | None]:
    """The record a scope names, or ``None`` with the reason it is not there."""
    m = _SCOPE.match(scope)
    assert m is not None  # checked by read_expected
    if scope == "study":
        return report.study, None
    events = (*report.ct_events, *report.proj_events)
    items, i, what = (events, m.group(2), "event") if m.group(2) is not None else (report.planes, m.group(3), "plane")
    if int(i) >= len(items):
        return None, f"the report has {len(items)} {what}(s)"
    return items[int(i)], None


def _matches(expected: str, got: Any, tolerance: float) -> bool:
    if isinstance(got, bool) or isinstance(got, str):
        return str(got) == expected
    if isinstance(got, (int, float)):
        try:
            want = float(expected)
        except ValueError:
            return False
        return math.isclose(float(got), want, rel_tol=tolerance, abs_tol=1e-12)
    if isinstance(got, dt.datetime):
        try:
            return got == dt.datetime.fromisoformat(expected)
        except ValueError:
            return False
    return str(got) == expected


def _compare(outcome: Outcome | None, row: dict[str, Any]) -> tuple[Any, str, str]:
    """(got, status, reason) for one expected value."""
    if outcome is None:
        return None, "missing", "file not found"
    if outcome.report is None:
        return None, "rejected", f"{outcome.reason}: {outcome.detail}"
    record, why = _record(outcome.report, row["scope"])
    if record is None:
        return None, "missing", str(why)
    if not hasattr(record, row["field"]):
        return None, "missing", f"{row['field']} is not read for a {type(record).__name__}"
    got = getattr(record, row["field"])
    expected = row["value"]
    if got is None:
        return (None, "pass", "") if expected == "" else (None, "missing", "dmslab read no value")
    if expected == "":
        return got, "fail", "expected no value"
    if _matches(expected, got, row["tolerance"]):
        return got, "pass", ""
    return got, "fail", f"outside relative tolerance {row['tolerance']:g}" if isinstance(got, float) else "differs"


def _pseudonymiser(settings: Settings | None) -> Pseudonymiser:
    if settings is not None and settings.key_file.exists():
        return Pseudonymiser.from_file(settings.key_file)
    logger.info("selftest: no pseudonymisation key, using a throwaway key (pseudonyms are not comparable)")
    return Pseudonymiser(secrets.token_bytes(32))


def _parse_all(folder: Path, files: Iterable[str], pseudo: Pseudonymiser) -> dict[str, Outcome | None]:
    out: dict[str, Outcome | None] = {}
    for name in files:
        path = folder / name
        outcome = parse_file(path, pseudo) if path.is_file() else None
        logger.debug("selftest parsed %s: %s", path, "missing" if outcome is None else outcome.reason or "ok")
        out[name] = outcome
    return out


def run_selftest(folder: str | os.PathLike[str], expected: str | os.PathLike[str] | pd.DataFrame, *,
                 settings: Settings | None = None) -> SelftestResult:
    """Parse every file listed in ``expected`` and compare each value (no database is touched).

    Parameters
    ----------
    folder
        Folder the ``file`` column is relative to.
    expected
        Expected-values file (CSV or JSON, see the module docstring) or a DataFrame in the form
        :func:`read_expected` returns.
    settings
        Used for the pseudonymisation key only; without settings or without a key file a throwaway key
        is used (no identifier is compared, so the result does not depend on the key).

    Returns
    -------
    SelftestResult
        One row per expected value with status ``pass``, ``fail`` (value differs beyond tolerance),
        ``missing`` (file, record or value absent) or ``rejected`` (dmslab refused the file; the reason
        column holds the ingest reason and detail).
    """
    base = Path(folder)
    exp = expected if isinstance(expected, pd.DataFrame) else read_expected(expected)
    outcomes = _parse_all(base, dict.fromkeys(exp["file"]), _pseudonymiser(settings))
    rows = []
    for row in exp.to_dict("records"):
        got, status, reason = _compare(outcomes[row["file"]], row)
        rows.append((row["file"], row["scope"], row["field"], row["value"], got, status, reason))
    table = pd.DataFrame(rows, columns=list(COLUMNS), dtype=object)
    result = SelftestResult(table, str(base), len(outcomes))
    logger.info("%s", result.summary())
    return result


# --------------------------------------------------------------------------------------------- template


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _template_rows(name: str, report: DoseReport, wanted: dict[str, Sequence[str]]) -> list[tuple[str, ...]]:
    parts: list[tuple[str, Any, Sequence[str]]] = [("study", report.study, wanted["study"])]
    parts += [(f"event[{i}]", ev, wanted["event"]) for i, ev in enumerate((*report.ct_events, *report.proj_events))]
    parts += [(f"plane[{i}]", pl, wanted["plane"]) for i, pl in enumerate(report.planes)]
    rows: list[tuple[str, ...]] = []
    for scope, record, names in parts:
        for field in names:
            value = getattr(record, field, None)
            if value is not None:
                rows.append((name, scope, field, _format(value), ""))
    return rows


def write_expected_template(folder: str | os.PathLike[str], out_csv: str | os.PathLike[str], *,
                            settings: Settings | None = None,
                            fields_by_scope: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Write the values dmslab reads today from every file under ``folder`` as an expected-values CSV.

    The template is for the site to review and correct against an independent source before it is
    used with :func:`run_selftest`: a template checked against itself always passes. Rejected files
    have no values to list; they are logged with their reason and returned in ``attrs["rejected"]``.

    Parameters
    ----------
    folder
        Folder of dose objects (searched recursively; files skipped by ``dmslab ingest`` are skipped).
    out_csv
        Where to write the CSV (columns ``file, scope, field, value, tolerance``).
    settings
        For the pseudonymisation key only (see :func:`run_selftest`).
    fields_by_scope
        Fields to list per scope kind (``study``, ``event``, ``plane``); default :data:`TEMPLATE_FIELDS`.

    Returns
    -------
    pandas.DataFrame
        The rows written.
    """
    base = Path(folder)
    wanted = {**TEMPLATE_FIELDS, **(fields_by_scope or {})}
    pseudo = _pseudonymiser(settings)
    rows: list[tuple[str, ...]] = []
    rejected: list[str] = []
    for path, skip in iter_files([base]):
        if skip:
            continue
        name = path.relative_to(base).as_posix()
        outcome = parse_file(path, pseudo)
        if outcome.report is None:
            rejected.append(f"{name} ({outcome.reason})")
            continue
        rows += _template_rows(name, outcome.report, wanted)
    df = pd.DataFrame(rows, columns=["file", "scope", "field", "value", "tolerance"])
    df.attrs["rejected"] = rejected
    df.to_csv(out_csv, index=False)
    for item in rejected:
        logger.warning("selftest template: %s rejected, no values listed", item)
    logger.info("wrote %d expected values of %s to %s (%d file(s) rejected)", len(df), base, out_csv, len(rejected))
    return df
