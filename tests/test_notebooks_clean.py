"""Every notebook in notebooks/ is thin and clean, and runs top to bottom with papermill on the synthetic department.

Thin: the first cell is tagged ``parameters``; code cells are short and only call dmslab and plot (no ``def``, no
loops, no SQL). Clean: no outputs, no execution counts (nbstripout). Notebooks added later are picked up here.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_LINES = 15
KEYWORDS = {"def": "def", "for": "loop", "while": "loop", "lambda": "lambda (a def in disguise)"}
SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|VIEW)|"
                 r"DROP\s+TABLE|GROUP\s+BY|JOIN\s+\w+\s+ON)\b", re.I | re.S)
SQL_CALLS = re.compile(r"\b(sa|sqlalchemy)\.(select|text)\b|\.execute\(|read_sql|\.read\(")


def problems(source: str) -> list[str]:
    """What makes a code cell more than a thin call-and-plot cell: Python keywords (not in strings or comments)
    ``def``/``for``/``while``/``lambda``, SQL in strings, or calls that run SQL."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string in KEYWORDS:
            found.append(KEYWORDS[tok.string])
        elif tok.type == tokenize.STRING and SQL.search(tok.string):
            found.append("SQL")
    if SQL_CALLS.search(source):
        found.append("SQL")
    return found


def _cells(path: Path) -> list:
    import nbformat

    return list(nbformat.read(str(path), as_version=4).cells)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no *.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean_and_thin(path):
    cells = _cells(path)
    assert cells and cells[0].cell_type == "code", "the first cell must be the parameters cell"
    assert "parameters" in cells[0].metadata.get("tags", []), "the first cell must be tagged 'parameters'"
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name} cell {i}"
        assert cell.get("outputs", []) == [], f"{where} has outputs: strip them (nbstripout)"
        assert cell.get("execution_count") is None, f"{where} has an execution count: strip it (nbstripout)"
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        assert len(lines) <= MAX_LINES, f"{where} has {len(lines)} lines: move the logic into dmslab"
        assert problems(cell.source) == [], f"{where}: move the logic into dmslab (a tested function)"


@pytest.mark.parametrize(("source", "expected"), [
    ("def f(x):\n    return x", ["def"]),
    ("for r in rows:\n    print(r)", ["loop"]),
    ("while True:\n    break", ["loop"]),
    ("y = [r * 2 for r in rows]", ["loop"]),
    ("key = lambda r: r[1]", ["lambda (a def in disguise)"]),
    ('store.engine.execute("SELECT median(x) FROM study")', ["SQL", "SQL"]),
    ('q = """select room, count(*)\n from study group by room"""', ["SQL"]),
    ("df = store.read(q)", ["SQL"]),
    ("audit = drl_audit(store, drl_set=drl_set)  # median for each room\n"
     'alt.Chart(audit).mark_bar().properties(title="Select a room for details")', []),
])
def test_the_checks_catch_what_they_forbid(source, expected):
    assert problems(source) == expected


@pytest.fixture(scope="module")
def department_store(department, tmp_path_factory):
    """The synthetic department ingested once into a SQLite store for all notebooks."""
    from dmslab.analysis.naming import apply_names
    from dmslab.config import load_settings
    from dmslab.jobs import ingest_paths
    from dmslab.pseudonym import create_key
    from dmslab.store import Store

    home = tmp_path_factory.mktemp("nb-home")
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)
    summary = ingest_paths([department[0]], settings)
    assert summary.ingested > 0
    store = Store(settings.database_url)
    apply_names(store)  # the fixture names the studies: notebooks only read
    store.close()
    return settings.database_url, department[1]


#: The parameter vocabulary (notebooks/README.md): every notebook takes the store and the period by these names.
VOCABULARY = ("database_url", "period_start", "period_end")


