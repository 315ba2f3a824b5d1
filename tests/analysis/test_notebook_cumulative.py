"""notebooks/cumulative_dose.ipynb runs with papermill on a store with derived effective doses and shows the per-patient
sums of dmslab.analysis.cumulative (the numbers are checked there against the ground truth)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dmslab.analysis.cumulative import cumulative_dose
from dmslab.analysis.derive import derive_ct
from dmslab.config import load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store

papermill = pytest.importorskip("papermill")
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "cumulative_dose.ipynb"


def test_cumulative_notebook_shows_the_patient_sums(department, tmp_path):
    root, truth = department
    home = tmp_path / "home"
    home.mkdir()
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)
    ct = [s for s in truth.studies if s.modality in ("CT", "RF")][:40]
    ingest_paths([root / f for s in ct for f in s.files], settings)
    store = Store(settings.database_url)
    derive_ct(store)
    expected = cumulative_dose(store, window_days=None)
    store.close()
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
                               parameters={"database_url": settings.database_url, "top_n": 5})
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    html = "\n".join(o.get("data", {}).get("text/html", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Error" not in text and "Traceback" not in text
    n_e = int((expected["e_studies"] > 0).sum())
    assert f"{len(expected)} patient(s) with a study in the period; {n_e} with an effective dose" in text
    assert n_e > 0
    top = expected.iloc[0]
    assert top["patient_key"] in html and "reference-person" in html
