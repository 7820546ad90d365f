"""Empathy suggestions: triggers per language, the customer's name, the register of the contact level."""

from __future__ import annotations

import re

import pytest

from assist.customer_state import assess_customer
from assist.empathy import detect_triggers, first_name, suggest_empathy
from assist.models import ContactLevel, Conversation, CustomerState, EmpathySuggestion

LEVELS: tuple[ContactLevel, ...] = ("no_touch", "low_touch", "high_touch")
ARTICLE = {"en": r"article|guide", "it": r"articol|guida", "es": r"artículo|guía", "pl": r"artyku|poradnik"}
OWNERSHIP = {
    "en": r"personally|ownership|myself",
    "it": r"personalmente|me ne (?:occupo|faccio carico)|in prima persona",
    "es": r"personalmente|me hago cargo|me encargo",
    "pl": r"osobiście|biorę .* na siebie",
}
CALM = CustomerState(sentiment=0.0, frustration=0.0)


def conversation(text: str, *, name: str | None = "Giulia Bianchi", conversation_id: str = "c-emp") -> Conversation:
    return Conversation.model_validate(
        {"id": conversation_id, "customer": {"name": name}, "messages": [{"role": "customer", "text": text}]}
    )


def suggest(conv: Conversation, language: str, level: ContactLevel) -> list[EmpathySuggestion]:
    return suggest_empathy(conv, language=language, level=level, state=assess_customer(conv, language=language))


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


@pytest.mark.parametrize(
    ("language", "text", "trigger"),
    [
        ("en", "My order is late and hasn't arrived", "delay"),
        ("en", "I was charged twice for the same invoice", "money"),
        ("en", "The printer is broken", "broken_product"),
        ("en", "I'm locked out and my password doesn't work", "account_access"),
        ("it", "Il pacco è in ritardo", "delay"),
        ("it", "Mi avete addebitato due volte l'importo", "money"),
        ("it", "La lavatrice non funziona più", "broken_product"),
        ("it", "Non riesco ad accedere al mio account", "account_access"),
        ("es", "Mi pedido lleva un retraso enorme", "delay"),
        ("es", "Me han cobrado dos veces", "money"),
        ("es", "La cafetera se ha roto", "broken_product"),
        ("es", "He olvidado mi contraseña", "account_access"),
        ("pl", "Przesyłka się opóźnia", "delay"),
        ("pl", "Pobrano ode mnie podwójną opłatę", "money"),
        ("pl", "Pralka nie działa", "broken_product"),
        ("pl", "Nie mogę się zalogować", "account_access"),
    ],
)
def test_keyword_triggers_per_language(language: str, text: str, trigger: str) -> None:
    assert trigger in detect_triggers(conversation(text), language=language, state=CALM)
    assert suggest(conversation(text), language, "low_touch")[0].trigger == trigger


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "I'm locked out, my password doesn't work"), ("pl", "Nie mogę się zalogować, hasło nie działa.")],
)
def test_a_login_that_does_not_work_is_not_a_broken_product(language: str, text: str) -> None:
    assert detect_triggers(conversation(text), language=language, state=CALM) == ["account_access"]


def test_state_signals_add_repeat_contact_and_frustration_first() -> None:
    state = CustomerState(sentiment=-0.8, frustration=0.9, signals=["repeat_contact", "shouting"])
    triggers = detect_triggers(conversation("My order is late"), language="en", state=state)
    assert triggers == ["repeat_contact", "delay", "frustration"]


def test_nothing_specific_gives_generic_suggestions() -> None:
    result = suggest(conversation("Hello, a question about the colours available."), "en", "low_touch")
    assert [s.trigger for s in result] == ["generic"] * 3


