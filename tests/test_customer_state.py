"""Customer state: lexicon sentiment with negation, frustration cues in every language, the trend."""

from __future__ import annotations

import pytest

from assist.customer_state import assess_customer, assess_message, find_signals
from assist.models import Conversation
from assist.text import fold


def conversation(*turns: tuple[str, str]) -> Conversation:
    return Conversation.model_validate(
        {"id": "c-state", "messages": [{"role": role, "text": text} for role, text in turns]}
    )


def signals(text: str, language: str = "en") -> list[str]:
    return assess_message(text, index=0, language=language).signals


def test_fold_strips_accents_and_case_without_changing_length() -> None:
    text = "Zażółć GĘŚLĄ jaźń, perché ¿todavía? don’t"
    folded = fold(text)
    assert folded == "zazolc gesla jazn, perche ¿todavia? don't"
    assert len(folded) == len(text)


@pytest.mark.parametrize(
    ("language", "happy", "unhappy"),
    [
        ("en", "Thanks, that worked great!", "This is terrible, the worst service ever"),
        ("it", "Grazie mille, tutto perfetto!", "Servizio pessimo, è una vergogna"),
        ("es", "Muchas gracias, muy amable, todo perfecto.", "Es un desastre, servicio horrible"),
        ("pl", "Dziękuję, wszystko działa, jestem zadowolony.", "To skandal, fatalna obsługa"),
    ],
)
def test_sentiment_sign_follows_the_words(language: str, happy: str, unhappy: str) -> None:
    good = assess_message(happy, index=0, language=language)
    bad = assess_message(unhappy, index=0, language=language)
    assert good.sentiment > 0.3
    assert good.frustration < 0.1
    assert bad.sentiment < -0.3
    assert bad.frustration > good.frustration


@pytest.mark.parametrize(
    ("language", "plain", "negated"),
    [
        ("en", "The replacement is good", "The replacement is not good"),
        ("it", "Il ricambio è buono", "Il ricambio non è buono"),
        ("es", "El recambio es bueno", "El recambio no es bueno"),
        ("pl", "Zamiennik jest dobry", "Zamiennik nie jest dobry"),
    ],
)
def test_negation_within_three_tokens_flips_the_sentiment(language: str, plain: str, negated: str) -> None:
    assert assess_message(plain, index=0, language=language).sentiment > 0
    assert assess_message(negated, index=0, language=language).sentiment < 0


def test_negation_stops_at_a_clause_boundary() -> None:
    state = assess_message("Still not working, UNACCEPTABLE!!!", index=0, language="en")
    assert state.sentiment < -0.5
    assert "anger" in state.signals


def test_negation_beyond_three_tokens_does_not_flip() -> None:
    assert assess_message("Not that I mind, the support is great", index=0, language="en").sentiment > 0


def test_intensifier_strengthens() -> None:
    bad = assess_message("That was bad", index=0, language="en").sentiment
    very_bad = assess_message("That was very bad", index=0, language="en").sentiment
    assert very_bad < bad < 0


def test_greetings_carry_no_sentiment() -> None:
    assert assess_message("Buongiorno, il pacco non è arrivato.", index=0, language="it").sentiment == 0
    assert assess_message("Dzień dobry, paczka nie dotarła.", index=0, language="pl").sentiment == 0


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "This is the third time I write about this"),
        ("en", "I asked again yesterday"),
        ("en", "It still does not turn on"),
        ("it", "È la terza volta che vi scrivo"),
        ("it", "Vi scrivo di nuovo"),
        ("it", "Il modem ancora non funziona"),
        ("es", "Es la tercera vez que escribo"),
        ("es", "Otra vez lo mismo"),
        ("es", "Todavía no funciona"),
        ("pl", "Piszę już trzeci raz"),
        ("pl", "Znowu to samo"),
        ("pl", "Router nadal nie działa"),
    ],
)
def test_repeat_contact_is_detected(language: str, text: str) -> None:
    assert "repeat_contact" in signals(text, language)


def test_not_yet_arrived_in_italian_is_a_delay_not_a_repeat_contact() -> None:
    assert "repeat_contact" not in signals("Il rimborso non è ancora arrivato", "it")


