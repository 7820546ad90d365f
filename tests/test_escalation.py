"""Escalation advice: the tier a case needs, what to do about it and why, in four languages; a company's own
escalation policy replaces the default cues."""

from __future__ import annotations

from typing import Any

import pytest

from assist.customer_state import assess_customer
from assist.engine import AssistEngine
from assist.escalation import advise_escalation, parse_policy
from assist.models import Article, ContactLevel, Conversation, Escalation, Passage
from prompts import SUPPORTED_LANGUAGES, load_bank
from tests.factories import StaticRetriever, passages


def _conv(messages: list[tuple[str, str]], **fields: Any) -> Conversation:
    return Conversation.model_validate(
        {"id": "esc-1", "messages": [{"role": r, "text": t} for r, t in messages], **fields}
    )


def _advise(
    conv: Conversation,
    *,
    language: str = "en",
    level: ContactLevel = "low_touch",
    articles: list[Article] | None = None,
    policy: str | None = None,
) -> Escalation:
    state = assess_customer(conv, language=language)
    return advise_escalation(conv, language=language, level=level, state=state, articles=articles or [], policy=policy)


ARTICLE = Article(document_id="pw-en", chunk_id="pw-en#0", title="Resetting your password", score=0.9, language="en")


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "The speaker won't turn on any more. I already tried resetting it and unplugging it, nothing."),
        ("it", "Il termostato non si accende più. Ho già provato a riavviarlo e a staccarlo, niente da fare."),
        ("es", "El altavoz no enciende. Ya he probado a reiniciarlo y desenchufarlo y sigue sin funcionar."),
        ("pl", "Głośnik nie włącza się. Już próbowałem zresetować i odłączyć, nadal nie działa."),
    ],
)
def test_a_technical_fault_already_troubleshot_goes_to_intermediate_with_reasons_in_the_agent_language(
    language: str, text: str
) -> None:
    advice = _advise(_conv([("customer", text)]), language=language)
    bank = load_bank("escalation", language)
    assert (advice.tier, advice.needed, advice.action, advice.to_tier) == (
        "basic", "intermediate", "escalate", "intermediate"
    )  # fmt: skip
    assert bank["reasons"]["technical"] in advice.reasons
    assert bank["reasons"]["tried"] in advice.reasons
    assert advice.reasons[0] == bank["actions"]["escalate"].format(
        tier=bank["tiers"]["basic"], to=bank["tiers"]["intermediate"]
    )


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "The charger started smoking and there were sparks!"),
        ("it", "Il caricatore ha fatto fumo e delle scintille!"),
        ("es", "¡El cargador echó humo y chispas!"),
        ("pl", "Ładowarka zaczęła dymić i iskrzyć!"),
    ],
)
def test_a_safety_risk_needs_the_advanced_tier(language: str, text: str) -> None:
    advice = _advise(_conv([("customer", text)]), language=language)
    assert (advice.needed, advice.action, advice.to_tier) == ("advanced", "escalate", "advanced")
    assert load_bank("escalation", language)["reasons"]["safety"] in advice.reasons


def test_a_case_already_at_the_tier_it_needs_is_kept() -> None:
    conv = _conv(
        [("customer", "My router keeps disconnecting every hour.")],
        case={"tier": "intermediate"},
    )
    advice = _advise(conv)
    assert (advice.tier, advice.needed, advice.action, advice.to_tier) == (
        "intermediate", "intermediate", "keep", None
    )  # fmt: skip


def test_a_failing_intermediate_case_goes_to_advanced() -> None:
    conv = _conv(
        [("customer", "Third time I write: the router still doesn't work, I already tried everything you said.")],
        case={"tier": "intermediate"},
    )
    advice = _advise(conv)
    assert (advice.needed, advice.action, advice.to_tier) == ("advanced", "escalate", "advanced")


def test_a_bot_conversation_that_needs_a_person_gets_offer_human() -> None:
    conv = _conv(
        [
            ("bot", "Hi! I'm Lumi, how can I help?"),
            ("customer", "I lost my phone and can't log in, I don't have the backup codes"),
            ("bot", "Sorry, I did not understand. Do you want to reset your password?"),
            ("customer", "NO. I need to speak to a person. Is anyone there??"),
        ],
        case={"contact_level": "no_touch"},
    )
    advice = _advise(conv, level="no_touch")
    assert advice.action == "offer_human" and advice.to_tier is None
    assert load_bank("escalation", "en")["reasons"]["human"] not in advice.reasons[:1]
    assert load_bank("escalation", "en")["reasons"]["bot"] in advice.reasons


