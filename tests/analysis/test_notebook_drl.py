"""notebooks/drl_audit.ipynb runs top to bottom with papermill on the synthetic department."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from dmslab.analysis.naming import apply_names
from dmslab.jobs import ingest_paths
from dmslab.store import Store

papermill = pytest.importorskip("papermill")
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "drl_audit.ipynb"


def test_drl_audit_notebook_shows_the_injected_exceedances(settings, department, tmp_path):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the notebook (the functions are tested on both)")
    folder, truth = department
    ingest_paths([folder], settings)
    apply_names(Store(settings.database_url))  # the fixture names the studies: the notebook only reads
    out = tmp_path / "drl_audit.out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(tmp_path),
                               parameters={"database_url": settings.database_url, "modality": "CT",
                                           "drl_set": "UK", "min_n": 5,
                                           "viewer_url": "https://pacs.test/v?study={study_uid}"})
    nb = nbformat.read(out, as_version=4)
    assert "injected-parameters" in nb.cells[1].metadata.get("tags", [])
    text = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    html = "\n".join(o.get("data", {}).get("text/html", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    for e in truth.injected.drl_exceedances:  # listed with a link to its images; the UID only in the link
        assert f'<a href="https://pacs.test/v?study={e.study_uid}">' in html
        assert e.study_uid not in text and html.count(e.study_uid) == 1
    assert "Error" not in text


def test_notebook_is_thin_and_stripped():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].metadata.get("tags") == ["parameters"]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not cell.get("outputs") and cell.get("execution_count") is None
        src = cell.source
        assert not re.search(r"^\s*(def|for|while|class)\s", src, re.M), src
        assert not re.search(r"\bselect\b.+\bfrom\b", src, re.I), src
        assert len(src.splitlines()) <= 15
