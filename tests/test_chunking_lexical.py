from __future__ import annotations

import numpy as np
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


LEXICAL_TEXTS = [
    ("Il rimborso arriva in 5 giorni lavorativi", "it"),
    ("Refunds take five business days, refunds are issued to the card", "en"),
    ("The parcel is late: open a claim with the courier", "en"),
    ("Zwrot pieniędzy trwa pięć dni", "pl"),
    ("A refund for a late parcel", "en"),
    ("", "en"),
    ("Il pacco è in ritardo", "it"),
]
LEXICAL_QUERIES = [("refund for my late parcel refund", "en"), ("rimborso in ritardo", "it"), ("zwrot", "pl")]


def test_bm25_scores_as_bm25s_lucene_did() -> None:
    import bm25s  # the implementation this index replaced: the reference for its scores

    texts, languages = zip(*LEXICAL_TEXTS, strict=True)
    index = LexicalIndex(texts, languages)
    reference = bm25s.BM25()
    reference.index([analyze(t, lang) or ["_"] for t, lang in LEXICAL_TEXTS], show_progress=False)
    for query, language in LEXICAL_QUERIES:
        tokens = [t for t in analyze(query, language) if t in reference.vocab_dict]
        assert index.scores(query, language=language) == pytest.approx(reference.get_scores(tokens), abs=1e-6)


def test_a_changed_index_scores_exactly_as_one_built_from_scratch() -> None:
    texts, languages = zip(*LEXICAL_TEXTS, strict=True)
    index = LexicalIndex(texts[:4], languages[:4])
    live = dict(enumerate(LEXICAL_TEXTS[:4]))  # slot -> (text, language)
    steps = [([1], [4, 5]), ([0, 2], [6]), ([], [1]), ([3], [])]  # (texts removed, texts added), by text number
    for removed, added in steps:
        gone = [slot for slot, item in live.items() if LEXICAL_TEXTS.index(item) in removed]
        before = index
        index, slots, moved = index.changed(
            removed=gone, texts=[texts[i] for i in added], languages=[languages[i] for i in added]
        )
        assert before.size == len(live)  # the old index is left as it was (a serving snapshot may hold it)
        live = {int(moved[s]): item for s, item in live.items() if s not in gone}
        live.update({int(s): LEXICAL_TEXTS[i] for s, i in zip(slots, added, strict=True)})
        assert index.size == len(live) and index.slots >= len(live)
        order = sorted(live)
        scratch = LexicalIndex([live[s][0] for s in order], [live[s][1] for s in order])
        for query, language in LEXICAL_QUERIES:
            assert list(index.scores(query, language=language)[order]) == list(scratch.scores(query, language=language))
    assert index.slots < len(LEXICAL_TEXTS) + 2  # dead slots were compacted once they outnumbered the live ones


def test_equal_scores_fall_in_the_order_given() -> None:
    index = LexicalIndex(["refund policy", "refund policy", "other"], ["en", "en", "en"])
    assert [h.index for h in index.search("refund", language="en", k=2)] == [0, 1]
    assert [h.index for h in index.search("refund", language="en", k=2, order=np.array([2, 1, 0]))] == [1, 0]