def test_a_simple_question_on_the_phone_gets_the_article_and_in_chat_is_kept() -> None:
    messages = [("agent", "Lumora, good morning."), ("customer", "How do I reset my password?")]
    phone = _advise(_conv(messages, channel="phone"), articles=[ARTICLE])
    assert phone.action == "offer_self_service"
    assert any("Resetting your password" in r for r in phone.reasons)
    assert _advise(_conv(messages, channel="chat"), articles=[ARTICLE]).action == "keep"
    # A high-touch customer keeps their person; an article in another language is not one to send.
    assert _advise(_conv(messages, channel="phone"), level="high_touch", articles=[ARTICLE]).action == "keep"
    foreign = ARTICLE.model_copy(update={"sendable": False})
    assert _advise(_conv(messages, channel="phone"), articles=[foreign]).action == "keep"


def test_a_valuable_customer_threatening_to_leave_needs_advanced_and_a_cheap_one_intermediate() -> None:
    text = "This is the last straw, I will cancel my account and go to a competitor."
    assert _advise(_conv([("customer", text)]), level="high_touch").needed == "advanced"
    assert _advise(_conv([("customer", text)]), level="low_touch").needed == "intermediate"


POLICY = """# Escalation policy

## Advanced
- Orders over 2,000 EUR
- Water damage to a device

## Intermediate
- Subscription cancellation requests
"""


def test_parse_policy_reads_tiers_triggers_and_values() -> None:
    rules = parse_policy(POLICY)
    assert [(r.tier, r.min_value) for r in rules] == [
        ("advanced", 2000.0), ("advanced", None), ("intermediate", None)
    ]  # fmt: skip
    italian = parse_policy("# Policy\n\n## Livello avanzato\n- Ordini oltre 1.500 euro\n")
    assert [(r.tier, r.min_value) for r in italian] == [("advanced", 1500.0)]


def test_a_company_policy_overrides_the_default_cues() -> None:
    spilled = _conv([("customer", "I spilled water on my speaker, the device has water damage.")])
    default = _advise(spilled)
    with_policy = _advise(spilled, policy=POLICY)
    assert default.needed == "basic"
    assert with_policy.needed == "advanced"
    assert any("Water damage to a device" in r for r in with_policy.reasons)
    # The policy replaces the defaults: a technical fault it does not list stays basic.
    fault = _conv([("customer", "The speaker won't turn on, I already tried resetting it.")])
    assert _advise(fault).needed == "intermediate"
    assert _advise(fault, policy=POLICY).needed == "basic"
    big = _conv([("customer", "Where is my order?")], case={"purchase_value": 2500})
    assert _advise(big, policy=POLICY).needed == "advanced"


def test_the_engine_reads_the_policy_and_never_cites_it_as_a_step() -> None:
    policy = Passage(
        document_id="escalation-policy-en", chunk_id="escalation-policy-en#0", title="Escalation policy",
        text=POLICY, score=0.99, relevance=0.99, language="en", kind="escalation_policy",
    )  # fmt: skip
    retriever = StaticRetriever([policy, *passages()])
    engine = AssistEngine(retriever, escalation_policy=lambda scope: POLICY)
    conv = _conv([("customer", "My parcel is late and the device inside has water damage now.")])
    result = engine.assist(conv)
    assert result.escalation is not None and result.escalation.needed == "advanced"
    cited = {c.document_id for step in result.next_steps for c in step.citations}
    assert "escalation-policy-en" not in cited
    assert "escalation-policy-en" not in {a.document_id for a in result.articles}


def test_every_bank_has_the_same_reasons_actions_and_tiers() -> None:
    en = load_bank("escalation", "en")
    for language in SUPPORTED_LANGUAGES:
        bank = load_bank("escalation", language)
        for part in ("cues", "reasons", "actions", "tiers"):
            assert set(bank[part]) == set(en[part]), (language, part)
