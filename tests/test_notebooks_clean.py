"""Every notebook in notebooks/ is thin and clean, and runs top to bottom with papermill on the synthetic department.

Thin: the first cell is tagged ``parameters``; code cells are short and only call dmslab and plot (no ``def``, no
loops, no SQL). Clean: no outputs, no execution counts (nbstripout). Notebooks added later are picked up here.
"""

from __future__ import annotations

import io
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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, department_store, tmp_path):
    from dmslab.reporting import Period, execute_notebook
    from dmslab.reporting.runner import period_parameters

    url, truth = department_store
    out = tmp_path / path.name
    period = Period("all", truth.config.start, truth.config.end)
    execute_notebook(path, out, {"database_url": url, **period_parameters(path, period)}, timeout_s=120)
    cells = _cells(out)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in cells)
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
