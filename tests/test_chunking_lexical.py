from __future__ import annotations

import pytest

from kb_index.chunking import chunk_body, chunk_document
from kb_index.documents import SourceDocument
from kb_index.lexical import LexicalIndex, analyze
from tests.factories import small_kb


def test_chunks_keep_document_metadata_and_section_path() -> None:
    doc = small_kb()[1]
    chunks = chunk_document(doc)
    assert all(c.metadata["document_id"] == "rimborsi-it" and c.metadata["language"] == "it" for c in chunks)
    assert [c.metadata["section"] for c in chunks] == ["", "Tempi", "Procedura"]
    assert chunks[2].page_content.startswith("Rimborsi e resi > Procedura\n1. Verificare")
    assert chunk_body(chunks[2].page_content).startswith("1. Verificare")


def test_chunk_metadata_has_nothing_volatile() -> None:
    # LangChain's indexing API hashes metadata: a timestamp here would re-embed unchanged chunks.
    keys = set(chunk_document(small_kb()[0])[0].metadata)
    assert keys == {"document_id", "title", "section", "language", "kind", "topic", "source", "position"}


def test_long_sections_are_split_with_overlap() -> None:
    text = "# T\n\n## S\n\n" + " ".join(f"Sentence number {i} about refunds." for i in range(200))
    chunks = chunk_document(SourceDocument(id="long", title="T", text=text, language="en"))
    assert len(chunks) > 3 and all(len(chunk_body(c.page_content)) <= 900 for c in chunks)


def test_analysis_stems_per_language_and_drops_stopwords() -> None:
    assert analyze("I pacchi sono in ritardo", "it") == ["pacc", "ritard"]
    assert "paczk" in analyze("Moja paczka się spóźnia", "pl")
    assert "sie" not in analyze("Moja paczka się spóźnia", "pl")
    assert analyze("Reembolsos rápidos", "es") == analyze("reembolso rápido", "es") == ["reembols", "rap"]


def test_bm25_finds_the_same_language_chunk() -> None:
    index = LexicalIndex(
        ["Il rimborso arriva in 5 giorni", "Refunds take five days", "Zwrot pieniędzy"], ["it", "en", "pl"]
    )
    hits = index.search("quando arriva il mio rimborso", language="it", k=3)
    assert hits and hits[0].index == 0
    assert index.search("zzzz", language="en", k=3) == []


@pytest.mark.parametrize(
    ("document_id", "language", "metadata", "topic"),
    [
        ("refunds-returns-en", "en", {}, "refunds-returns"),
        ("Rimborsi_IT", "it", {}, "Rimborsi"),
        ("faq.pl", "pl", {}, "faq"),
        ("refunds-returns-en", "it", {}, "refunds-returns-en"),  # the suffix is not the document's language
        ("resi", "it", {"topic": "refunds-returns"}, "refunds-returns"),  # declared in front matter
    ],
)
def test_versions_of_a_document_share_a_topic(
    document_id: str, language: str, metadata: dict[str, str], topic: str
) -> None:
    doc = SourceDocument(id=document_id, title="T", text="# T\n\nBody.", language=language, metadata=metadata)
    assert doc.topic == topic
    assert chunk_document(doc)[0].metadata["topic"] == topic
