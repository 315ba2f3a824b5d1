"""The ``dashboards`` extra: what it names is installed in versions that satisfy it, and it is part of ``dev``."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_dashboards_extra_is_part_of_dev():
    dev = [Requirement(r) for r in EXTRAS["dev"]]
    assert any(r.name == "dmslab" and "dashboards" in r.extras for r in dev)
    assert {Requirement(r).name for r in EXTRAS["dashboards"]} >= {"voila", "jupyterlab", "ipywidgets", "anywidget",
                                                                   "altair", "vl-convert-python"}


@pytest.mark.parametrize("spec", EXTRAS["dashboards"])
def test_installed_version_satisfies_the_extra(spec):
    req = Requirement(spec)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{req.name} is not installed (pip install -e '.[dashboards]')")
    assert req.specifier.contains(version, prereleases=True), f"{req.name} {version} does not satisfy {spec}"
