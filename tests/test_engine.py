"""assist/engine.py: the rules engine, one conversation in and one ``Assistance`` out, over a fixed retriever."""

from __future__ import annotations

from typing import Any

import pytest

from assist.engine import PASSAGES, AssistEngine, build_query, search_query
from assist.errors import InvalidInput
from assist.models import Conversation
from assist.ports import SCOPE
from assist.tone import check_tone
from tests.factories import DRAFT, Search, StaticRetriever, conversation, passages

SARCASTIC = "Obviously the courier is late. Good luck with that."
POLITE = "Thank you for your patience, I am checking the tracking now."


def conv(**overrides: Any) -> Conversation:
    return Conversation.model_validate(conversation(**overrides))


def turns(*texts: str) -> list[dict[str, str]]:
    """Messages alternating customer, agent, customer…"""
    return [{"role": ("customer", "agent")[i % 2], "text": t} for i, t in enumerate(texts)]


@pytest.fixture
def retriever() -> StaticRetriever:
    return StaticRetriever(passages())


# --- the query --------------------------------------------------------------------------------------------


def test_the_question_is_the_customers_last_two_turns() -> None:
    c = conv(messages=turns("First question.", "An answer.", "Second question.", "Another.", "Third question."))
    assert build_query(c) == "Second question.\nThird question."
    assert build_query(c, turns=1) == "Third question."
    assert build_query(c, turns=5) == "First question.\nSecond question.\nThird question."


def test_without_a_customer_turn_the_question_is_the_last_message() -> None:
    c = conv(messages=[{"role": "agent", "text": "Hello, how can I help?"}, {"role": "agent", "text": "Still there?"}])
    assert build_query(c) == "Still there?" == search_query(c)


def test_the_question_keeps_the_last_2000_characters() -> None:
    c = conv(messages=turns("a" * 1500, "ok", "b" * 1500))
    query = build_query(c)
    assert len(query) == 2000 and query.endswith("b" * 1500) and query.startswith("a" * 499 + "\n")


def test_the_search_is_the_customers_sentences_one_per_line_from_every_turn() -> None:
    c = conv(messages=turns("My parcel never came.", "Sorry to hear that.", "It was a gift for my son.", "Oh no."))
    assert search_query(c) == "My parcel never came.\nIt was a gift for my son."
    assert search_query(c, sentences=1) == "It was a gift for my son."


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Hi! My router keeps dropping the connection.", "Ok, thanks!", "My router keeps dropping the connection."),
        (
            "Buongiorno. Il modem si disconnette di continuo.",
            "Va bene, grazie mille!",
            "Il modem si disconnette di continuo.",
        ),
        (
            "Hola, buenas tardes. El router se desconecta cada rato.",
            "Vale, muchas gracias.",
            "El router se desconecta cada rato.",
        ),
        ("Dzień dobry. Router ciągle zrywa połączenie.", "Dobrze, dziękuję bardzo.", "Router ciągle zrywa połączenie."),
    ],
)
def test_greetings_thanks_and_short_replies_are_left_out_of_the_search(first: str, last: str, expected: str) -> None:
    assert search_query(conv(messages=turns(first, "Let me check.", last))) == expected


def test_without_a_sentence_that_says_something_the_search_is_the_question() -> None:
    c = conv(messages=turns("Hi!", "Hello, how can I help?", "Thanks."))
    assert search_query(c) == build_query(c) == "Hi!\nThanks."


def test_the_search_keeps_the_last_sentences_within_2000_characters() -> None:
    long = "word " * 300
    c = conv(messages=turns(f"{long.strip()}.", "ok", f"{long.strip()}.", "ok", "The parcel is late."))
    query = search_query(c)
    assert len(query) <= 2000 and query.endswith("\nThe parcel is late.") and query.count("\n") == 1


# --- retrieval and language ----------------------------------------------------------------------------------


