"""Executed report notebooks, their HTML and the run log's parameters never hold the database password: the
notebook gets the URL with the password masked (``***``) and the kernel, only the kernel, gets the real URL in
DMSLAB_DATABASE_URL."""

import json
import os
from pathlib import Path

import nbformat
import pytest
from sqlalchemy.engine import make_url

from dmslab.config import load_settings
from dmslab.pseudonym import create_key
from dmslab.reporting import Period, Pipeline, RunLog, Runner, execute_notebook
from dmslab.store import Store

from .conftest import OVERVIEW, fill, write_pipeline
from .test_runner import audit_rows

JANUARY = Period.parse("2026-01")


def _notebook(path: Path, parameters: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(parameters),
                                         *[nbformat.v4.new_code_cell(c) for c in cells]])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def _outputs(executed: Path) -> list[str]:
    nb = nbformat.read(str(executed), as_version=4)
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _injected(executed: Path) -> str:
    nb = nbformat.read(str(executed), as_version=4)
    (cell,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    return str(cell.source)


def test_the_parameters_carry_the_url_with_the_password_masked(tmp_path: Path) -> None:
    settings = load_settings(home=str(tmp_path), database_url="postgresql+psycopg://dms:s3cret@db.example/dmslab")
    params = Runner(settings, tmp_path / "reports")._parameters(JANUARY, Pipeline("o", OVERVIEW, "monthly"))
    assert params["database_url"] == "postgresql+psycopg://dms:***@db.example/dmslab"
    assert "s3cret" not in json.dumps(params)


def test_the_environment_goes_to_the_kernel_and_not_to_this_process(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "env.ipynb", "x = 0", "import os\nprint(os.environ.get('DMSLAB_TEST_SECRET'), x)")
    before = dict(os.environ)
    execute_notebook(nb, tmp_path / "out" / "env.ipynb", {"x": 7}, environment={"DMSLAB_TEST_SECRET": "k3rnel"})
    assert _outputs(tmp_path / "out" / "env.ipynb") == ["k3rnel 7\n"]
    assert dict(os.environ) == before
    execute_notebook(nb, tmp_path / "out2" / "env.ipynb", {"x": 8})  # without: nothing left over from the first
    assert _outputs(tmp_path / "out2" / "env.ipynb") == ["None 8\n"]


def test_a_sqlite_run_gives_the_kernel_its_url_in_the_environment(filled_sqlite, tmp_path: Path) -> None:
    """SQLite URLs carry no password (SQLAlchemy refuses one), so the masked form is the URL itself; the kernel
    gets the same URL in DMSLAB_DATABASE_URL and reads the store through it."""
    settings, truth = filled_sqlite
    nb = _notebook(tmp_path / "count.ipynb", 'database_url = ""\nperiod_start = ""\nperiod_end = ""',
                   "import os\nimport sqlalchemy as sa\nfrom dmslab.store import Store\n"
                   "from dmslab.store.schema import table\n"
                   "store = Store(database_url)\n"
                   "with store.engine.connect() as c:\n"
                   "    n = c.execute(sa.select(sa.func.count()).select_from(table('study'))).scalar_one()\n"
                   "print(os.environ['DMSLAB_DATABASE_URL'] == database_url, n)")
    run = Runner(settings, tmp_path / "reports").run(Pipeline("count", nb, "monthly"), JANUARY).run
    assert (run.status, run.error) == ("ok", None)
    assert _outputs(Path(run.notebook_path)) == [f"True {len(truth.studies)}\n"]
    assert json.loads(str(run.parameters))["database_url"] == settings.database_url


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_postgresql_password_stays_out_of_the_reports(db_url: str, tmp_path: Path, department) -> None:
    """End to end on PostgreSQL with a password in the URL (under trust authentication, as CI runs the server,
    any password is accepted, so one is added when the test URL has none)."""
    url = make_url(db_url)
    if url.password is None:
        url = url.set(password="n0t-shown-anywhere")
    password = str(url.password)
    home = tmp_path / "home"
    home.mkdir()
    create_key(home / "pseudonym.key")
    settings = load_settings(home=str(home), database_url=url.render_as_string(hide_password=False), workers=1)
    truth = fill(settings, department)
    pipeline = Pipeline.from_yaml(write_pipeline(tmp_path / "pipes", "overview"))
    run = Runner(settings, tmp_path / "reports").run(pipeline, JANUARY).run
    assert (run.status, run.error) == ("ok", None)  # the kernel reached the database with the real password
    executed, html = Path(run.notebook_path), Path(run.report_path)
    masked = url.render_as_string(hide_password=True)
    assert ":***@" in masked and f"database_url = {masked!r}".replace("'", '"') in _injected(executed)
    store = Store(settings.database_url)
    try:
        (logged,) = [r for r in RunLog(store).runs() if r.id == run.id]
    finally:
        store.close()
    assert json.loads(str(logged.parameters))["database_url"] == masked
    for text in (executed.read_text(), html.read_text(), str(logged.parameters)):
        assert password not in text
    n_ct = sum(1 for s in truth.studies if s.modality == "CT" and s.study_datetime.startswith("2026-01"))
    assert n_ct > 0 and f"Studies audited: {n_ct}" in html.read_text()  # real figures shown (adults only)
    assert audit_rows(html.read_text())  # and the audit table has rows
