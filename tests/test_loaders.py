from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb_index.errors import InvalidDocument
from kb_index.loaders import html_to_markdown, iter_paths, load_bytes, load_path, parse_front_matter

DEMO = Path(__file__).resolve().parent.parent / "kb_index" / "demo_kb"


def test_front_matter_gives_id_title_language_kind() -> None:
    meta, body = parse_front_matter("---\nid: a-1\ntitle: Refunds\nlanguage: it\nkind: faq\n---\n# Refunds\ntext")
    assert meta == {"id": "a-1", "title": "Refunds", "language": "it", "kind": "faq"}
    assert body.startswith("# Refunds")


def test_markdown_without_front_matter_takes_title_from_heading() -> None:
    doc = load_bytes(b"# Password reset\n\n1. Open the page.", filename="pw.md")
    assert (doc.id, doc.title, doc.format) == ("pw", "Password reset", "markdown")


def test_html_keeps_headings_and_numbered_lists_and_drops_scripts() -> None:
    md = html_to_markdown("<h1>Late</h1><script>alert(1)</script><p>Intro<ol><li>Check tracking<li>Open claim</ol>")
    assert "# Late" in md and "1. Check tracking" in md and "2. Open claim" in md and "alert" not in md


def test_broken_html_still_loads() -> None:
    doc = load_bytes(b"<html><body><h2>Refund<p>Five days<div><ul><li>one", filename="broken.html")
    assert "## Refund" in doc.text and "- one" in doc.text


def test_csv_faq_becomes_one_document_with_a_section_per_question() -> None:
    doc = load_bytes(
        b"question,answer\nHow do I reset?,Use the link.\nWhere is my parcel?,Check tracking.\n", filename="faq.csv"
    )
    assert doc.kind == "faq" and "## How do I reset?" in doc.text and "## Where is my parcel?" in doc.text


def test_csv_without_expected_columns_names_the_file() -> None:
    with pytest.raises(InvalidDocument, match=r"bad\.csv.*question.*answer"):
        load_bytes(b"foo,bar\n1,2\n", filename="bad.csv")


def test_json_faq_and_invalid_json() -> None:
    doc = load_bytes(json.dumps([{"question": "¿Cómo pago?", "answer": "Con tarjeta."}]).encode(), filename="es.json")
    assert "## ¿Cómo pago?" in doc.text
    with pytest.raises(InvalidDocument, match="invalid JSON"):
        load_bytes(b"{nope", filename="x.json")


@pytest.mark.parametrize(("data", "message"), [(b"   \n", "empty"), (b"\x00\x01\x02binary", "binary")])
def test_empty_and_binary_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        load_bytes(data, filename="x.txt")


def test_unreadable_pdf_is_a_clear_error() -> None:
    with pytest.raises(InvalidDocument, match="PDF"):
        load_bytes(b"%PDF-1.4 garbage", filename="x.pdf")


def test_demo_kb_has_24_documents_in_four_languages() -> None:
    docs = [load_path(p, root=DEMO) for p in iter_paths([DEMO])]
    assert len(docs) >= 20
    assert {d.language for d in docs} == {"en", "it", "es", "pl"}
    assert len({d.id for d in docs}) == len(docs)
    assert sum("\n1. " in d.text for d in docs) >= 16


def test_front_matter_scope_tags_are_normalised_and_a_bad_tag_names_the_field() -> None:
    doc = load_bytes(b"---\nid: r-1\nscope: Brand-A, shared\n---\n# Returns\ntext", filename="returns.md")
    assert doc.metadata["scope"] == ["brand-a", "shared"] and doc.scopes == ("brand-a", "shared")
    assert "id" not in doc.metadata and doc.id == "r-1"
    with pytest.raises(InvalidDocument, match="scope tags") as refused:
        load_bytes(b"---\nscope: brand a\n---\n# Returns\ntext", filename="returns.md")
    assert refused.value.field == "scope"