def test_the_retriever_is_asked_for_the_query_in_the_customers_language(retriever: StaticRetriever) -> None:
    text = "Buongiorno. Il mio pacco è in ritardo. Il tracking è fermo da una settimana."
    c = conv(messages=[{"role": "customer", "text": text}])
    assistance = AssistEngine(retriever).assist(c)
    first, version = retriever.searches
    searched = "Il mio pacco è in ritardo.\nIl tracking è fermo da una settimana."
    assert search_query(c) == searched
    assert first == Search(searched, PASSAGES, "it", None)
    # The best topic is English only here: its Italian version is asked for, by topic and language.
    topic = retriever.passages[0].topic
    assert version == Search(searched, PASSAGES, "it", {"topic": topic, "language": "it"})
    assert assistance.language == "it" and assistance.query == build_query(c) == text  # the question as asked


def test_no_second_search_when_the_best_topic_is_in_the_customers_language(retriever: StaticRetriever) -> None:
    c = conv(messages=[{"role": "customer", "text": "My parcel is late, no tracking for a week."}])
    AssistEngine(retriever).assist(c)
    assert len(retriever.searches) == 1


def test_a_declared_language_wins_over_detection(retriever: StaticRetriever) -> None:
    c = conv(language=" IT ", messages=[{"role": "customer", "text": "My parcel is late, no tracking for a week."}])
    assert AssistEngine(retriever).assist(c).language == "it"
    assert retriever.searches[0].language == "it"


def test_an_unknown_declared_language_is_invalid_input_and_nothing_is_searched(retriever: StaticRetriever) -> None:
    with pytest.raises(InvalidInput) as info:
        AssistEngine(retriever).assist(conv(language="xx"))
    assert info.value.field == "conversation.language" and retriever.searches == []


def test_the_passages_used_are_the_retrievers_and_every_step_cites_one(retriever: StaticRetriever) -> None:
    assistance, found = AssistEngine(retriever).assist_with_passages(conv())
    assert found == passages()[:PASSAGES]
    assert assistance.next_steps and assistance.engine == "rules"
    ids = {p.document_id for p in found}
    assert all(step.citations and {c.document_id for c in step.citations} <= ids for step in assistance.next_steps)
    assert assistance.next_steps[0].citations[0].document_id == "late-parcel-en"


def test_with_nothing_retrieved_no_step_cites_anything() -> None:
    assistance = AssistEngine(StaticRetriever([])).assist(conv())
    assert assistance.articles == [] and all(not step.citations for step in assistance.next_steps)


def test_each_answer_has_its_own_suggestion_id(retriever: StaticRetriever) -> None:
    engine = AssistEngine(retriever)
    ids = {engine.assist(conv()).suggestion_id for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)


# --- the case, the customer and the draft -----------------------------------------------------------------


def test_the_contact_level_follows_the_case(retriever: StaticRetriever) -> None:
    engine = AssistEngine(retriever)
    high = engine.assist(conv(case={"purchase_value": 4800, "product_complexity": "high"}))
    override = engine.assist(conv(case={"purchase_value": 4800, "contact_level": "low_touch"}))
    assert (high.contact_level.level, high.contact_level.source) == ("high_touch", "inferred")
    assert (override.contact_level.level, override.contact_level.source) == ("low_touch", "override")


def test_empathy_addresses_the_customer_by_name(retriever: StaticRetriever) -> None:
    assistance = AssistEngine(retriever).assist(conv(customer={"name": "Giulia"}))
    assert assistance.empathy and any("Giulia" in e.text for e in assistance.empathy)


@pytest.mark.parametrize("draft", [None, "", "   \n"])
def test_without_a_draft_there_is_no_tone_check(retriever: StaticRetriever, draft: str | None) -> None:
    assert AssistEngine(retriever).assist(conv(), draft=draft).tone is None


def test_the_draft_is_checked_in_the_conversations_language_with_its_spans(retriever: StaticRetriever) -> None:
    tone = AssistEngine(retriever).assist(conv(), draft=DRAFT).tone
    assert tone is not None and tone.language == "en" and tone.issues and tone.rewrite
    spans = [DRAFT[i.start : i.end].lower() for i in tone.issues]
    assert any("calm down" in s for s in spans), spans
    assert "calm down" not in tone.rewrite.lower()


