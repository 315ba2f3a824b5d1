"""Dose data out of dmslab: CSV, XLSX and Parquet, one row per irradiation event, streamed.

The same filters as the analysis API (:class:`dmslab.store.StudyFilter`) choose the exams; the export is
anonymised by default: no UID, no pseudonym and no birth year, an ``exam`` number that groups the events of one
exam within the file and means nothing outside it, and, when asked, ages in bands instead of years. Identifiers
only when the site's settings grant them (``export_identifiers``). Every column with a unit carries it in its
header (``dlp_mgycm [mGy.cm]``; canonical units, see ``data_contracts/``).

Memory stays flat: rows come from the database in chunks (:func:`dmslab.store.export_rows`) and each chunk is
written before the next is read (XLSX through xlsxwriter's constant-memory mode).

Example
-------
>>> from dmslab.analysis._examples import example_store
>>> import tempfile, pathlib, pandas as pd
>>> out = pathlib.Path(tempfile.mkdtemp()) / "ct.csv"
>>> summary = export(example_store(), out, modality="CT")
>>> summary.events == len(pd.read_csv(out)), "dlp_mgycm [mGy.cm]" in pd.read_csv(out).columns
(True, True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dmslab.export._bands import age_band_labels, apply_age_bands
from dmslab.export._writers import FORMATS, open_writer
from dmslab.store import Store, StudyFilter, export_columns, export_count, export_rows

__all__ = ["FORMATS", "ExportSummary", "age_band_labels", "export", "header"]


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: ``path``, ``format``, ``modality``, ``exams`` and ``events`` (rows), and whether
    identifiers went out."""

    path: Path
    format: str
    modality: str
    exams: int
    events: int
    identifiers: bool

    def __str__(self) -> str:
        who = "with identifiers" if self.identifiers else "anonymised"
        return (f"{self.path}: {self.events} {self.modality} event(s) of {self.exams} exam(s), "
                f"{self.format.upper()}, {who}")


def header(name: str, unit: str | None) -> str:
    """A column's header: its name, and its canonical unit in brackets when it has one.

    >>> header("dlp_mgycm", "mGy.cm"), header("room", None)
    ('dlp_mgycm [mGy.cm]', 'room')
    """
    return f"{name} [{unit}]" if unit else name


def export(store: Store, path: str | os.PathLike[str], *, modality: str, where: StudyFilter = StudyFilter(),  # noqa: PLR0913
           fmt: str | None = None, identifiers: bool = False, age_bands: Sequence[float] = (),
           chunk_rows: int = 50_000, progress: Callable[[int, int], None] | None = None) -> ExportSummary:
    """Write the ``modality`` events of the studies ``where`` selects to ``path``.

    Parameters
    ----------
    fmt
        ``csv``, ``xlsx`` or ``parquet``; ``None``: from the file's suffix.
    identifiers
        Also the Study Instance UID, the keyed pseudonyms of patient and accession, event and object UIDs and
        the birth year. The command line passes it only when the settings grant it.
    age_bands
        Lower bounds of age bands in years, e.g. ``(0, 1, 5, 10, 15, 18)``: ``age_years`` is replaced by
        ``age_band`` (``"1-5"``, ``"18+"``); empty: ages in years.
    progress
        Called with (rows written, rows in all) after each chunk.

    Raises
    ------
    ValueError
        For an unknown format or modality, or age bands that do not ascend.
    FileExistsError
        When ``path`` exists (an export never overwrites).
    """
    out = Path(path)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    labels = age_band_labels(age_bands)
    if out.exists():
        raise FileExistsError(f"{out} exists: an export never overwrites; give a new file name")
    columns = list(export_columns(modality, identifiers=identifiers))
    if labels:
        columns = [c if c.name != "age_years" else type(c)("age_band", None, "export", "Age band (years)", "str")
                   for c in columns]
    exams, events = export_count(store, modality, where)
    written = 0
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with open_writer(fmt, partial, columns, header) as writer:
            for chunk in export_rows(store, modality, where, identifiers=identifiers, chunk_rows=chunk_rows):
                writer.write(apply_age_bands(chunk, age_bands, labels) if labels else chunk)
                written += len(chunk)
                if progress is not None:
                    progress(written, events)
        partial.rename(out)  # a reader never sees half a file under the final name
    finally:
        partial.unlink(missing_ok=True)
    return ExportSummary(out, fmt, modality, exams, written, identifiers)