@pytest.mark.parametrize(
    "text",
    [
        "I will cancel my account tomorrow",
        "I'm going to a competitor",
        "Voglio disdire il contratto",
        "Disdico tutto",
        "Quiero darme de baja",
        "Zrezygnuję z waszych usług",
        "Zrezygnuje z waszych uslug",  # typed without Polish letters
    ],
)
def test_threat_to_leave_is_detected_in_any_language(text: str) -> None:
    assert "threat_to_leave" in signals(text)


@pytest.mark.parametrize(
    "text",
    [
        "My lawyer will hear about this",
        "I will contact consumer protection",
        "Mi rivolgerò a un avvocato",
        "Hablaré con mi abogado",
        "Sprawą zajmie się mój prawnik",
        "Zgłoszę to do rzecznika praw konsumentów",
    ],
)
def test_legal_words_are_detected_in_any_language(text: str) -> None:
    assert "legal" in signals(text)


@pytest.mark.parametrize(
    "text",
    [
        "I've been waiting for two weeks",
        "Aspetto da due settimane",
        "Espero desde hace dos semanas",
        "Czekam od dwóch tygodni",
    ],
)
def test_time_waited_is_detected(text: str) -> None:
    assert "long_wait" in signals(text)


def test_shouting_and_exclamations() -> None:
    assert signals("WHERE IS MY ORDER") == ["shouting"]
    assert signals("Where is my order!!!") == ["exclamations"]
    assert signals("My IBAN and PIN are correct") == []


def test_find_signals_spans_point_at_the_phrase() -> None:
    text = "Seriously, I will cancel my subscription and call a lawyer."
    hits = {hit.signal: text[hit.start : hit.end] for hit in find_signals(text)}
    assert hits == {"threat_to_leave": "cancel my subscription", "legal": "lawyer"}


def test_rising_frustration_over_three_polish_messages() -> None:
    conv = conversation(
        ("customer", "Dzień dobry, zamówiłem słuchawki i jeszcze do mnie nie dotarły."),
        ("agent", "Dzień dobry, sprawdzę status przesyłki."),
        ("customer", "Nadal nic nie dostałem, czekam już od dwóch tygodni."),
        ("agent", "Przepraszam, przesyłka jest w drodze."),
        ("customer", "To już trzeci raz piszę! To skandal, zrezygnuję z waszych usług!!!"),
    )
    state = assess_customer(conv, language="pl")
    assert state.trend == "rising"
    assert [m.index for m in state.per_message] == [0, 2, 4]
    first, second, third = (m.frustration for m in state.per_message)
    assert first < second < third
    assert third == 1.0
    assert {"repeat_contact", "long_wait", "threat_to_leave", "exclamations"} <= set(state.signals)
    assert state.frustration > 0.7
    assert state.sentiment < 0


def test_falling_frustration_and_latest_messages_weigh_most() -> None:
    conv = conversation(
        ("customer", "This is unacceptable, the third time I write!!!"),
        ("agent", "I'm sorry, the refund is done."),
        ("customer", "Thank you, that is great."),
    )
    state = assess_customer(conv, language="en")
    angry, calm = state.per_message
    assert state.trend == "falling"
    assert calm.frustration < state.frustration < (angry.frustration + calm.frustration) / 2
    assert state.sentiment > (angry.sentiment + calm.sentiment) / 2


def test_steady_with_a_single_customer_message() -> None:
    state = assess_customer(conversation(("customer", "Unacceptable!!!")), language="en")
    assert state.trend == "steady"
    assert state.frustration > 0.5


def test_no_customer_messages_is_neutral() -> None:
    state = assess_customer(conversation(("agent", "Hello, how can I help?")), language="en")
    assert (state.sentiment, state.frustration, state.trend, state.signals, state.per_message) == (
        0.0,
        0.0,
        "steady",
        [],
        [],
    )


def test_scores_stay_in_range_for_extreme_messages() -> None:
    text = "WORST SCAM EVER!!! Third time, again, lawyer, cancel my account, for three weeks, FURIOUS " * 5
    state = assess_message(text, index=0, language="en")
    assert -1.0 <= state.sentiment < -0.9
    assert state.frustration == 1.0
