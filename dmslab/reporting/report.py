"""Execute a parameterised notebook (papermill), convert it to an HTML report (code hidden), index the reports."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dmslab.errors import DmslabError
from dmslab.reporting._index import write_index

__all__ = ["NotebookFailed", "execute_notebook", "notebook_parameters", "notebook_to_html", "write_index"]

logger = logging.getLogger(__name__)

#: nbconvert templates of the reports (``dmslab_report``: the lab template without scripts from a CDN).
TEMPLATES = Path(__file__).resolve().parent / "templates" / "nbconvert"
_VEGALITE = re.compile(r"application/vnd\.vegalite\.v\d+\+json")


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
    (given to the kernel process only: ``os.environ`` of this process is left as it is), with the kernel client
    of :mod:`dmslab._kernel_client`."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Type

    from dmslab._kernel_client import WakefulKernelClient

    extra = dict(environment or {})

    class _Manager(AsyncKernelManager):
        # the client whose sends leave no reply unread: papermill's nbclient waits for replies as Voila's does,
        # and stalled the same way (dmslab/_kernel_client.py)
        client_factory = Type(WakefulKernelClient)

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


def _vegalite_mime(data: Mapping[str, Any]) -> str | None:
    """The Vega-Lite MIME type of an output (``application/vnd.vegalite.v5+json`` from altair's ``mimetype``
    renderer), else ``None``."""
    return next((m for m in data if _VEGALITE.fullmatch(m)), None)


def _embed_charts(nb: Any) -> int:
    """Replace Vega-Lite chart outputs with inline SVG so the report reads offline and in e-mail.

    dmslab's notebooks enable altair's ``svg`` renderer: altair itself draws each chart with vl-convert, so
    their outputs are SVG already. A notebook using altair's ``mimetype`` renderer instead outputs the spec
    altair wrote (``Chart.to_dict()``, data inlined); vl-convert draws it here when ``vl-convert-python`` is
    installed, else the chart stays as it is. Charts of altair's default HTML renderer (vega from a CDN) are
    left alone: enable a renderer. Returns the charts converted.
    """
    n = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            mime = _vegalite_mime(data)
            if mime is None:
                continue
            svg = _chart_svg(data[mime])
            if svg is None:
                continue
            for key in (mime, "text/html", "text/plain"):
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
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            template_name="dmslab_report", extra_template_basedirs=[str(TEMPLATES)])
    body, _resources = exporter.from_notebook_node(nb)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
