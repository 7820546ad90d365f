"""Gaps are grouped across languages by meaning, most frequent first."""

from __future__ import annotations

from pathlib import Path

from api.gaps import list_gaps, record_gap
from api.persistence.database import Database
from kb_index.embeddings import E5Embeddings
from kb_index.neutral import LanguageNeutralEmbeddings

QUESTIONS = [
    ("Do you sell gift cards?", "en"),
    ("Vendete buoni regalo?", "it"),
    ("¿Venden tarjetas regalo?", "es"),
    ("Czy sprzedajecie karty podarunkowe?", "pl"),
    ("Do you ship to Switzerland?", "en"),
    ("¿Hacen envíos a Suiza?", "es"),
    ("Is there a student discount?", "en"),
]


def test_similar_questions_are_grouped_across_languages(tmp_path: Path, database_url: str) -> None:
    embeddings = LanguageNeutralEmbeddings(E5Embeddings())
    db = Database(database_url)
    for question, language in QUESTIONS:
        with db.session() as s:
            record_gap(s, question=question, language=language, best_score=0.7, conversation_id="c-" + language,
                       vector=embeddings.embed_query_array(question))  # fmt: skip
    with db.session() as s:
        groups = list_gaps(s)
    db.dispose()
    assert [g["count"] for g in groups] == [4, 2, 1]
    assert sorted(groups[0]["languages"]) == ["en", "es", "it", "pl"]
    assert groups[0]["question"] == "Czy sprzedajecie karty podarunkowe?"  # the newest example
    assert {g["question"] for g in groups[1:]} == {"¿Hacen envíos a Suiza?", "Is there a student discount?"}
    assert all({"question", "count", "language", "best_score", "last_seen"} <= set(g) for g in groups)


def test_a_conversation_asking_again_counts_once(tmp_path: Path, database_url: str) -> None:
    # The sidebar assists again on every draft edit: the same unanswered question is recorded each time.
    embeddings = LanguageNeutralEmbeddings(E5Embeddings())
    db = Database(database_url)
    question = "Do you sell gift cards?"
    vector = embeddings.embed_query_array(question)
    for conversation_id in ("c-1", "c-1", "c-1", "c-2", None, None):
        with db.session() as s:
            record_gap(s, question=question, language="en", best_score=0.7, conversation_id=conversation_id,
                       vector=vector)  # fmt: skip
    with db.session() as s:
        groups = list_gaps(s)
    db.dispose()
    assert [g["count"] for g in groups] == [4]  # c-1 once, c-2 once, two searches without a conversation
