"""The HTML side of the reports: charts drawn from altair's own output (no scraping), the index from jinja2."""

from __future__ import annotations

import datetime as dt
import re

import nbformat
import pytest

from dmslab.reporting import PipelineRun, notebook_to_html, write_index

alt = pytest.importorskip("altair")
#: A chart drawn into the report (nbconvert's template itself holds many ``data:image/svg+xml`` icons in CSS).
CHART = re.compile(r'<img [^>]*src="data:image/svg\+xml;base64,')
pd = pytest.importorskip("pandas")


def _chart() -> dict:
    return alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [4, 1, 2]})).mark_line().encode(x="x", y="y").to_dict()


def _notebook_with(path, outputs: list[dict]) -> None:
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [nbformat.v4.new_output("display_data", data=d) for d in outputs]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))


def test_a_vega_lite_output_becomes_inline_svg(tmp_path):
    pytest.importorskip("vl_convert")
    _notebook_with(tmp_path / "n.ipynb", [{"application/vnd.vegalite.v5+json": _chart(), "text/plain": "<chart>"}])
    html = notebook_to_html(tmp_path / "n.ipynb", tmp_path / "n.html", title="t").read_text()
    assert len(CHART.findall(html)) == 1 and "vnd.vegalite" not in html and "&lt;chart&gt;" not in html


def test_html_charts_are_not_scraped(tmp_path):
    """altair's default renderer writes HTML that loads vega from a CDN; dmslab no longer digs the spec out of it
    (the notebooks enable altair's svg renderer instead), so such an output stays as it is."""
    page = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x").to_html()
    _notebook_with(tmp_path / "n.ipynb", [{"text/html": page}])
    html = notebook_to_html(tmp_path / "n.ipynb", tmp_path / "n.html", title="t").read_text()
    assert "vegaEmbed" in html and not CHART.search(html)


def test_the_notebooks_svg_renderer_is_altairs_own():
    """What the notebooks enable (``alt.renderers.enable("svg")``) outputs SVG drawn by altair + vl-convert."""
    pytest.importorskip("vl_convert")
    chart = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_point().encode(x="x")
    with alt.renderers.enable("svg"):
        bundle = chart._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert set(data) == {"image/svg+xml"} and data["image/svg+xml"].lstrip().startswith("<svg")


def _run(i: int, **kw) -> PipelineRun:
    t = dt.datetime(2026, 2, 1, 6, 0, i)
    base = {"id": i, "pipeline": "drl_audit", "notebook": "n.ipynb", "schedule": "monthly", "period": "2026-01",
            "period_start": dt.datetime(2026, 1, 1), "period_end": dt.datetime(2026, 2, 1), "started_at": t,
            "status": "ok"}
    return PipelineRun(**{**base, **kw})


def test_index_lists_runs_with_relative_links_and_escapes_every_value(tmp_path):
    report = tmp_path / "drl_audit" / "2026-01_run2" / "r.html"
    report.parent.mkdir(parents=True)
    report.write_text("x")
    outside = tmp_path.parent / "elsewhere.ipynb"
    runs = [_run(2, report_path=str(report), notebook_path=str(outside), emailed_to="mpe@h.example"),
            _run(1, pipeline="<b>x</b>", status="failed", error="KeyError: 'a' < \"b\" & c")]
    page = write_index(tmp_path, runs).read_text()
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)[1:]
    assert len(rows) == 2
    assert '<a href="drl_audit/2026-01_run2/r.html">report</a>' in rows[0]  # relative: the folder may be published
    assert f'<a href="{outside.resolve().as_uri()}">notebook</a>' in rows[0]  # outside the folder: a file URI
    assert "2026-02-01 06:00:02" in rows[0] and "mpe@h.example" in rows[0] and '<span class="ok">ok</span>' in rows[0]
    assert "&lt;b&gt;x&lt;/b&gt;" in rows[1] and "<b>x</b>" not in page
    assert "KeyError: &#39;a&#39; &lt; &#34;b&#34; &amp; c" in rows[1] and '<span class="failed">' in rows[1]
