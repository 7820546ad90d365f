"""The ``tactful`` command: index files and folders, report counts; refuse bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main

KB = {
    "late.md": "---\nid: late\ntitle: Late parcels\nlanguage: en\nkind: procedure\n---\n# Late parcels\n\n1. Check tracking.\n2. Open a claim.\n",
    "faq.csv": "question,answer\n¿Cómo pago?,Con tarjeta o PayPal.\n",
    "page.html": "<h1>Garanzia</h1><p>La garanzia dura due anni.</p><ol><li>Verificare la data.</li></ol>",
}


def _write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in KB.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_index_reports_added_then_skipped_then_updated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    kb = tmp_path / "kb"
    _write(kb)
    assert main(["index", str(kb)]) == 0
    assert "added: 3 updated: 0 skipped: 0 deleted: 0" in capsys.readouterr().out
    assert main(["index", str(kb)]) == 0
    assert "added: 0 updated: 0 skipped: 3 deleted: 0" in capsys.readouterr().out
    (kb / "late.md").write_text(KB["late.md"] + "3. Call the courier.\n", encoding="utf-8")
    assert main(["index", str(kb), "--full"]) == 0
    out = capsys.readouterr().out
    assert "added: 0 updated: 1 skipped: 2 deleted: 0" in out


def test_index_skips_bad_files_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    kb = tmp_path / "kb"
    _write(kb)
    (kb / "empty.md").write_text("", encoding="utf-8")
    assert main(["index", str(kb)]) == 1
    out = capsys.readouterr().out
    assert "empty.md" in out and "added: 3" in out


def test_index_of_a_missing_path_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path / "data"))
    assert main(["index", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().out


def test_serve_refuses_to_start_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TACTFUL_API_KEYS", raising=False)
    monkeypatch.delenv("TACTFUL_DEV_OPEN", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--port", "0"]) == 2
    assert "TACTFUL_API_KEYS" in capsys.readouterr().err
