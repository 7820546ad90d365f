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
