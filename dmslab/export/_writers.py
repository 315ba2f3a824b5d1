"""The three export writers: each takes chunks of rows and writes them before the next arrives.

CSV (UTF-8, ISO date-times, ``.`` decimals), Parquet (one row group per chunk, types from the data contracts, the
unit of each column also in its field metadata) and XLSX (xlsxwriter in constant-memory mode: a summary sheet and
one sheet per protocol — the standard name, else the study description — continued on a further sheet past
Excel's row limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dmslab.errors import import_optional
from dmslab.store import ExportColumn

__all__ = ["FORMATS", "open_writer"]

FORMATS = ("csv", "xlsx", "parquet")
#: Dose columns whose median per protocol the XLSX summary shows, when the export has them.
SUMMARY_METRICS = frozenset({"ctdivol_mgy", "dlp_mgycm", "dap_gym2", "agd_mgy", "rp_dose_gy", "activity_mbq"})
_XLSX_ROWS = 1_048_575  # data rows per sheet below the header
Header = Callable[[str, str | None], str]


class Writer(Protocol):
    def write(self, chunk: pd.DataFrame) -> None: ...

    def close(self) -> None: ...


class _Csv:
    def __init__(self, path: Path, columns: Sequence[ExportColumn], header: Header) -> None:
        self.fh = path.open("w", encoding="utf-8", newline="")
        self.headers = [header(c.name, c.unit) for c in columns]
        self.first = True

    def write(self, chunk: pd.DataFrame) -> None:
        chunk.to_csv(self.fh, header=self.headers if self.first else False, index=False,
                     date_format="%Y-%m-%dT%H:%M:%S", lineterminator="\n")
        self.first = False

    def close(self) -> None:
        if self.first:  # no rows: the header still says what the columns are
            self.fh.write(",".join(self.headers) + "\n")
        self.fh.close()


def _arrow_type(pa: Any, typ: str) -> Any:
    return {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "datetime": pa.timestamp("us"),
            "bool": pa.bool_()}[typ]


class _Parquet:
    def __init__(self, path: Path, columns: Sequence[ExportColumn], header: Header) -> None:
        pa = import_optional("pyarrow", feature="Parquet exports", extra="export")
        self.pa, self.pq = pa, import_optional("pyarrow.parquet", feature="Parquet exports", extra="export")
        self.columns = list(columns)
        self.schema = pa.schema([pa.field(header(c.name, c.unit), _arrow_type(pa, c.type),
                                          metadata={"unit": c.unit or "", "doc": c.doc[:500]}) for c in columns])
        self.writer = self.pq.ParquetWriter(str(path), self.schema, compression="zstd")

    def write(self, chunk: pd.DataFrame) -> None:
        arrays = []
        for c, f in zip(self.columns, self.schema, strict=True):
            s = chunk[c.name]
            if c.type == "datetime":
                s = pd.to_datetime(s)
            elif c.type == "str":
                s = s.astype(object).where(s.notna(), None)
            arrays.append(self.pa.array(s, type=f.type, from_pandas=True))
        self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _sheet_name(text: str, taken: set[str]) -> str:
    """An Excel sheet name (at most 31 characters, none of ``[]:*?/\\``, unique ignoring case)."""
    base = re.sub(r"[\[\]:*?/\\']", " ", text).strip() or "(no name)"
    name, n = base[:31], 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


class _Xlsx:
    def __init__(self, path: Path, columns: Sequence[ExportColumn], header: Header) -> None:
        xlsxwriter = import_optional("xlsxwriter", feature="XLSX exports", extra="export")
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                                    "strings_to_formulas": False, "strings_to_urls": False})
        self.bold = self.book.add_format({"bold": True})
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.columns = list(columns)
        self.headers = [header(c.name, c.unit) for c in columns]
        self.summary = self.book.add_worksheet("Summary")
        self.taken = {"summary"}
        self.sheets: dict[str, list[Any]] = {}  # protocol -> [worksheet, next row, sheet names]
        self.stats: dict[str, dict[str, Any]] = {}
        self.metrics = [c.name for c in columns if c.name in SUMMARY_METRICS]  # in column order

    def _sheet(self, protocol: str) -> list[Any]:
        entry = self.sheets.get(protocol)
        if entry is None or entry[1] > _XLSX_ROWS:
            name = _sheet_name(protocol, self.taken)
            ws = self.book.add_worksheet(name)
            ws.write_row(0, 0, self.headers, self.bold)
            ws.freeze_panes(1, 0)
            names = [*entry[2], name] if entry else [name]
            entry = self.sheets[protocol] = [ws, 1, names]
        return entry

    def write(self, chunk: pd.DataFrame) -> None:
        protocol = chunk["standard_name"].fillna(chunk["study_description"]).fillna("(no name)")
        for name, rows in chunk.groupby(protocol.to_numpy(), sort=False):
            st = self.stats.setdefault(str(name), {"exams": set(), "events": 0, **{m: [] for m in self.metrics}})
            st["exams"].update(rows["exam"].tolist())
            st["events"] += len(rows)
            for m in self.metrics:  # arrays, not lists of floats: 8 bytes a value
                st[m].append(pd.to_numeric(rows[m], errors="coerce").dropna().to_numpy(dtype=float))
            for values in rows.itertuples(index=False, name=None):
                entry = self._sheet(str(name))
                ws, r = entry[0], entry[1]
                for col, (v, c) in enumerate(zip(values, self.columns, strict=True)):
                    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
                        continue
                    if c.type == "datetime":
                        ws.write_datetime(r, col, pd.Timestamp(v).to_pydatetime(), self.date)
                    else:
                        ws.write(r, col, v.item() if isinstance(v, np.generic) else v)
                entry[1] = r + 1

    def close(self) -> None:
        heads = ["protocol", "sheets", "exams", "events", *(f"median {self.headers[i]}" for i, c in
                                                            enumerate(self.columns) if c.name in self.metrics)]
        self.summary.write_row(0, 0, heads, self.bold)
        for r, (name, st) in enumerate(sorted(self.stats.items()), start=1):
            row = [name, ", ".join(self.sheets[name][2]), len(st["exams"]), st["events"]]
            values = [np.concatenate(st[m]) if st[m] else np.empty(0) for m in self.metrics]
            row += [float(np.median(v)) if len(v) else "" for v in values]
            self.summary.write_row(r, 0, row)
        self.book.close()


@contextmanager
def open_writer(fmt: str, path: Path, columns: Sequence[ExportColumn], header: Header) -> Iterator[Writer]:
    """The writer of ``fmt`` on ``path``; closed (the file finished) when the block ends without an error."""
    kinds: dict[str, type[_Csv | _Parquet | _Xlsx]] = {"csv": _Csv, "parquet": _Parquet, "xlsx": _Xlsx}
    writer: Writer = kinds[fmt](path, columns, header)
    try:
        yield writer
    except BaseException:
        if isinstance(writer, _Csv):
            writer.fh.close()
        raise
    writer.close()