def test_italian_uses_the_first_name_and_differs_between_low_and_high_touch() -> None:
    conv = conversation("Buongiorno, il rimborso è in ritardo di due settimane.")
    low = suggest(conv, "it", "low_touch")
    high = suggest(conv, "it", "high_touch")
    assert all("Giulia" in s.text and "Bianchi" not in s.text for s in low + high)
    assert {s.text for s in low}.isdisjoint({s.text for s in high})
    assert all(sentences(s.text) == 1 for s in low)
    assert all(sentences(s.text) >= 2 for s in high)
    assert all(len(h.text) > max(len(s.text) for s in low) for h in high)
    assert any(re.search(OWNERSHIP["it"], s.text) for s in high)


@pytest.mark.parametrize("language", ["en", "it", "es", "pl"])
@pytest.mark.parametrize("level", LEVELS)
def test_two_or_three_distinct_suggestions_in_every_language_and_level(language: str, level: ContactLevel) -> None:
    conv = conversation({"en": "It's broken", "it": "È rotto", "es": "Está roto", "pl": "Jest zepsute"}[language])
    result = suggest(conv, language, level)
    assert 2 <= len(result) <= 3
    assert len({s.text for s in result}) == len(result)
    assert all(s.engine == "rules" and s.trigger for s in result)
    assert all("Giulia" in s.text and "{" not in s.text for s in result)


@pytest.mark.parametrize("language", ["en", "it", "es", "pl"])
def test_no_touch_points_to_the_article(language: str) -> None:
    result = suggest(conversation("?", name=None), language, "no_touch")
    assert all(re.search(ARTICLE[language], s.text, re.IGNORECASE) for s in result)


@pytest.mark.parametrize("language", ["en", "it", "es", "pl"])
def test_high_touch_commits_to_ownership(language: str) -> None:
    for text in ("?", "broken, late, charged, password"):
        result = suggest(conversation(text), language, "high_touch")
        assert all(re.search(OWNERSHIP[language], s.text, re.IGNORECASE) for s in result), result


@pytest.mark.parametrize("language", ["en", "it", "es", "pl"])
@pytest.mark.parametrize("level", LEVELS)
def test_without_a_name_the_phrasing_stays_natural(language: str, level: ContactLevel) -> None:
    result = suggest(conversation("late", name=None), language, level)
    for suggestion in result:
        assert "{" not in suggestion.text and ", ," not in suggestion.text and " ," not in suggestion.text
        assert not re.search(r"dear customer|gentile cliente|estimad[oa] cliente|szanown", suggestion.text, re.I)
        assert suggestion.text[0].isupper()


def test_polish_avoids_gendered_forms_of_address() -> None:
    for level in LEVELS:
        for text in ("opóźnienie", "zepsute", "trzeci raz piszę, skandal!!!", "hasło"):
            for s in suggest(conversation(text, name="Ola"), "pl", level):
                assert not re.search(r"\bPan(?:a|u|i|ie|em)?\b", s.text)
                assert s.text.startswith("Ola, ")


def test_deterministic_and_varied_across_conversations() -> None:
    first = suggest(conversation("?", conversation_id="a"), "en", "high_touch")
    assert first == suggest(conversation("?", conversation_id="a"), "en", "high_touch")
    outputs = {
        tuple(s.text for s in suggest(conversation("?", conversation_id=f"c{i}"), "en", "high_touch"))
        for i in range(12)
    }
    assert len(outputs) > 1


def test_unsupported_language_falls_back_to_english() -> None:
    result = suggest(conversation("Mon colis est en retard"), "fr", "low_touch")
    assert all("Giulia" in s.text for s in result)
    assert re.search(r"\b(?:sorry|thanks|help)\b", " ".join(s.text for s in result), re.IGNORECASE)


def test_name_is_inserted_literally() -> None:
    result = suggest(conversation("?", name="{x} Smith"), "en", "low_touch")
    assert all("{x}" in s.text for s in result)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("giulia bianchi", "Giulia"),
        ("ANNA", "Anna"),
        ("McDonald", "McDonald"),
        ("  ", None),
        (None, None),
        ("Ola,", "Ola"),
    ],
)
def test_first_name(raw: str | None, expected: str | None) -> None:
    assert first_name(raw) == expected
