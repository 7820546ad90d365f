"""The steps evaluation's matching of suggested steps to a document's numbered steps."""

from __future__ import annotations

from assist.models import Citation, NextStep
from evals.steps import StepMatcher, first_list

DOC = "# Double charges\n\n1. Ask for the order number.\n2. Check the payments back office.\n3. Open a reversal.\n"


def _step(text: str, quote: str, engine: str = "rules") -> NextStep:
    citation = Citation(document_id="billing-en", chunk_id="c1", title="Double charges", quote=quote)
    return NextStep(text=text, citations=[citation], engine=engine)  # type: ignore[arg-type]


def test_first_list_numbers_the_documents_steps() -> None:
    assert first_list(DOC) == {
        1: "Ask for the order number.",
        2: "Check the payments back office.",
        3: "Open a reversal.",
    }


def test_a_step_is_a_procedure_item_by_its_text_or_for_an_llm_by_its_quote() -> None:
    matcher = StepMatcher({"billing-en": DOC}, embed=lambda texts: [[1.0] for _ in texts])
    assert matcher.is_item(_step("Check the payments back office.", "Check the payments back office."))
    # The LLM writes a step in its own words (another language here) and quotes the passage's sentence.
    llm = _step("Controlla il back office dei pagamenti.", "Check the payments back office.", engine="llm")
    assert matcher.is_item(llm)
    assert matcher.number(llm, "billing-en") == 2
    # A rules step is judged by its own text: a quote alone does not make it an item.
    assert not matcher.is_item(_step("Send the customer the article.", "Check the payments back office."))
    assert not matcher.is_item(_step("Tell the customer we are sorry.", "We are sorry.", engine="llm"))


def test_readers_agreement_counts_next_steps_already_done_and_the_authors_next_steps_named() -> None:
    from evals.steps_readers import Agreement, Labels, between

    found = Agreement()
    # The author: 1 and 2 done, 3 and 4 next. The reader: 2 done, next 2 (done by the author's reading) and 3.
    found.add(frozenset({1, 2}), (3, 4), Labels(frozenset({2}), (2, 3)))
    found.add(frozenset(), (1,), Labels(frozenset(), (1,)))
    assert (found.suggested, found.already_done, found.next_total, found.next_found) == (3, 1, 3, 2)
    assert found.first_right == 1 and (found.done_true, found.done_labelled, found.done_gold) == (1, 1, 2)
    assert found.row("r") == "| r | 2 | 0.333 | 0.667 | 0.500 | 1.000 | 0.500 |"
    one = {"a": Labels(frozenset({1}), (2,))}
    assert (
        between(one, {"a": Labels(frozenset({1}), (2, 3))}).row("x")
        == "| x | 1 | 0.000 | 1.000 | 1.000 | 1.000 | 1.000 |"
    )
