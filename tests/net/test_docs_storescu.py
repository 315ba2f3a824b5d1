"""The dcmtk ``storescu`` command of docs/receiver.md, as written there, stores a Radiopharmaceutical RDSR into a
running receiver on loopback, and the object is ingested."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from _receiver_util import ROOT, dcmtk, ingested_counts, make_settings, receiver_settings
from pydicom import dcmread

from dmslab.net.scp import Receiver

STORESCU = dcmtk("storescu")
RRDSR = "1.2.840.10008.5.1.4.1.1.88.68"

pytestmark = pytest.mark.skipif(STORESCU is None, reason="needs dcmtk's storescu (Debian package dcmtk)")


def documented_storescu() -> tuple[dict[str, str], list[str]]:
    """Environment assignments and arguments of the storescu line in docs/receiver.md."""
    text = (ROOT / "docs" / "receiver.md").read_text(encoding="utf-8")
    [line] = [ln for ln in text.splitlines() if re.match(r"^(\w+=\S+ )*storescu ", ln)]
    words = shlex.split(line)
    at = words.index("storescu")
    env = dict(w.split("=", 1) for w in words[:at])
    return env, words[at + 1:]


def test_documented_storescu_command_sends_a_radiopharmaceutical_rdsr(tmp_path: Path, corpus: Path) -> None:
    rrdsr = corpus / "openrem" / "NM-RRDSR-Siemens.dcm"
    ds = dcmread(rrdsr, stop_before_pixels=True)
    assert ds.SOPClassUID == RRDSR
    folder = tmp_path / "to-send"
    folder.mkdir()
    shutil.copy(rrdsr, folder / "rrdsr.dcm")
    env, args = documented_storescu()
    assert args[-3:] == ["dmslab.hospital.local", "11112", "/path/to/rdsrs"]
    calling = args[args.index("-aet") + 1]
    settings = make_settings(tmp_path)
    rs = receiver_settings(settings, allowed_aets=(calling,))
    with Receiver(settings, rs, worker="thread") as rec:
        run = subprocess.run([str(STORESCU), *args[:-3], "127.0.0.1", str(rec.port), str(folder)],
                             env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        assert rec.wait_drained(120)
    assert ingested_counts(settings.database_url) == {str(ds.SOPInstanceUID): 1}
