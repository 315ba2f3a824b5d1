"""How ``dmslab dashboard`` configures Voila: loopback, token, culling, preheated pool, dmslab's offline template,
the database URL in the kernel's environment (absolute)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from dmslab.cli import main
from dmslab.dashboards import (
    DASHBOARDS_DIR,
    SHARE_DIR,
    TEMPLATE,
    DashboardOptions,
    kernel_environment,
    new_token,
    server_environment,
    voila_argv,
)
from dmslab.errors import ConfigError


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))


def test_defaults_listen_on_loopback_with_a_token_and_cull_idle_kernels():
    token = new_token()
    opts = DashboardOptions(token=token)
    flags = _flags(voila_argv(opts))
    assert opts.loopback and flags["Voila.ip"] == "127.0.0.1" and flags["Voila.token"] == token
    assert flags["template"] == TEMPLATE == "dmslab"
    assert flags["VoilaConfiguration.preheat_kernel"] == "True" and flags["VoilaConfiguration.default_pool_size"] == "1"
    assert int(flags["MappingKernelManager.cull_idle_timeout"]) == 600
    assert flags["VoilaConfiguration.show_tracebacks"] == "False"
    assert voila_argv(opts)[0] == str(DASHBOARDS_DIR)
    assert opts.url() == f"http://127.0.0.1:8866/?token={token}"
    assert len(token) >= 40 and new_token() != token


def test_no_pool_means_no_preheat():
    flags = _flags(voila_argv(DashboardOptions(token=new_token(), pool_size=0, host="10.1.2.3", base_url="/dms/")))
    assert flags["VoilaConfiguration.preheat_kernel"] == "False" and flags["Voila.base_url"] == "/dms/"


@pytest.mark.parametrize(("kw", "message"), [
    ({"token": "short"}, "at least 16"),
    ({"host": "dms.hospital"}, "IP address"),
    ({"port": 0}, "1..65535"),
    ({"base_url": "dms"}, "start and end"),
    ({"pool_size": -1}, "pool size"),
    ({"notebooks_dir": Path("/nonexistent")}, "no dashboards"),
])
def test_bad_options_are_config_errors(kw, message):
    with pytest.raises(ConfigError, match=message):
        DashboardOptions(**{"token": new_token(), **kw})


def test_kernel_gets_an_absolute_database_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = kernel_environment("sqlite:///site/dmslab.sqlite")
    assert env == {"DMSLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'site' / 'dmslab.sqlite'}"}
    pg = "postgresql+psycopg://dms:pw@db/dmslab"
    server = server_environment(pg, base={"JUPYTER_PATH": "/opt/jupyter", "HOME": "/root"})
    assert server["DMSLAB_DATABASE_URL"] == pg and server["HOME"] == "/root"
    assert server["JUPYTER_PATH"].split(os.pathsep) == [str(SHARE_DIR), "/opt/jupyter"]
    assert "DMSLAB_VIEWER_URL" not in server  # no template: no variable (the drill-down then shows no link)


def test_the_sites_viewer_template_reaches_the_kernels(tmp_path):
    """A ``viewer_url`` from dmslab.toml gets to the kernels, where the drill-down reads it."""
    from dmslab.dashboards.drilldown import viewer_template

    url = "https://pacs.hospital.local/viewer?study={study_uid}"
    server = server_environment("sqlite:///x.sqlite", base={}, viewer_url=url)
    assert server["DMSLAB_VIEWER_URL"] == url
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "environ", {**os.environ, **server})
        assert viewer_template() == url


def test_template_extends_lab_and_links_nothing_off_the_machine():
    folder = SHARE_DIR / "voila" / "templates" / TEMPLATE
    assert json.loads((folder / "conf.json").read_text())["base_template"] == "lab"
    for f in folder.iterdir():
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", f.read_text()), f.name


def test_voila_resolves_dmslab_template_first(monkeypatch):
    paths = pytest.importorskip("voila.paths")
    monkeypatch.setenv("JUPYTER_PATH", str(SHARE_DIR))
    found = paths.collect_template_paths(["voila", "nbconvert"], TEMPLATE, prune=True)
    assert found[0] == str(SHARE_DIR / "voila" / "templates" / TEMPLATE)
    assert any(p.endswith(os.path.join("voila", "templates", "lab")) for p in found)


def test_cli_refuses_a_short_token(tmp_path, capsys):
    pytest.importorskip("voila")
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "dashboard", "--token", "short"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dmslab: error: the dashboard token must have at least 16 characters (or leave it out: dmslab "
                   "generates one)"]


def test_cli_needs_an_existing_store(tmp_path, capsys):
    pytest.importorskip("voila")
    rc = main(["--home", str(tmp_path / "nowhere"), "dashboard"])
    assert rc == 2 and capsys.readouterr().err.startswith("dmslab: error: ")
