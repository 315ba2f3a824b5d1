"""``dmslab skin FILE``: prints PSD, location, areas and method; exit codes for unknown systems and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dmslab.cli import main


@pytest.mark.requires_corpus
def test_skin_prints_psd_profile_and_assumptions(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["skin", str(corpus / "openrem" / "RF-RDSR-Siemens-Zee.dcm")]) == 0
    out = capsys.readouterr().out
    assert "geometry profile siemens_artis (indicative)" in out and "PSD 0.0" in out
    assert "assumption: patient height missing" in out


@pytest.mark.requires_corpus
def test_unknown_system_exits_incomplete_and_default_is_labelled(corpus: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = str(corpus / "openrem" / "RF-RDSR-Eurocolumbus.dcm")
    assert main(["skin", f]) == 3
    assert "geometry unknown" in capsys.readouterr().out
    assert main(["skin", "--json", "--allow-default", f]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["profile"].startswith("default (geometry unknown") and s["psd_gy"] > 0


def test_unreadable_file_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"not dicom at all")
    assert main(["skin", str(bad), str(tmp_path / "missing.dcm")]) == 2
    out = capsys.readouterr().out
    assert out.count("cannot read") == 2
