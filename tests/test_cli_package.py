"""The command line is a package of command groups: the library never prints, an import error is an error (not a
command "missing from this version"), and a missing optional extra says which extra to install."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from dmslab.cli import main
from dmslab.errors import DmslabError, MissingExtraError, import_optional

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dmslab"


def _calls_to_print(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]


def test_only_the_cli_prints() -> None:
    found = {str(p.relative_to(ROOT)): lines for p in PACKAGE.rglob("*.py")
             if "cli" not in p.relative_to(PACKAGE).parts and (lines := _calls_to_print(p))}
    assert found == {}
    assert _calls_to_print(PACKAGE / "cli" / "_site.py")  # the check sees print() where there is one


@pytest.mark.parametrize("module", ["cli/_app.py", "ingest/_registry.py"])
def test_no_import_error_is_swallowed(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    handled = [ast.unparse(h.type) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.type is not None]
    assert not [h for h in handled if "ImportError" in h or "ModuleNotFoundError" in h]
    source = (PACKAGE / module).read_text(encoding="utf-8")
    assert "import_module" not in source and "not in this version" not in source


def test_missing_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "papermill", None)  # "not installed": importing it raises ModuleNotFoundError
    (tmp_path / "pipelines").mkdir()
    rc = main(["--home", str(tmp_path), "pipelines", "run", "--pipelines-dir", str(tmp_path / "pipelines"),
               "--reports-dir", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip() == ("dmslab: error: dmslab pipelines run needs papermill, which is not installed: install it "
                           "with pip install 'dmslab[notebooks]'")
    assert not (tmp_path / "reports").exists()  # refused before any work


def test_a_broken_import_is_a_bug_not_a_missing_command(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "dmslab.net.qr", None)
    rc = main(["qr", "127.0.0.1", "104", "--aec", "PACS"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "unexpected ModuleNotFoundError" in err and "dmslab.net.qr" in err and "this is a bug" in err


def test_import_optional_tells_a_missing_extra_from_a_broken_module(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dmslab_test_broken.py").write_text("import dmslab_test_not_there\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:  # the module exists, its own dependency does not
        import_optional("dmslab_test_broken", feature="x", extra="ocr")
    assert info.type is ModuleNotFoundError and info.value.name == "dmslab_test_not_there"
    with pytest.raises(MissingExtraError, match=r"pip install 'dmslab\[ocr\]'") as missing:
        import_optional("dmslab_test_absent.sub", feature="reading screens", extra="ocr")
    assert isinstance(missing.value, DmslabError) and isinstance(missing.value, ImportError)
    assert missing.value.name == "dmslab_test_absent.sub" and missing.value.reason == "missing_extra"
