"""Execute a parameterised notebook (papermill), convert it to an HTML report (code hidden), index the reports."""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dmslab.errors import DmslabError
from dmslab.reporting._runs import PipelineRun

__all__ = ["NotebookFailed", "execute_notebook", "notebook_parameters", "notebook_to_html", "write_index"]

logger = logging.getLogger(__name__)

_VEGALITE = ("application/vnd.vegalite.v5+json", "application/vnd.vegalite.v4+json")


class NotebookFailed(DmslabError):
    """A notebook cell raised: ``ename``/``evalue`` of the error (the executed notebook is still written)."""

    def __init__(self, ename: str, evalue: str) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


def notebook_parameters(notebook: str | os.PathLike[str]) -> tuple[str, ...]:
    """The names assigned in the notebook's cell tagged ``parameters`` (empty when there is none).

    >>> import nbformat, tempfile
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('a = 1  # x = 2; y\\nrooms = []')])
    >>> nb.cells[0].metadata["tags"] = ["parameters"]
    >>> path = f"{tempfile.mkdtemp()}/p.ipynb"
    >>> nbformat.write(nb, path)
    >>> notebook_parameters(path)
    ('a', 'rooms')
    """
    import ast

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        return ()
    names: list[str] = []
    for node in ast.parse(cell.source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return tuple(names)


def execute_notebook(notebook: str | os.PathLike[str], out: str | os.PathLike[str], parameters: Mapping[str, Any],
                     *, timeout_s: float = 600.0, environment: Mapping[str, str] | None = None) -> None:
    """Run ``notebook`` top to bottom with ``parameters`` injected after its ``parameters`` cell.

    Parameters
    ----------
    notebook
        The source notebook (its first cell tagged ``parameters``).
    out
        Where the executed notebook is written, also when a cell fails.
    parameters
        Values injected by papermill (an ``injected-parameters`` cell).
    timeout_s
        Longest time one cell may run [s].
    environment
        Variables the kernel gets in its environment and not in the executed notebook, e.g. the
        ``DMSLAB_DATABASE_URL`` with the password that ``parameters`` carry masked.

    Raises
    ------
    NotebookFailed
        When a cell raised; carries the exception name and message.
    FileNotFoundError
        When ``notebook`` does not exist.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if not Path(notebook).is_file():
        raise FileNotFoundError(f"notebook {notebook} not found")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(notebook), str(out), parameters=dict(parameters), kernel_name="python3",
                            cwd=str(out.parent), progress_bar=False, log_output=False,
                            execution_timeout=int(timeout_s), kernel_manager_class=_kernel_manager(environment))
    except PapermillExecutionError as exc:
        raise NotebookFailed(str(exc.ename), str(exc.evalue)) from exc


def _kernel_manager(environment: Mapping[str, str] | None) -> type[Any]:
    """A kernel manager class that starts the kernel with ``environment`` added to this process's environment
    (given to the kernel process only: ``os.environ`` of this process is left as it is)."""
    from jupyter_client.manager import AsyncKernelManager

    extra = dict(environment or {})

    class _Manager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # async, as in AsyncKernelManager
            kw["env"] = {**kw.get("env", os.environ), **extra}
            await super().start_kernel(**kw)

    return _Manager


def _chart_svg(spec: Any) -> str | None:
    """An inline SVG of a Vega-Lite spec when vl-convert is installed, else ``None``."""
    try:
        import vl_convert as vlc
    except ImportError:
        return None
    try:
        return str(vlc.vegalite_to_svg(spec))
    except (ValueError, RuntimeError) as exc:  # a chart that cannot render must not lose the whole report
        logger.warning("chart could not be rendered as SVG: %s", exc)
        return None


def _altair_spec(html_text: str) -> Any:
    """The Vega-Lite spec inside the HTML that altair's default renderer writes, else ``None``."""
    import json

    if "altair-viz-" not in html_text or "vegaEmbed" not in html_text:
        return None
    at = html_text.rfind("})(")
    if at < 0:
        return None
    try:
        spec, _end = json.JSONDecoder().raw_decode(html_text, at + 3)
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def _embed_charts(nb: Any) -> int:
    """Replace altair chart outputs with inline SVG so the report reads offline and in e-mail.

    Altair writes a Vega-Lite JSON output (``mimetype`` renderer) or HTML that loads vega from a CDN (its
    default renderer); both become ``image/svg+xml`` when ``vl-convert-python`` is installed. Without it the
    charts stay as they are (HTML charts then need a browser that reaches the CDN). Returns the charts converted.
    """
    n = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            mime = next((m for m in _VEGALITE if m in data), None)
            spec = data[mime] if mime else _altair_spec("".join(data.get("text/html", "")))
            if spec is None:
                continue
            svg = _chart_svg(spec)
            if svg is None:
                continue
            for key in (*_VEGALITE, "text/html", "text/plain"):
                data.pop(key, None)
            data["image/svg+xml"] = svg
            n += 1
    return n


def notebook_to_html(executed: str | os.PathLike[str], out: str | os.PathLike[str], *, title: str) -> Path:
    """Convert an executed notebook to a standalone HTML report with the code cells hidden.

    Altair charts become inline SVG (with ``vl-convert-python`` installed), so the report reads offline
    and as an e-mail attachment.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    _embed_charts(nb)
    nb.metadata["title"] = title
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _resources = exporter.from_notebook_node(nb)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def _link(path: str | None, root: Path, text: str) -> str:
    if not path:
        return ""
    target = Path(path)
    try:
        href = target.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        href = target.resolve().as_uri()
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def write_index(reports_dir: str | os.PathLike[str], runs: Iterable[PipelineRun]) -> Path:
    """Write ``<reports_dir>/index.html``: every run (newest first as given) with links to its report."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in runs:
        rows.append(
            "<tr>" + "".join(f"<td>{c}</td>" for c in (
                html.escape(r.pipeline), html.escape(r.period), f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                f'<span class="{r.status}">{r.status}</span>',
                _link(r.report_path, root, "report") or html.escape(r.error or ""),
                _link(r.notebook_path, root, "notebook"), html.escape(r.emailed_to or ""))) + "</tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dmslab reports</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} .failed{{color:#b00;font-weight:bold}}
.ok{{color:#070}}</style></head>
<body><h1>dmslab reports</h1><p>Newest first. Started times are UTC.</p>
<table><thead><tr><th>pipeline</th><th>period</th><th>started</th><th>status</th><th>report / error</th>
<th>executed notebook</th><th>e-mailed to</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    index = root / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
