"""Every dashboard in dashboards/ runs top to bottom on the synthetic department (papermill, a real kernel), with
the store only from ``DMSLAB_DATABASE_URL`` as ``dmslab dashboard`` gives it: no cell and no view (the output
widgets of ``interactive_output``, kept in the executed notebook's widget state) shows an error, and every view
displays something."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "dashboards").glob("*.ipynb"))

pytest.importorskip("ipywidgets", reason="ipywidgets is not installed (pip install -e '.[dashboards]')")


def _output_widgets(nb: dict) -> list[list[dict]]:
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [m["state"].get("outputs", []) for m in state.values() if m["model_name"] == "OutputModel"]


@pytest.mark.slow
@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_runs_top_to_bottom(path, site, tmp_path):
    from dmslab.reporting import execute_notebook

    out = tmp_path / path.name
    execute_notebook(path, out, {}, timeout_s=240, environment={"DMSLAB_DATABASE_URL": site[0].database_url})
    nb = json.loads(out.read_text())
    cells = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    views = _output_widgets(nb)
    n_views = sum("interactive_output" in "".join(c["source"]) for c in nb["cells"])
    assert len(views) >= n_views > 0  # drill-downs add output widgets of their own
    errors = [o for o in [*cells, *(o for v in views for o in v)] if o["output_type"] == "error"]
    assert errors == [], [f"{e['ename']}: {e['evalue']}" for e in errors]
    assert all(v for v in views), "a view displayed nothing"
    text = json.dumps(views)
    assert "Traceback" not in text