def _parameters_and_later_names(path: Path) -> tuple[list[str], set[str]]:
    """Names assigned in the cell tagged ``parameters`` (read from the notebook's JSON) and the names read by
    the code cells after it (f-strings included)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    first = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    declared = [t.id for node in ast.parse("".join(cells[first]["source"])).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    trees = [ast.parse("".join(c["source"])) for c in cells[first + 1:] if c["cell_type"] == "code"]
    used = {n.id for t in trees for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return declared, used


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_parameter_is_used_by_a_later_cell(path):
    declared, used = _parameters_and_later_names(path)
    assert set(VOCABULARY) <= set(declared), "notebooks/README.md: every notebook takes database_url and the period"
    assert "start" not in declared and "end" not in declared, "the period is period_start/period_end"
    assert [p for p in declared if p not in used] == [], "a parameter no later cell reads does nothing"


def test_the_unused_parameter_check_can_fail(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ["a = 1\n", "b = 2"]},
                    {"cell_type": "code", "metadata": {}, "source": ['print(f"{a}")']}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    declared, used = _parameters_and_later_names(tmp_path / "n.ipynb")
    assert declared == ["a", "b"] and "a" in used and "b" not in used


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_open_the_store_read_only_and_never_name_studies(path):
    code = "\n".join(c.source for c in _cells(path) if c.cell_type == "code")
    assert re.findall(r"Store\(([^)]*)\)", code) == ["database_url, read_only=True"]
    assert "apply_names" not in code and "set_local_drl" not in code and "run_alerts" not in code


def _text(cells: list) -> str:
    """Everything the executed notebook shows as text (streams and text/plain results)."""
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                     for c in cells if c.cell_type == "code" for o in c.get("outputs", []))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, department_store, tmp_path):
    """Each notebook runs, states its period in the report, and leaves the database file byte-identical."""
    from dmslab.reporting import Period, execute_notebook, notebook_to_html
    from dmslab.reporting.runner import period_parameters

    url, truth = department_store
    database = Path(url.removeprefix("sqlite:///"))
    before = _sha256(database)
    out = tmp_path / path.name
    period = Period("all", truth.config.start, truth.config.end)
    execute_notebook(path, out, {"database_url": url, **period_parameters(path, period)}, timeout_s=120)
    assert _sha256(database) == before  # the database file is byte-identical
    wal = database.with_name(database.name + "-wal")  # a reader of a WAL database may leave SQLite's -wal/-shm
    assert not wal.exists() or wal.stat().st_size == 0  # files beside it, but nothing is written to the log
    cells = _cells(out)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in cells)
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    stated = f"Period: {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d} (exclusive)"
    assert stated in _text(cells)
    html = notebook_to_html(out, tmp_path / "report.html", title=path.stem).read_text()
    assert stated in html  # the rendered report states the period it covers


@pytest.mark.slow
def test_department_overview_audits_only_the_period(department_store, tmp_path):
    """A one-month period audits that month's studies only: the count is checked against the store."""
    import pandas as pd

    from dmslab.reporting import Period, execute_notebook
    from dmslab.store import Store

    url, truth = department_store
    month = Period.parse("2026-01")
    path = ROOT / "notebooks" / "department_overview.ipynb"
    out = tmp_path / path.name
    execute_notebook(path, out, {"database_url": url, "period_start": "2026-01-01", "period_end": "2026-02-01",
                                 "modality": "CT"}, timeout_s=120)
    text = _text(_cells(out))
    store = Store(url, read_only=True)
    study = store.table("study")
    store.close()
    ct = study[(study["modality"] == "CT") & study["exclusion_reason"].isna()
               & (study["age_years"].isna() | (study["age_years"] >= 18))]
    when = pd.to_datetime(ct["study_datetime"])
    in_month = ct[(when >= pd.Timestamp(month.start)) & (when < pd.Timestamp(month.end))]
    assert 0 < len(in_month) < len(ct)  # the department runs past January: the filter has work to do
    assert f"Studies audited: {len(in_month)}" in text
    dlp = text[text.index("DLP (mGy·cm)\nRoom"):].split("\n\n")[0].splitlines()[2:]  # the DLP table's rows
    dlp_n = [int(re.split(r"\s{2,}", line)[2]) for line in dlp]
    assert sum(dlp_n) == in_month["total_dlp_mgycm"].notna().sum()  # the audit's per-exam medians: that month
