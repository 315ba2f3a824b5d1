"""``dmslab status`` and ``dmslab receive`` from the command line; the loopback send used by ``dmslab demo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _receiver_util import ReceiverProcess, echo, free_port, make_settings, wait_port, wait_until

from dmslab.cli import main
from dmslab.config import ReceiverSettings, load_settings, override
from dmslab.errors import ConfigError
from dmslab.net.handlers import StoreStatus
from dmslab.net.scp import send_and_ingest_over_dicom, send_files
from dmslab.synth import GroundTruth


def test_receive_and_status_commands(tmp_path: Path, department: tuple[Path, GroundTruth],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    port = free_port()
    proc = ReceiverProcess(settings.home, settings.database_url, "--port", str(port), "--allow", "TESTSCU",
                           "--worker", "thread").start()
    try:
        wait_port(port)
        assert echo(port) == StoreStatus.SUCCESS
        files = sorted(department[0].rglob("*.dcm"))[:7]
        sent = send_files(files, ("127.0.0.1", port), called_aet="DMSLAB", calling_aet="TESTSCU")
        assert len(sent.success) == 7
        assert echo(port, calling="STRANGER") is None
        pending = settings.home / "inbox" / "pending"  # a stop leaves what is not ingested yet in the inbox
        wait_until(lambda: not any(pending.iterdir()), 120, "the worker did not drain the inbox")
    finally:
        assert proc.stop() == 0
    status = json.loads((settings.home / "inbox" / "status" / "receiver.json").read_text())
    assert status["counts"]["received"] == 7 and status["counts"]["associations_rejected"] == 1
    assert main(["--home", str(settings.home), "--database-url", settings.database_url, "status"]) == 0
    out = capsys.readouterr().out
    assert "0 object(s) waiting for ingest" in out
    assert "source_object ingested: 7" in out
    assert "received 7" in out and "last received at" in out


def test_send_and_ingest_over_dicom(tmp_path: Path, department: tuple[Path, GroundTruth]) -> None:
    folder, truth = department
    settings = make_settings(tmp_path)
    summary = send_and_ingest_over_dicom(folder, settings)
    n = sum(len(s.sop_instance_uids) for s in truth.studies)
    assert (summary.files, summary.success, summary.failed, summary.drained) == (n, n, {}, True)
    assert (summary.ingested, summary.duplicate, summary.rejected) == (n, 0, 0)
    assert f"{n} ingested, 0 duplicate, 0 rejected" in summary.lines()[1]
    from dmslab.store import Store

    store = Store(settings.database_url)
    assert store.counts()["study"] == len(truth.studies)
    store.close()


def test_receiver_settings_precedence_and_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    (settings.home / "dmslab.toml").write_text('[receiver]\nae_title = "FROMFILE"\nport = 4242\n'
                                               'allowed_aets = ["CT1", "CT2"]\n')
    monkeypatch.setenv("DMSLAB_CONFIG", str(settings.home / "dmslab.toml"))
    monkeypatch.setenv("DMSLAB_PORT", "5555")
    site = load_settings(home=str(settings.home))
    rs = override(site.receiver, ae_title="FROMCLI")
    assert (rs.ae_title, rs.port, rs.allowed_aets) == ("FROMCLI", 5555, ("CT1", "CT2"))
    assert rs.inbox_dir == settings.home / "inbox"
    monkeypatch.setenv("DMSLAB_ALLOWED_AETS", "A, B")
    assert load_settings(home=str(settings.home)).receiver.allowed_aets == ("A", "B")
    with pytest.raises(ConfigError, match="ae_title must be 1-16"):
        ReceiverSettings(ae_title="X" * 17)
    with pytest.raises(ConfigError, match="after_ingest must be one of"):
        ReceiverSettings(after_ingest="shred")
    with pytest.raises(ConfigError, match="tls_cert and tls_key"):
        ReceiverSettings(tls_cert=Path("c.pem"))
    with pytest.raises(ConfigError, match="port"):
        override(site.receiver, port="eleven")
