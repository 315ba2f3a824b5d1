"""The reports folder's ``index.html``: every recorded run with links to its report, from a jinja2 template
(``templates/index.html.j2``; jinja2 comes with nbconvert). The template escapes every value (autoescape)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from dmslab.reporting._runs import PipelineRun

__all__ = ["write_index"]


@dataclass(frozen=True, slots=True)
class _Row:
    """One run as the template shows it: the run's fields and the links relative to the reports folder."""

    pipeline: str
    period: str
    started_at: Any
    status: str
    error: str | None
    emailed_to: str | None
    report_href: str | None
    notebook_href: str | None
    pdf_href: str | None = None


def _href(path: str | None, root: Path) -> str | None:
    """A link to ``path``: relative to ``root`` when inside it (the folder may be published), else a file URI."""
    if not path:
        return None
    target = Path(path).resolve()
    try:
        return target.relative_to(root.resolve()).as_posix()
    except ValueError:
        return target.as_uri()


@cache
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("dmslab.reporting", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("index.html.j2")


def write_index(reports_dir: str | os.PathLike[str], runs: Iterable[PipelineRun]) -> Path:
    """Write ``<reports_dir>/index.html``: every run (newest first as given) with links to its report."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    rows = [_Row(r.pipeline, r.period, r.started_at, r.status, r.error, r.emailed_to,
                 _href(r.report_path, root), _href(r.notebook_path, root), _href(r.pdf_path, root)) for r in runs]
    index = root / "index.html"
    index.write_text(_template().render(runs=rows), encoding="utf-8")
    return index
