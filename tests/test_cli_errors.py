"""Errors a person can act on: each mistake gives one line saying what is wrong and what to do, a non-zero exit
code and no traceback (``-v`` shows it); ``--version`` and ``--help`` import none of the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dmslab(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DMSLAB_HOME": str(home)}
    env.pop("DMSLAB_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "dmslab.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dmslab: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "wanted"), [
    (("audit",), "run `dmslab init` first"),
    (("correct", "x.csv"), "No such file or directory: x.csv"),
    (("ingest", "."), "Run `dmslab init` once to create it"),
    (("--database-url", "postgresql+psycopg://dms:s3cret@127.0.0.1:1/dmslab", "init"),
     "check that the server is running and the URL, user and password are right"),
    (("--database-url", "postgres://dms@127.0.0.1/dmslab", "init"), "write postgresql+psycopg://user@host/database"),
    (("--database-url", "not a url", "init"), "write sqlite:///PATH or postgresql+psycopg://"),
    (("--database-url", "nosuchdb://x/y", "init"), "unknown database in URL nosuchdb://x/y"),
    (("--database-url", "sqlite:////nonexistent-folder/x.sqlite", "init"), "the folder /nonexistent-folder does not"),
])
def test_mistakes_give_one_line_saying_what_to_do(tmp_path: Path, args: tuple[str, ...], wanted: str) -> None:
    line = one_line_error(dmslab(*args, home=tmp_path / "home"))
    assert wanted in line
    assert "s3cret" not in line  # the password is never shown
    assert not (tmp_path / "home" / "pseudonym.key").exists()  # a failed init leaves no key behind


def test_audit_before_init_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    line = one_line_error(dmslab("audit", home=tmp_path / "home"))
    assert f"no dmslab database at {tmp_path / 'home' / 'dmslab.sqlite'}" in line
    assert list((tmp_path / "home").iterdir()) == []  # no empty database made on the way


def test_audit_of_a_database_without_dmslab_tables(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "other.sqlite").execute("create table t (x int)").connection.close()
    line = one_line_error(dmslab("--database-url", f"sqlite:///{tmp_path / 'other.sqlite'}", "audit",
                                 home=tmp_path / "home"))
    assert "has no dmslab tables: run `dmslab init` first" in line


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert dmslab("init", home=home).returncode == 0
    (home / "pseudonym.key").chmod(0o644)
    line = one_line_error(dmslab("ingest", str(tmp_path), home=home))
    assert f"chmod 600 {home / 'pseudonym.key'}" in line and "0644" in line
    assert "chmod 600" in one_line_error(dmslab("init", home=home))
    (home / "pseudonym.key").chmod(0o600)  # the fix it names works
    assert dmslab("init", home=home).returncode == 0


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = dmslab("-v", "audit", home=tmp_path / "home")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "DatabaseMissingError" in proc.stderr


def test_init_says_where_the_database_is_without_reprs(tmp_path: Path) -> None:
    proc = dmslab("init", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert f"database ready: sqlite:///{tmp_path / 'home' / 'dmslab.sqlite'}" in proc.stdout
    assert "Store(" not in proc.stdout


_PROBE = """
import json, sys
from dmslab.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("pandas", "sqlalchemy", "pydicom", "pynetdicom", "numpy", "alembic", "papermill")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("ingest", "--help"), ("audit", "--help")])
def test_version_and_help_import_no_heavy_library(args: tuple[str, ...]) -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    assert "dmslab" in proc.stdout


def test_help_lists_every_subcommand_and_each_builds_its_own_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` lists every command with its line; the parser built for a command has its arguments and handler,
    the others only their help (nothing of theirs is built)."""
    from dmslab.cli import COMMANDS, build_parser, main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names)) == 21
    groups = {c.group() for c in COMMANDS}
    assert sorted(n for g in groups for n in g.BUILDERS) == sorted(names)  # each built by exactly one group
    for c in COMMANDS:
        assert f"{c.name} {' '.join(c.help.split())}" in out, c.name
        sub = next(a for a in build_parser(c.name)._actions if a.dest == "command")
        built = {name for name, p in sub.choices.items()  # help and the 4 global options: a placeholder
                 if p.get_default("func") is not None or len(p._actions) > 5}
        assert built == {c.name}


def test_exit_codes_are_documented(capsys: pytest.CaptureFixture[str]) -> None:
    from dmslab.cli import main

    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    out = capsys.readouterr().out
    assert "3  ingest: some files were rejected" in out
    assert "| 3 |" in (ROOT / "README.md").read_text(encoding="utf-8")
