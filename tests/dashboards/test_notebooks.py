"""Every dashboard in dashboards/ is a thin, clean notebook: a ``parameters`` cell first, no outputs, short cells
of widgets and dmslab calls (no ``def``, loops, lambdas or SQL), the store from ``dmslab.dashboards.open_store``
and altair's offline renderer."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.ipynb"))
FORBIDDEN = {"def", "for", "while", "lambda", "class"}
SQL = re.compile(r"\b(select\b.+\bfrom|group\s+by|insert\s+into)\b|\.execute\(|read_sql|\.read\(", re.I | re.S)


def test_there_are_dashboards():
    assert [p.name for p in DASHBOARDS] == ["department_overview.ipynb", "dose_vs_size.ipynb", "drl_compliance.ipynb",
                                           "high_dose_fluoro.ipynb", "protocol_explorer.ipynb", "workload.ipynb"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_is_thin_and_clean(path):
    cells = nbformat.read(str(path), as_version=4).cells
    assert "parameters" in cells[0].metadata.get("tags", [])
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        assert c.outputs == [] and c.execution_count is None, "strip outputs (nbstripout)"
        assert len([ln for ln in c.source.splitlines() if ln.strip()]) <= 15
        names = {t.string for t in tokenize.generate_tokens(io.StringIO(c.source).readline) if t.type == tokenize.NAME}
        assert not names & FORBIDDEN, f"move the logic into dmslab.dashboards: {names & FORBIDDEN}"
        assert not SQL.search(c.source)
    source = "\n".join(c.source for c in code)
    assert 'alt.renderers.enable("jupyter", offline=True)' in source
    assert "dashboards.open_store(database_url)" in source and "interactive_output" in source
    shown = [w for w in ("study_uid", "patient_id", "patient_key", "patient_name", "accession") if w in source]
    assert shown == [], f"identifiers in a dashboard: {shown}"
