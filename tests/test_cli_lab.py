"""``dmslab lab``: JupyterLab on loopback with a token, the site's store in the kernel's environment, the starter
notebook copied into the work folder (issue 13 item 8)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dmslab.cli import main
from dmslab.cli._lab import PROTOTYPE, lab_command, prepare_folder
from dmslab.config import load_settings
from dmslab.errors import ConfigError


def _settings(tmp_path: Path):
    return load_settings(home=str(tmp_path / "home"), database_url=f"sqlite:///{tmp_path / 'site.sqlite'}")


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "dms.hospital.local", "::"])
def test_the_lab_listens_on_loopback_only(tmp_path, bind):
    with pytest.raises(ConfigError, match="loopback only"):
        lab_command(_settings(tmp_path), tmp_path, bind=bind, token="t")


def test_the_command_carries_the_token_folder_and_the_sites_store(tmp_path):
    settings = _settings(tmp_path)
    folder = prepare_folder(tmp_path / "lab")
    cmd, env = lab_command(settings, folder, bind="::1", port=8999, token="s3cret")
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert {"--ServerApp.ip=::1", "--ServerApp.port=8999", "--IdentityProvider.token=s3cret",
            f"--ServerApp.root_dir={folder}", "--LabApp.default_url=/lab/tree/prototype.ipynb"} <= set(cmd)
    assert env["DMSLAB_DATABASE_URL"] == settings.database_url and env["DMSLAB_HOME"] == str(settings.home)
    with pytest.raises(ConfigError, match="needs a token"):
        lab_command(settings, folder, token="")


def test_dmslab_lab_prepares_the_folder_once_and_prints_the_url(tmp_path, capsys):
    home = tmp_path / "home"
    args = ["--home", str(home), "--database-url", f"sqlite:///{tmp_path / 's.sqlite'}", "lab", "--print-command"]
    assert main(args) == 0
    out = capsys.readouterr().out
    copy = home / "lab" / "prototype.ipynb"
    assert copy.read_bytes() == PROTOTYPE.read_bytes() and (home / "lab").stat().st_mode & 0o077 == 0
    url = next(w for w in out.split() if w.startswith("http://127.0.0.1:8888/lab?token="))
    assert len(url.split("token=")[1]) >= 24 and url.split("token=")[1] in out.splitlines()[-1]
    copy.write_text("{}")  # the MPE's own work is never overwritten
    assert main([*args, "--token", "mine"]) == 0
    assert copy.read_text() == "{}" and "lab?token=mine" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # loopback only
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.mark.slow
def test_a_real_lab_serves_the_starter_notebook_to_the_token_only(tmp_path):
    pytest.importorskip("jupyterlab")
    port = _free_port()
    folder = prepare_folder(tmp_path / "lab")
    import os

    cmd, env = lab_command(_settings(tmp_path), folder, port=port, token="tok3n", allow_root=os.geteuid() == 0)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # liveness guard only: JupyterLab starts in seconds
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(f"{base}/api/status?token=tok3n")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no answer"
        assert _get(f"{base}/api/contents/prototype.ipynb")[0] == 403  # no token, no notebook
        code, body = _get(f"{base}/api/contents/prototype.ipynb?token=tok3n")
        assert code == 200 and json.loads(body)["content"]["cells"][0]["metadata"]["tags"] == ["parameters"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
