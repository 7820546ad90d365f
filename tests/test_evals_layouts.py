"""The layouts evaluation: each layout through ``load_bytes``, hits mapped to labels, one tiny run of the harness."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

from evals._layout_data import (
    XSID_LANGUAGES,
    Layout,
    LoadedLayout,
    SourceFile,
    csv_layout,
    demo_layout,
    every_nth,
    heading_key,
    list_layout,
    markdown_layout,
    section_spans,
    xsid_rows,
)
from evals._retrieval_data import Query
from evals.layouts import METHODS, Build, markdown_table, score_build
from kb_index.chunking import PARENT, chunk_document, is_unit
from kb_index.embeddings import E5Embeddings
from kb_index.neutral import LanguageNeutralEmbeddings

ROWS = [
    Query("My new card has not arrived yet", "card_arrival"),
    Query("When will my card be delivered?", "card_arrival"),
    Query("Where is the card you sent me", "card_arrival"),
    Query("I forgot my PIN, how do I change it?", "change_pin"),
    Query("Can I pick a new PIN at an ATM?", "change_pin"),
    Query("Why was I charged a fee for my transfer?", "transfer_fee_charged"),
    Query("There is an extra fee on the money I sent", "transfer_fee_charged"),
    Query("Why was I charged a fee for my transfer?", "card_arrival"),  # the same question under another intent
]


def test_list_layout_is_one_text_file_per_intent_through_the_upload_loader() -> None:
    loaded = LoadedLayout(list_layout(ROWS, examples=2))
    assert [d.format for d in loaded.documents] == ["text"] * 3
    assert sorted(loaded.by_document.values()) == ["card_arrival", "change_pin", "transfer_fee_charged"]
    card = next(d for d in loaded.documents if loaded.by_document[d.id] == "card_arrival")
    assert card.text.splitlines() == [
        "Customer questions about card arrival:",
        "My new card has not arrived yet",
        "When will my card be delivered?",
    ]
    assert {d.language for d in loaded.documents} == {"en"}  # detected as the upload path does
    everything = LoadedLayout(list_layout(ROWS, examples=None))
    assert sum(len(d.text.splitlines()) - 1 for d in everything.documents) == len(ROWS)


def test_list_layout_headers_follow_the_language() -> None:
    layout = list_layout([Query("Dov'è la mia carta?", "card_arrival", "it")], language="it")
    assert layout.files[0].data.decode().startswith("Domande dei clienti su card arrival:")


def test_csv_layout_is_a_faq_csv_the_loader_accepts_with_one_label_per_question() -> None:
    layout = csv_layout(ROWS, examples=10)
    rows = list(csv.DictReader(io.StringIO(layout.files[0].data.decode())))
    assert [r["question"] for r in rows].count("Why was I charged a fee for my transfer?") == 1
    assert len(rows) == len(ROWS) - 1 and all(r["answer"] for r in rows)
    loaded = LoadedLayout(layout)
    (doc,) = loaded.documents
    assert doc.kind == "faq" and loaded.by_document == {}
    assert len(section_spans(doc.text)) == len(rows) + 1  # the title, then one section per row


def test_markdown_layout_is_one_file_with_a_section_per_intent() -> None:
    loaded = LoadedLayout(markdown_layout(ROWS, examples=2))
    (doc,) = loaded.documents
    assert [h for _, _, h in section_spans(doc.text)] == ["Banking FAQ", "Card arrival", "Change pin",
                                                         "Transfer fee charged"]  # fmt: skip
    assert doc.text.count("\n- ") == 6


@pytest.mark.parametrize("make", [csv_layout, markdown_layout])
def test_every_chunk_of_a_many_label_file_maps_to_the_label_of_its_section(make: object) -> None:
    layout = make(ROWS)  # type: ignore[operator]
    loaded = LoadedLayout(layout)
    (doc,) = loaded.documents
    stored = chunk_document(doc)
    chunks = [c for c in stored if not is_unit(c.metadata)]
    labels = [loaded.label_of_hit(doc.id, str(c.metadata["section"]), c.page_content) for c in chunks]
    expected = [_label_in(loaded, c.page_content) for c in chunks]
    assert labels == expected and set(labels) == {"card_arrival", "change_pin", "transfer_fee_charged"}
    # a unit (one question of a section) maps to its section's label
    by_position = dict(zip([c.metadata["position"] for c in chunks], labels, strict=True))
    for unit in (c for c in stored if is_unit(c.metadata)):
        label = loaded.label_of_hit(doc.id, str(unit.metadata["section"]), unit.page_content)
        assert label == by_position[unit.metadata[PARENT]]


def _label_in(loaded: LoadedLayout, text: str) -> str:
    """The label whose own example text the chunk holds (independent of section metadata)."""
    for row in ROWS:
        if row.text in text and loaded.by_heading.get(heading_key(row.text)) in (row.gold, None):
            return loaded.by_heading.get(heading_key(row.text)) or row.gold
    raise AssertionError(f"no example in {text!r}")


def test_a_hit_maps_by_document_then_section_path_then_a_heading_in_its_text() -> None:
    layout = Layout(
        [
            SourceFile("one.md", b"# One\n\nabout one\n", label="L1"),
            SourceFile("many.md", b"# Many\n\n## Alpha\n\nx\n"),
        ],
        headings={"Alpha": "LA", "Beta": "LB"},
    )
    loaded = LoadedLayout(layout)
    assert loaded.label_of_hit("one", "", "anything") == "L1"
    assert loaded.label_of_hit("many", "Many > alpha", "x") == "LA"
    assert loaded.label_of_hit("many", "", "Many > Beta\n- a bullet") == "LB"
    assert loaded.label_of_hit("many", "Gamma", "nothing known") == ""


def test_textbook_chunks_map_by_start_index_to_the_section_holding_most_of_them() -> None:
    text = "# FAQ\n\n## Alpha\n\n" + "alpha words here. " * 20 + "\n\n## Beta\n\n" + "beta words here. " * 5 + "\n"
    loaded = LoadedLayout(Layout([SourceFile("faq.md", text.encode())], headings={"Alpha": "A", "Beta": "B"}))
    (doc,) = loaded.documents
    beta = doc.text.index("## Beta")
    assert loaded.label_of_span(doc.id, beta - 30, 200) == "B"  # 30 characters of Alpha, the rest Beta
    assert loaded.label_of_span(doc.id, beta - 150, 200) == "A"
    assert loaded.label_of_span(doc.id, 0, 5) == ""  # only the unlabelled title
    splitter = RecursiveCharacterTextSplitter(chunk_size=120, chunk_overlap=20, add_start_index=True)
    chunks = splitter.create_documents([doc.text])
    for chunk in chunks:
        start = int(chunk.metadata["start_index"])
        assert doc.text[start : start + len(chunk.page_content)] == chunk.page_content
    labels = [loaded.label_of_span(doc.id, int(c.metadata["start_index"]), len(c.page_content)) for c in chunks]
    assert labels[-1] == "B" and labels.count("B") < labels.count("A") and "" not in labels[1:]


def test_articles_keep_their_ids_and_topics() -> None:
    loaded = LoadedLayout(demo_layout())
    assert len(loaded.documents) == len(loaded.by_document) >= 20
    assert loaded.by_document["billing-double-charge-es"] == "billing-double-charge"


def test_every_nth_is_deterministic() -> None:
    assert [q.text for q in every_nth(ROWS, 4)] == [ROWS[0].text, ROWS[4].text]


@pytest.mark.slow
def test_a_tiny_layout_through_the_three_methods(tmp_path: Path) -> None:
    e5 = E5Embeddings(query_cache=100)
    queries = [Query("my card still hasn't come", "card_arrival"), Query("how to change my pin", "change_pin")]
    build = Build("tiny-markdown", lambda: markdown_layout(ROWS), {"dev": queries})
    rows = score_build(build, tmp_path, e5, LanguageNeutralEmbeddings(e5))
    assert [r.method for r in rows] == list(METHODS)
    for row in rows:
        assert row.gold == ["card_arrival", "change_pin"] and row.cost.chunks >= 1
        assert all(set(r) <= {"card_arrival", "change_pin", "transfer_fee_charged"} for r in row.ranked)
    tactful, _, textbook = rows
    assert [r[0] for r in tactful.ranked] == ["card_arrival", "change_pin"]
    assert tactful.cost.embedded == tactful.cost.chunks and textbook.cost.embedded == textbook.cost.chunks
    table = markdown_table(rows)
    assert table.count("\n") == 4 and "| tiny-markdown | dev | Tactful | 2 | 1.000 |" in table


def test_xsid_subset_is_parallel_with_a_fixed_split_and_a_document_for_every_scored_intent() -> None:
    kb = {lang: xsid_rows("kb", lang) for lang in XSID_LANGUAGES}
    held_out = {lang: xsid_rows("held_out", lang) for lang in XSID_LANGUAGES}
    assert [len(kb["en"]), len(xsid_rows("dev", "en")), len(held_out["en"])] == [124, 176, 496]
    assert [q.gold for q in kb["it"]] == [q.gold for q in kb["en"]] == [q.gold for q in kb["de"]]
    assert {q.language for q in held_out["it"]} == {"it"} and kb["it"][0].text != kb["en"][0].text
    assert {q.gold for q in held_out["en"]} <= {q.gold for q in kb["en"]}
    loaded = LoadedLayout(list_layout(kb["it"], language="it"))
    assert {d.language for d in loaded.documents} == {"it"}
    set_alarm = next(d for d in loaded.documents if loaded.by_document[d.id] == "alarm/set_alarm")
    assert set_alarm.text.startswith("Domande dei clienti su set alarm:\n")
