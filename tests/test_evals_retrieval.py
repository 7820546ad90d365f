"""The retrieval evaluation's metrics and data loading, on a handful of rows (no embedding model, no full run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals._ranking import documents_in_order, mean_reciprocal_rank, percentile, recall_at, spread_sample
from evals._retrieval_data import (
    CROSSLINGUAL,
    Query,
    abcd_opening_queries,
    abcd_procedure_queries,
    crosslingual_queries,
    demo_documents,
    demo_queries,
    demo_topic,
    guideline_documents,
    humanise,
    intent_documents,
    load_banking77,
    split_for_development,
    subflow_ids,
)
from kb_index.chunking import chunk_body, chunk_document

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"evaluation data not present at {SHARED}")


def test_recall_and_mrr_count_the_gold_document_rank() -> None:
    ranked = [["a", "b", "c"], ["b", "a"], ["c", "b", "x", "a"], []]
    gold = ["a", "a", "a", "a"]
    assert recall_at(ranked, gold, 1) == 0.25
    assert recall_at(ranked, gold, 3) == 0.5
    assert mean_reciprocal_rank(ranked, gold) == pytest.approx((1 + 1 / 2 + 1 / 4 + 0) / 4)
    assert recall_at([], [], 1) == 0.0 and mean_reciprocal_rank([], []) == 0.0


def test_chunk_hits_become_documents_at_their_best_rank() -> None:
    assert documents_in_order(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0 and percentile([], 0.5) == 0.0


def test_spread_sample_keeps_the_spread_and_the_limit() -> None:
    items = list(range(100))
    assert spread_sample(items, 4) == [0, 25, 50, 75]
    assert spread_sample(items, 0) == items and spread_sample(items, 500) == items


def test_humanise_intent_labels() -> None:
    assert humanise("card_arrival") == "Card arrival"
    assert humanise("Refund_not_showing_up") == "Refund not showing up"
    assert humanise("reverted_card_payment?") == "Reverted card payment"


def _rows(label: str, count: int) -> list[Query]:
    return [Query(f"{label} question {i}?", label) for i in range(count)]


def test_development_split_takes_every_fifth_question_of_each_intent() -> None:
    rows = _rows("card_arrival", 10) + _rows("pin_blocked", 6)
    build, dev = split_for_development(rows)
    assert [q.text for q in dev] == [
        "card_arrival question 4?",
        "card_arrival question 9?",
        "pin_blocked question 4?",
    ]
    assert len(build) == 13 and not {q.text for q in build} & {q.text for q in dev}


def test_intent_documents_hold_every_question_in_small_chunks() -> None:
    rows = _rows("card_arrival", 7) + _rows("pin_blocked", 2)
    docs = intent_documents(rows, per_section=3)
    assert [(d.id, d.title) for d in docs] == [("card_arrival", "Card arrival"), ("pin_blocked", "Pin blocked")]
    chunks = chunk_document(docs[0], units=False)
    assert len(chunks) == 3  # 3 + 3 + 1 questions
    assert chunks[0].page_content == (
        "Card arrival > card_arrival question 0?\n- card_arrival question 1?\n- card_arrival question 2?"
    )
    text = "\n".join(c.page_content for c in chunks)
    assert all(f"card_arrival question {i}?" in text for i in range(7))
    assert chunk_body(chunks[2].page_content) == "- card_arrival question 6?"


def test_banking77_csv_is_read_with_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('text,category\n"Where is  my\ncard?",card_arrival\nMy PIN is blocked,pin_blocked\n')
    assert load_banking77(path) == [
        Query("Where is my card?", "card_arrival"),
        Query("My PIN is blocked", "pin_blocked"),
    ]


GUIDELINES = {
    "Product Defect": {
        "description": "refunds and returns",
        "subflows": {
            "Initiate Refund": {
                "instructions": ["Start by asking for the refund reason."],
                "actions": [
                    {"type": "interaction", "button": "Pull up Account", "text": "Ask for the name.", "subtext": []},
                    {"type": "interaction", "button": "N/A", "text": "Offer the refund.", "subtext": ["Gift card"]},
                ],
            },
        },
    },
    "Storewide Query": {
        "description": "FAQ questions about timing",
        "subflows": {"Timing FAQ": {"instructions": [], "actions": []}},
    },
}
ONTOLOGY = {"intents": {"subflows": {"product_defect": ["refund_initiate"], "storewide_query": ["timing"]}}}


def test_guideline_documents_are_numbered_procedures_with_ontology_ids() -> None:
    docs = guideline_documents(GUIDELINES, ONTOLOGY)
    assert [d.id for d in docs] == ["product_defect/refund_initiate", "storewide_query/timing"]
    assert docs[0].title == "Product Defect: Initiate Refund"
    assert "refunds and returns" in docs[0].text
    assert "1. Ask for the name.\n2. Offer the refund.\n   - Gift card" in docs[0].text


def test_abcd_queries_have_ontology_gold_ids() -> None:
    sample = [
        {
            "scenario": {"flow": "storewide_query", "subflow": "timing_4"},
            "original": [["customer", "HEY HO!"], ["agent", "hi"], ["customer", "When do promo codes expire?"]],
        }
    ]
    ids = subflow_ids(GUIDELINES, ONTOLOGY).values()
    assert abcd_opening_queries(sample, ids) == [Query("HEY HO! When do promo codes expire?", "storewide_query/timing")]
    procedure = abcd_procedure_queries(GUIDELINES, ONTOLOGY)[0]
    assert procedure.gold == "product_defect/refund_initiate"
    assert procedure.text == "initiate refund: refunds and returns; pull up account"


def test_crosslingual_queries_cover_four_languages_with_known_intents() -> None:
    queries = crosslingual_queries()
    items = json.loads(CROSSLINGUAL.read_text(encoding="utf-8"))
    assert len(queries) == 4 * len(items) >= 80
    assert {q.language for q in queries} == {"en", "it", "es", "pl"}
    assert len({q.text for q in queries}) == len(queries)


def test_demo_topics_join_the_language_versions_of_a_document() -> None:
    assert demo_topic("refunds-returns-it") == demo_topic("refunds-returns-en") == "refunds-returns"
    assert demo_topic("account-locked-2fa-es") == demo_topic("password-account-access-it")
    topics = {demo_topic(d.id) for d in demo_documents()}
    for split in ("development", "unseen"):
        queries = demo_queries(split)
        assert len(queries) == 16 and {q.gold for q in queries} <= topics
        assert {q.language for q in queries} == {"en", "it", "es", "pl"}


@needs_shared
def test_crosslingual_gold_intents_are_banking77_labels() -> None:
    labels = set(json.loads((SHARED / "banking77" / "categories.json").read_text(encoding="utf-8")))
    assert {q.gold for q in crosslingual_queries()} <= labels


@needs_shared
def test_abcd_guidelines_map_onto_the_ontology() -> None:
    guidelines = json.loads((SHARED / "abcd" / "guidelines.json").read_text(encoding="utf-8"))
    ontology = json.loads((SHARED / "abcd" / "ontology.json").read_text(encoding="utf-8"))
    kb = json.loads((SHARED / "abcd" / "kb.json").read_text(encoding="utf-8"))
    ids = set(subflow_ids(guidelines, ontology).values())
    assert len(ids) == 55 and {i.split("/")[1] for i in ids} == set(kb)
    sample = json.loads((SHARED / "abcd" / "abcd_sample.json").read_text(encoding="utf-8"))
    assert {q.gold for q in abcd_opening_queries(sample, ids)} <= ids
