"""Where the receiver listens and for whom: loopback by default; a non-loopback address with no allow-list is refused
before anything listens, unless ``allow_any`` says so; the new limits are validated like the other settings."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _receiver_util import ROOT, make_settings, receiver_settings

from dmslab.cli import build_parser as _parser
from dmslab.cli._receive import receiver_settings as _receiver_settings
from dmslab.config import ReceiverSettings, load_settings, override
from dmslab.errors import ConfigError
from dmslab.net._guard import check_exposure, is_loopback
from dmslab.net.scp import Receiver


def test_default_is_loopback_with_short_timeouts() -> None:
    rs = ReceiverSettings()
    assert (rs.bind_address, rs.allow_any, rs.acse_timeout_s, rs.network_timeout_s) == ("127.0.0.1", False, 5.0, 30.0)
    assert (rs.max_associations, rs.max_associations_per_address) == (20, 4)


@pytest.mark.parametrize("host, expected", [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.20", False), ("10.0.0.1", False)])
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize("bind, allowed, allow_any, refused", [
    ("0.0.0.0", (), False, True),
    ("192.168.1.20", (), False, True),
    ("0.0.0.0", ("CT_ROOM1",), False, False),
    ("0.0.0.0", (), True, False),
    ("127.0.0.1", (), False, False),
])
def test_check_exposure(bind: str, allowed: tuple[str, ...], allow_any: bool, refused: bool) -> None:
    rs = ReceiverSettings(bind_address=bind, allowed_aets=allowed, allow_any=allow_any)
    if refused:
        with pytest.raises(ConfigError, match="refusing to listen on .* with no allow-list.*--allow-any"):
            check_exposure(rs)
    else:
        check_exposure(rs)


def test_receiver_refuses_to_start_open_to_anyone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    rec = Receiver(settings, receiver_settings(settings, bind_address="0.0.0.0", allowed_aets=()), worker="thread")
    with pytest.raises(ConfigError, match="refusing to listen"):
        rec.start()
    assert rec._server is None and rec._runner is None  # nothing listens, no worker was started


def test_cli_refuses_open_bind_and_parses_allow_any(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "dmslab.cli", "--home", str(settings.home), "--database-url", settings.database_url,
           "receive", "--bind", "0.0.0.0", "--port", str(port), "--no-worker"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "refusing to listen on '0.0.0.0' with no allow-list" in done.stderr
    # with --allow-any the same command would listen on all interfaces: parse it, do not run it
    args = _parser("receive").parse_args(["receive", "--bind", "0.0.0.0", "--allow-any"])
    rs = _receiver_settings(args, settings)
    assert (rs.bind_address, rs.allowed_aets, rs.allow_any) == ("0.0.0.0", (), True)
    check_exposure(rs)
    assert _receiver_settings(_parser("receive").parse_args(["receive"]), settings).allow_any is False


def test_new_settings_from_environment_and_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("DMSLAB_ACSE_TIMEOUT_S", "2.5")
    monkeypatch.setenv("DMSLAB_MAX_ASSOCIATIONS_PER_ADDRESS", "2")
    monkeypatch.setenv("DMSLAB_ALLOW_ANY", "yes")
    rs = load_settings(home=str(settings.home)).receiver
    assert (rs.acse_timeout_s, rs.max_associations_per_address, rs.allow_any) == (2.5, 2, True)
    monkeypatch.setenv("DMSLAB_ALLOW_ANY", "perhaps")
    with pytest.raises(ConfigError, match="allow_any must be one of"):
        load_settings(home=str(settings.home))
    with pytest.raises(ConfigError, match="acse_timeout_s must be > 0"):
        ReceiverSettings(acse_timeout_s=0)
    with pytest.raises(ConfigError, match="max_associations_per_address .5. must not exceed max_associations .4."):
        ReceiverSettings(max_associations=4, max_associations_per_address=5)
    with pytest.raises(ConfigError, match="max_associations must be a whole number"):
        override(ReceiverSettings(), max_associations="many")
