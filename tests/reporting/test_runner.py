"""Pipelines end to end: synthetic department in the store → executed notebook → HTML report, index, e-mail."""

import datetime as dt
import re
from email import message_from_bytes, policy
from html import unescape
from pathlib import Path

import pytest

from dmslab.config import SmtpSettings
from dmslab.reporting import Period, Pipeline, RunLog, Runner, load_pipelines
from dmslab.store import Store

from .conftest import median_ctdivol, write_pipeline

JANUARY = Period.parse("2026-01")  # the department fixture runs from 5 January to 5 February 2026
#: The standard names (dmslab/data/naming_rules.csv) of the synthetic department's protocols.
NAMES = {"CT Head Routine": "CT Head wo IV Contrast", "CT Abdomen Pelvis": "CT Abdomen Pelvis",
         "CT Sinus": "CT Sinuses wo IV Contrast"}


def table_rows(html: str) -> list[list[str]]:
    """The cell texts of every table row of an HTML page."""
    rows = []
    for tr in re.findall(r"<tr.*?</tr>", html, flags=re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)
        rows.append([unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


#: The audit tables' captions (display name and unit of each metric) and the metric they show.
CAPTIONS = {"CTDIvol (mGy)": "ctdivol_mgy", "DLP (mGy·cm)": "dlp_mgycm"}
#: The audit table's columns in order, by what they hold.
AUDIT_COLUMNS = ["room", "standard_name", "n", "median", "mean", "drl", "ratio", "n_above", "status"]


def number(text: str) -> float:
    """A number as the English report writes it (``1,235``, ``0.705``; ``–`` when missing)."""
    return float("nan") if text in ("–", "-") else float(text.replace(",", ""))


def audit_rows(html: str) -> list[dict[str, str]]:
    """The rows of the report's DRL audit tables (one per metric, captioned ``CTDIvol (mGy)``...): each as a dict
    of :data:`AUDIT_COLUMNS` plus ``metric``, from the first such block of the page (a later ``Medians above a DRL``
    block repeats rows)."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for caption, table in re.findall(r"<h3>(.*?)</h3>\s*(<table.*?</table>)", html, flags=re.S):
        metric = CAPTIONS.get(unescape(caption))
        if metric is None or metric in seen:
            break
        seen.add(metric)
        rows = table_rows(table)
        assert rows[0][0] == "Room" and rows[0][3] == f"Median {unescape(caption)}", rows[0]  # no index column
        out += [{**dict(zip(AUDIT_COLUMNS, r, strict=True)), "metric": metric} for r in rows[1:]]
    return out


def runs_of(settings):
    store = Store(settings.database_url)
    try:
        return RunLog(store).runs()
    finally:
        store.close()


def test_report_shows_the_medians_of_the_department(filled, tmp_path):
    settings, truth = filled
    pipeline = Pipeline.from_yaml(write_pipeline(tmp_path / "pipes", "overview"))
    result = Runner(settings, tmp_path / "reports").run(pipeline, JANUARY)
    run = result.run
    assert (run.status, run.error, run.period, result.skipped) == ("ok", None, "2026-01", False)
    html = Path(run.report_path).read_text()
    rows = audit_rows(html)
    for room, protocol in [("CT1", "CT Head Routine"), ("CT2", "CT Abdomen Pelvis"), ("CT2", "CT Sinus")]:
        row = next(r for r in rows if [r["room"], r["standard_name"], r["metric"]] == [room, NAMES[protocol],
                                                                                     "ctdivol_mgy"])
        shown = number(row["median"])  # the medians of January's studies only (the period), 3 significant digits
        assert shown == pytest.approx(median_ctdivol(truth, room, protocol, (JANUARY.start, JANUARY.end)), rel=5e-3)
    assert "ctdivol_mgy" not in re.sub(r"<[^>]+>", "", html)  # display names, never column names
    assert "Period: 2026-01-01 to 2026-02-01 (exclusive)" in html  # the runner's parameters reached the notebook
    assert "drl_audit(" not in html and "import altair" not in html  # code cells hidden
    assert "data:image/svg+xml;base64" in html  # the altair chart is inline, readable offline
    assert re.search(r'<img [^>]*src="data:image/svg\+xml;base64,', html)  # as an image (the CSS has svg icons too)
    assert Path(run.notebook_path).is_file() and run.notebook_path.endswith(".ipynb")
    assert run.finished_at >= run.started_at


def test_a_period_that_succeeded_is_not_run_again_unless_forced(filled_sqlite, tmp_path):
    settings, _truth = filled_sqlite
    pipelines = load_pipelines(write_pipeline(tmp_path / "pipes", "overview").parent)
    runner = Runner(settings, tmp_path / "reports")
    first = runner.run_due(pipelines, as_of=dt.date(2026, 2, 3))
    again = runner.run_due(pipelines, as_of=dt.date(2026, 2, 27))  # same month still due: nothing to do
    assert [r.skipped for r in first + again] == [False, True]
    assert again[0].run.id == first[0].run.id
    forced = runner.run_due(pipelines, as_of=dt.date(2026, 2, 3), force=True)
    assert not forced[0].skipped and forced[0].run.id != first[0].run.id
    runs = runs_of(settings)
    assert [r.id for r in runs] == [forced[0].run.id, first[0].run.id]  # newest first
    index = (tmp_path / "reports" / "index.html").read_text()
    links = re.findall(r'href="([^"]+\.html)"', index)
    assert links == [f"overview/2026-01_run{r.id}/overview_2026-01.html" for r in runs]
    assert all((tmp_path / "reports" / link).is_file() for link in links)


def test_a_failing_notebook_is_recorded_and_runs_again(filled_sqlite, tmp_path, capsys):
    from dmslab.cli import main

    settings, _truth = filled_sqlite
    pipes = tmp_path / "pipes"
    write_pipeline(pipes, "overview", drl_set="XX")  # no such DRL table: load_drls raises in the notebook
    common = ["--home", str(settings.home), "--database-url", settings.database_url]
    run = ["pipelines", "run", "--pipelines-dir", str(pipes), "--reports-dir", str(tmp_path / "reports"),
           "--as-of", "2026-02-10", *common]
    assert main(run) == 1
    out = capsys.readouterr().out
    assert "overview 2026-01: FAILED" in out and "ValueError: no DRL table for country 'XX'" in out
    assert main(["pipelines", "status", *common]) == 0
    status = capsys.readouterr().out
    assert re.search(r"overview\s+2026-01\s+failed.*ValueError: no DRL table for country 'XX'", status)
    failed = runs_of(settings)[0]
    assert failed.report_path is None and Path(failed.notebook_path).is_file()  # kept to see where it broke
    assert "failed" in (tmp_path / "reports" / "index.html").read_text()

    write_pipeline(pipes, "overview", drl_set="UK")  # fixed: the same command runs it again (no --force)
    assert main(run) == 0
    assert "overview 2026-01: ok" in capsys.readouterr().out
    assert [r.status for r in runs_of(settings)] == ["ok", "failed"]
    assert main(run) == 0
    assert "already done" in capsys.readouterr().out


def test_missing_notebook_is_a_recorded_failure(filled_sqlite, tmp_path):
    settings, _truth = filled_sqlite
    pipeline = Pipeline.from_yaml(write_pipeline(tmp_path / "pipes", "gone", notebook=tmp_path / "nope.ipynb"))
    run = Runner(settings, tmp_path / "reports").run(pipeline, JANUARY).run
    assert run.status == "failed" and "nope.ipynb not found" in run.error


def test_report_is_emailed_with_attachment_and_link(filled_sqlite, tmp_path, smtp_server):
    from .conftest import free_port

    settings, truth = filled_sqlite
    pipeline = Pipeline.from_yaml(write_pipeline(tmp_path / "pipes", "overview",
                                                 recipients=("mpe@hospital.example", "ct@hospital.example")))
    down = Runner(settings, tmp_path / "reports", smtp=SmtpSettings(host="127.0.0.1", port=free_port(), timeout_s=5))
    failed = down.run(pipeline, JANUARY).run  # server unreachable: the run fails, the report is kept
    assert failed.status == "failed" and failed.error.startswith("report written but not e-mailed: ConnectionRefused")
    assert Path(failed.report_path).is_file() and failed.emailed_to is None

    smtp = SmtpSettings(host=smtp_server.host, port=smtp_server.port, sender="dmslab@hospital.example",
                        reports_url="https://dms.hospital.example/reports/")
    result = Runner(settings, tmp_path / "reports", smtp=smtp).run(pipeline, JANUARY)  # re-run: not skipped
    run = result.run
    assert (result.skipped, run.status, run.emailed_to) == (False, "ok", "mpe@hospital.example; ct@hospital.example")
    (envelope,) = smtp_server.envelopes
    assert envelope.mail_from == "dmslab@hospital.example"
    assert envelope.rcpt_tos == ["mpe@hospital.example", "ct@hospital.example"]
    msg = message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Subject"] == "[dmslab] Test overview 2026-01"
    body = msg.get_body(("plain",)).get_content()
    assert f"https://dms.hospital.example/reports/overview/2026-01_run{run.id}/overview_2026-01.html" in body
    attachment, pdf = list(msg.iter_attachments())
    assert pdf.get_filename() == "overview_2026-01.pdf" and pdf.get_content_type() == "application/pdf"
    assert pdf.get_content() == Path(run.pdf_path).read_bytes() and pdf.get_content()[:5] == b"%PDF-"
    assert attachment.get_filename() == "overview_2026-01.html"
    attached = attachment.get_content().replace("\r\n", "\n")
    assert attached == Path(run.report_path).read_text()
    row = next(r for r in audit_rows(attached) if [r["room"], r["standard_name"], r["metric"]] ==
               ["CT1", NAMES["CT Head Routine"], "ctdivol_mgy"])
    assert number(row["median"]) == pytest.approx(
        median_ctdivol(truth, "CT1", "CT Head Routine", (JANUARY.start, JANUARY.end)), rel=5e-3)


def test_write_drl_report_shows_the_injected_exceedances(filled_sqlite, tmp_path):
    from dmslab.reporting import write_drl_report
    from dmslab.reporting.runner import NOTEBOOKS_DIR

    settings, truth = filled_sqlite
    path = write_drl_report(settings, tmp_path / "reports")
    (run,) = runs_of(settings)
    assert path == Path(run.report_path) and path.parent.parent.parent == tmp_path / "reports"
    last = max(dt.datetime.fromisoformat(s.study_datetime) for s in truth.studies).date()
    day_after = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    assert (run.status, run.period_start, run.period_end) == ("ok", dt.datetime(2026, 1, 5), day_after)
    if not (NOTEBOOKS_DIR / "drl_audit.ipynb").exists():
        pytest.skip("notebooks/drl_audit.ipynb not written yet: the report is the department overview")
    assert run.notebook.endswith("drl_audit.ipynb")
    html = path.read_text()
    block = html[html.index("Single exams above the per-exam DRL"):]
    head, *rows = table_rows(block[:block.index("</table>")])
    assert head == ["Date", "Room", "Standard name", "DLP (mGy·cm)", "DRL DLP (mGy·cm)", "Ratio"]  # no link
    assert len(truth.injected.drl_exceedances) >= 2
    when = {s.study_uid: s.study_datetime.replace("T", " ")[:16] for s in truth.studies}
    for e in truth.injected.drl_exceedances:  # each injected exam is listed with its date, DLP and the DRL
        assert any(r[0] == when[e.study_uid] and number(r[3]) == pytest.approx(e.value, rel=5e-3)
                   and number(r[4]) == e.drl and number(r[5]) == pytest.approx(e.value / e.drl, rel=5e-3)
                   for r in rows), e
        assert e.study_uid not in html  # never the raw Study Instance UID


def test_notebooks_get_an_absolute_sqlite_path_and_the_period_names(tmp_path, monkeypatch):
    from dmslab.config import load_settings
    from dmslab.reporting.runner import NOTEBOOKS_DIR

    monkeypatch.chdir(tmp_path)  # `make demo` uses --home demo-data: a relative SQLite file
    runner = Runner(load_settings(home="demo-data"), Path("reports"))
    overview = Pipeline("o", NOTEBOOKS_DIR / "department_overview.ipynb", "weekly", {"rooms": ["CT1"]})
    assert runner._parameters(Period.parse("2026-W02"), overview) == {
        "database_url": f"sqlite:///{tmp_path / 'demo-data' / 'dmslab.sqlite'}", "period_start": "2026-01-05",
        "period_end": "2026-01-12", "language": "en", "site_name": "", "viewer_url": "", "rooms": ["CT1"]}
    audit = tmp_path / "a.ipynb"  # a notebook whose parameters cell names the period start/end
    audit.write_text('{"cells": [{"id": "p", "cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [], '
                     '"execution_count": null, "source": "start = \\"\\"\\nend = \\"\\""}], "metadata": {}, '
                     '"nbformat": 4, "nbformat_minor": 5}')
    params = runner._parameters(Period.parse("2026-02"), Pipeline("a", audit, "monthly"))
    # one vocabulary (notebooks/README.md): the old names are not served any more
    assert (params["period_start"], params["period_end"]) == ("2026-02-01", "2026-03-01") and "start" not in params
    assert "language" not in params and "viewer_url" not in params  # only to notebooks that declare them
