"""Grounding: a step survives only when the passages retrieved for this call support it; a rewrite keeps its facts."""

from __future__ import annotations

import pytest

from assist.grounding import Embed, Grounding, ProposedStep, facts, ground_steps, lexical_overlap, lost_facts, numbers
from assist.models import Passage
from tests.factories import small_kb

PASSAGES = {
    f"P{i}": Passage(
        document_id=d.id,
        chunk_id=f"{d.id}#0",
        title=d.title,
        text=d.text,
        score=0.9,
        language=d.language or "",
        kind=d.kind,
    )
    for i, d in enumerate(small_kb(), start=1)
}
# P1 late parcels (en), P2 refunds (it), P3 password (es), P4 Wi-Fi (pl), P5 Prestige (en)
VERIFY = "Verify that the order was delivered less than 30 days ago."
CLAIM = "Open a claim with the courier."
STEPS = {VERIFY, CLAIM}


def step(text: str, *cites: str, quote: str = "") -> ProposedStep:
    return ProposedStep(text=text, citations=tuple((c, quote) for c in cites))


def test_a_supported_step_is_kept_with_the_passages_own_sentence_as_quote() -> None:
    proposed = [step("Ask Ada for her order number, then check the tracking page.", "P1", quote="ask for order number")]
    result = ground_steps(proposed, PASSAGES, language="en")
    (kept,) = result.steps
    assert kept.engine == "llm" and not kept.translated and result.dropped == {}
    assert kept.citations[0].document_id == "late-parcel-en"
    assert kept.citations[0].quote == "Ask the customer for the order number and check the tracking page."


@pytest.mark.parametrize(
    ("proposed", "reason"),
    [
        (step("Open a claim with the courier.", "P9"), "unknown_citation"),
        (step("Open a claim with the courier.", "P1", "P7"), "unknown_citation"),
        (step("Open a claim with the courier."), "uncited"),
        (step("   ", "P1"), "empty"),
        (step("Tell the customer the courier answers within 1 business day.", "P1"), "unsupported_number"),
        (step("Promise the customer a full refund and a voucher today.", "P1"), "unsupported"),
        (step("Reset the router and re-add the device.", "P1"), "unsupported"),
    ],
)
def test_a_step_the_passages_do_not_support_is_dropped_and_counted(proposed: ProposedStep, reason: str) -> None:
    result = ground_steps([proposed], PASSAGES, language="en")
    assert result.steps == [] and result.dropped == {reason: 1} and result.dropped_count == 1


def test_numbers_from_the_conversation_may_be_repeated_but_list_numbering_proves_nothing() -> None:
    order = step("Check the tracking page of order 88231 and open a claim after 5 business days.", "P1")
    assert len(ground_steps([order], PASSAGES, language="en", context="My order 88231 is late").steps) == 1
    assert ground_steps([order], PASSAGES, language="en").dropped == {"unsupported_number": 1}
    # P1 is a list numbered 1. to 4.: "4" is not a number the passage states.
    four = step("Open a claim with the courier after 4 business days.", "P1")
    assert ground_steps([four], PASSAGES, language="en").dropped == {"unsupported_number": 1}


def test_a_list_marker_the_model_added_is_not_part_of_the_step() -> None:
    result = ground_steps(
        [step("4. Send a replacement or issue a refund if the parcel is lost.", "P1")], PASSAGES, language="en"
    )
    assert [s.text for s in result.steps] == ["Send a replacement or issue a refund if the parcel is lost."]


def test_a_translated_step_needs_embeddings_to_be_verified() -> None:
    proposed = [
        step("Verify that the order was delivered less than 30 days ago.", "P2", quote="Verificare che l'ordine")
    ]
    result = ground_steps(proposed, PASSAGES, language="en")
    assert result.steps == [] and result.dropped == {"unverifiable": 1}


def fake_embed(similar: bool) -> Embed:
    """Steps point one way; the passages' sentences the same way, or at right angles."""

    def embed(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] if t in STEPS or similar else [0.0, 1.0] for t in texts]

    return embed


def test_the_embedding_decides_across_languages() -> None:
    proposed = [step(VERIFY, "P2", quote="Verificare che l'ordine")]
    kept = ground_steps(proposed, PASSAGES, language="en", embed=fake_embed(similar=True))
    (s,) = kept.steps
    assert s.translated and s.language == "en" and s.citations[0].quote.startswith("Verificare che l'ordine")
    dropped = ground_steps(proposed, PASSAGES, language="en", embed=fake_embed(similar=False))
    assert dropped.steps == [] and dropped.dropped == {"unsupported": 1}


def test_in_the_same_language_both_words_and_embedding_must_agree() -> None:
    proposed = [step(CLAIM, "P1")]
    assert ground_steps(proposed, PASSAGES, language="en", embed=fake_embed(similar=False)).dropped == {
        "unsupported": 1
    }
    strict = Grounding(lexical_min=0.99)
    vague = [step("Open a claim with the courier if nothing moves for a long time.", "P1")]
    assert ground_steps(vague, PASSAGES, language="en", config=strict).dropped == {"unsupported": 1}


@pytest.mark.parametrize(
    ("language", "claim", "evidence"),
    [
        ("en", "Open a claim with the courier", "If the tracking shows no movement, open a claim with the courier."),
        ("it", "Crea l'etichetta di reso per il cliente", "Creare l'etichetta di reso e inviarla al cliente."),
        (
            "es",
            "Desbloquee la cuenta desde el panel",
            "Si la cuenta está bloqueada, desbloquéela desde el panel de cuentas.",
        ),
        ("pl", "Uruchom ponownie router klienta", "Poproś klienta o ponowne uruchomienie routera."),
    ],
)
def test_word_overlap_in_each_language(language: str, claim: str, evidence: str) -> None:
    assert lexical_overlap(claim, evidence, languages=(language,)) >= 0.5
    assert lexical_overlap(claim, "Lorem ipsum dolor sit amet.", languages=(language,)) == 0.0


def test_numbers_are_normalised() -> None:
    assert numbers("2,4 GHz for 10 seconds, 5.5 days, ID 007.") == {"2.4", "10", "5.5", "007"}


def test_a_rewrite_must_keep_every_fact_and_add_none() -> None:
    draft = "Hi Ada, your order #A1234 of €59.99 ships on 2024-05-01, track it at https://x.io/t?a=1 or mail help@x.io."
    assert facts(draft) >= {"#A1234", "59.99", "2024-05-01", "https://x.io/t?a=1", "help@x.io"}
    good = "Hello Ada! Your order #A1234 (€59.99) ships on 2024-05-01: https://x.io/t?a=1, help@x.io."
    assert lost_facts(draft, good, names=["Ada"]) == []
    changed = "Hello! Your order #A1234 (€59.90) ships on 2024-05-01 within 2 days: https://x.io/t?a=1, help@x.io."
    assert lost_facts(draft, changed, names=["Ada"]) == ["59.99", "Ada", "+2", "+59.90"]


def test_without_a_usable_quote_the_citation_quotes_the_sentence_the_embedding_matched() -> None:
    label = "Create the return label and send it to the customer."
    source = "Creare l'etichetta di reso e inviarla al cliente."

    def embed(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] if t in (label, source) else [0.0, 1.0] for t in texts]

    (kept,) = ground_steps([step(label, "P2")], PASSAGES, language="en", embed=embed).steps
    assert kept.citations[0].quote == source and kept.translated