# --- the agent's earlier messages ----------------------------------------------------------------------------


def test_a_sarcastic_agent_message_is_reported_by_its_index_and_flagged(retriever: StaticRetriever) -> None:
    c = conv(messages=turns("Where is my parcel? It is a week late.", SARCASTIC, "That is not helpful at all."))
    assistance = AssistEngine(retriever).assist(c)
    assert [t.index for t in assistance.message_tones] == [1]
    assert assistance.message_tones[0].issues and assistance.message_tones[0].score < 1
    assert "sarcasm" in {f.kind for f in assistance.flags}


def test_issues_of_style_are_not_held_against_a_message_already_sent(retriever: StaticRetriever) -> None:
    # As a draft, the polite reply is missing the customer's name; sent, it is no concern of a supervisor's.
    as_draft = check_tone(POLITE, language="en", customer_name="Ada")
    assert "missing_name" in {i.kind for i in as_draft.issues}
    c = conv(messages=turns("Where is my parcel? It is a week late.", POLITE))
    assert AssistEngine(retriever).assist(c).message_tones == []


def test_a_turn_retrieval_is_kept_across_draft_edits_until_the_knowledge_base_changes() -> None:
    version = [1]
    retriever = StaticRetriever(passages())
    engine = AssistEngine(retriever, index_version=lambda: version[0])
    conv = Conversation.model_validate(conversation())
    first = engine.assist(conv, draft="Hi Ada, I'm checking.")
    searches = len(retriever.searches)
    again = engine.assist(conv, draft="Hi Ada, I'm checking the tracking now.")
    assert len(retriever.searches) == searches  # the draft changed, the turn did not: no new search
    assert [s.text for s in again.next_steps] == [s.text for s in first.next_steps]
    version[0] = 2  # a job finished: what search finds may have changed
    engine.assist(conv, draft="Hi Ada.")
    assert len(retriever.searches) > searches
    # Without a version, nothing is kept.
    plain = StaticRetriever(passages())
    uncached = AssistEngine(plain)
    uncached.assist(conv)
    n = len(plain.searches)
    uncached.assist(conv)
    assert len(plain.searches) == 2 * n


def test_alternative_passages_are_the_best_of_each_topic_not_yet_covered() -> None:
    kb = passages()
    # The rules' answer covers the first topic; its other version of a topic and a plain passage ranked above
    # the topic's procedure: the procedure is taken, the next topics in the retriever's order.
    plain = kb[2].model_copy(update={"chunk_id": "contrasena-es#intro", "text": "Una introducción.", "score": 0.95})
    retriever = StaticRetriever([kb[0], plain, *kb[1:]])
    engine = AssistEngine(retriever)
    c = Conversation.model_validate(conversation())
    others = engine.alternative_passages(c, kb[:1], topics=2)
    assert [p.document_id for p in others] == ["contrasena-es", "rimborsi-it"]
    assert others[0].chunk_id == "contrasena-es#0"  # the passage holding the procedure, not the better-scored intro
    assert retriever.searches[-1].k >= 30 and retriever.searches[-1].language == "en"
    assert engine.alternative_passages(c, kb[:1], topics=0) == []
    assert engine.alternative_passages(c, kb, topics=2) == []  # every topic already covered
    engine.alternative_passages(c, kb[:1], topics=2, scope=("shop-a",))
    assert retriever.searches[-1].filters == {SCOPE: ("shop-a",)}  # an installation's scope holds here too
    plain_query = retriever.searches[-1].query
    engine.alternative_passages(c, kb[:1], topics=2, search="  parcel   lost in transit ")
    # The LLM's own line is one more line of the conversation's query (each line is read on its own).
    assert retriever.searches[-1].query == f"{plain_query}\nparcel lost in transit"
