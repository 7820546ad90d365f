from __future__ import annotations

import pytest

from kb_index.chunking import PARENT, chunk_body, chunk_document, is_unit, units_of
from kb_index.documents import SourceDocument
from kb_index.lexical import LexicalIndex, analyze
from tests.factories import small_kb


def test_chunks_keep_document_metadata_and_section_path() -> None:
    doc = small_kb()[1]
    chunks = chunk_document(doc)
    assert all(c.metadata["document_id"] == "rimborsi-it" and c.metadata["language"] == "it" for c in chunks)
    chunks = [c for c in chunks if not is_unit(c.metadata)]
    assert [c.metadata["section"] for c in chunks] == ["", "Tempi", "Procedura"]
    assert chunks[2].page_content.startswith("Rimborsi e resi > Procedura\n1. Verificare")
    assert chunk_body(chunks[2].page_content).startswith("1. Verificare")


def test_chunk_metadata_has_nothing_volatile() -> None:
    # LangChain's indexing API hashes metadata: a timestamp here would re-embed unchanged chunks.
    chunks = chunk_document(small_kb()[0])
    keys = {"document_id", "title", "section", "language", "kind", "topic", "source", "position"}
    assert all(set(c.metadata) == keys for c in chunks if not is_unit(c.metadata))
    assert all(set(c.metadata) == keys | {PARENT} for c in chunks if is_unit(c.metadata))


def test_each_step_of_a_list_is_a_unit_of_its_section() -> None:
    chunks = chunk_document(small_kb()[1])
    sections = [c for c in chunks if not is_unit(c.metadata)]
    assert [c.metadata["position"] for c in sections] == [0, 1, 2]  # sections keep their positions (and hashes)
    steps = [c for c in chunks if is_unit(c.metadata)]
    assert [c.metadata[PARENT] for c in steps] == [2, 2, 2]
    assert steps[1].page_content == "Rimborsi e resi > Procedura\nCreare l'etichetta di reso e inviarla al cliente."
    assert all(c.metadata["section"] == "Procedura" for c in steps)
    assert chunk_document(small_kb()[1], units=False) == sections  # TACTFUL_INDEX_UNITS=0: sections only


def test_units_are_the_lines_that_can_stand_alone() -> None:
    listing = "Customer questions about card arrival:\nWhere is my card?\n- When will it arrive?\n\n2) Is it lost"
    assert units_of(listing) == ["Where is my card?", "When will it arrive?", "Is it lost"]
    assert (
        units_of("One paragraph of prose, about refunds, that is the whole section.") == []
    )  # the section is the unit
    assert units_of("Questions:\nWhere is my card?") == []  # one unit: the section itself
    assert units_of("Hi\nok\n" + "Long " * 100 + "line\nA real question here?") == []  # too short, too long


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
