"""protocol_changes, high_dose_review and optimisation_study notebooks run top to bottom with papermill."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from dmslab.config import load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key

papermill = pytest.importorskip("papermill")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["protocol_changes", "high_dose_review", "optimisation_study"]


@pytest.fixture(scope="module")
def database_url(department, tmp_path_factory) -> str:
    """The department ingested once into SQLite (one backend is enough: the functions are tested on both)."""
    home = tmp_path_factory.mktemp("home")
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'dmslab.sqlite'}", workers=1)
    ingest_paths([department[0]], settings)
    return settings.database_url


def _html(tmp_path: Path, name: str) -> str:
    """The HTML outputs of the notebook ``_run`` executed last."""
    nb = nbformat.read(tmp_path / f"{name}.out.ipynb", as_version=4)
    return "\n".join(o.get("data", {}).get("text/html", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _run(name: str, database_url: str, tmp_path: Path, **parameters) -> str:
    out = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="python3", cwd=str(tmp_path),
                               parameters={"database_url": database_url, **parameters}, progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    assert "injected-parameters" in nb.cells[1].metadata.get("tags", [])
    text = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Error" not in text and "Traceback" not in text
    return text


def test_protocol_changes_shows_the_injected_change(database_url, department, tmp_path):
    _folder, truth = department
    pc = truth.injected.protocol_change
    text = _run("protocol_changes", database_url, tmp_path, modality="CT")
    series = sorted((s for s in truth.studies if s.station_name == pc.station_name and s.protocol == pc.protocol),
                    key=lambda s: s.study_datetime)
    i = next(k for k, s in enumerate(series) if s.study_datetime[:10] >= pc.date)
    near = {s.study_datetime.replace("T", " ") for s in series[max(i - 2, 0):i + 3]}
    rows = [line for line in text.splitlines()  # detect_changes rows, not the size_adjustments table
            if re.search(rf"{pc.station_name}\s+{pc.protocol}\s+CTDIvol \(mGy\)\s+continuous", line)]
    assert len(rows) == 1
    assert any(d[:16] in rows[0] for d in near)  # the change is dated within 2 exams (minutes shown)
    assert "alt.FacetChart" in text
    html = _html(tmp_path, "protocol_changes")  # the committee's page: title block, display names with units
    assert '<header class="dmslab-title">' in html and "<h1>Protocol changes</h1>" in html
    assert "<th>Quantity</th>" in html and "<td>CTDIvol (mGy)</td>" in html and "ctdivol_mgy" not in html
    assert "<th>Changed from</th>" in html and "<th>Size quantity</th>" in html
    # the synthetic devices keep one software version: the section says so, the column is there
    assert "<th>Device update nearby</th>" in html and "<h2>Device updates</h2>" in html
    assert "No device sent a new software version or institution in this period." in html


def test_high_dose_review_lists_the_high_dose_case(database_url, department, tmp_path):
    _folder, truth = department
    hd = truth.injected.high_dose_fluoro
    text = _run("high_dose_review", database_url, tmp_path, modality="RF",
                viewer_url="https://pacs.test/v?study={study_uid}")
    assert f"{hd.total_rp_dose_gy:.4g} Gy > level 5 Gy" in text and "rf-kar-5gy" in text
    cases = _html(tmp_path, "high_dose_review")
    assert f'<a href="https://pacs.test/v?study={hd.study_uid}">' in cases  # a link, not the UID as text
    assert hd.study_uid not in re.sub(r'href="[^"]*"', "", cases)
    other_rf = {s.study_uid for s in truth.studies if s.modality == "RF" and s.total_rp_dose_gy > 3.0} - {hd.study_uid}
    assert not other_rf and all(u not in text for u in other_rf)


def test_optimisation_study_compares_two_periods(database_url, department, tmp_path):
    _folder, truth = department
    pc = truth.injected.protocol_change
    text = _run("optimisation_study", database_url, tmp_path, protocol=pc.protocol, metric=pc.quantity,
                group_a={"label": "before", "room": pc.station_name, "end": pc.date},
                group_b={"label": "after", "room": pc.station_name, "start": pc.date})
    m = re.search(r"after vs before: medians .* \(ratio ([\d.]+), 95 % CI ([\d.]+)–([\d.]+)\); the groups differ "
                  r"significantly \(Mann-Whitney p = ([\deE.+-]+)", text)
    assert m, text
    ratio, lo, hi, p = (float(g) for g in m.groups())
    assert lo <= pc.factor <= hi and 0.65 < ratio < 0.9 and p < 0.001
    html = _html(tmp_path, "optimisation_study")
    assert "<h1>Optimisation study</h1>" in html and "CTDIvol (mGy)" in html and "<th>Quantity</th>" in html


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_thin_and_stripped(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert nb.cells[0].metadata.get("tags") == ["parameters"]
    declared = set(re.findall(r"^(\w+) =", nb.cells[0].source, re.M))
    assert {"database_url", "period_start", "period_end", "modality", "rooms"} <= declared  # notebooks/README.md
    for cell in nb.cells[1:]:
        if cell.cell_type != "code":
            continue
        assert not cell.get("outputs") and cell.get("execution_count") is None
        src = cell.source
        assert not re.search(r"^\s*(def|for|while|class)\s", src, re.M), src
        assert not re.search(r"\bselect\b.+\bfrom\b", src, re.I), src
        assert len(src.splitlines()) <= 15
