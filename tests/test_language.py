"""assist/language.py: which language a text or a conversation is in, and which language codes are accepted."""

from __future__ import annotations

import pytest

from assist.errors import InvalidInput
from assist.language import DEFAULT_LANGUAGE, conversation_language, detect_language, validate_language

SENTENCES = {
    "en": "My parcel is late and the tracking page has not changed for a week.",
    "it": "Il mio pacco è in ritardo e la pagina di tracciamento non cambia da una settimana.",
    "es": "Mi paquete llega tarde y la página de seguimiento no cambia desde hace una semana.",
    "pl": "Moja paczka się spóźnia, a strona śledzenia przesyłki nie zmieniła się od tygodnia.",
}


@pytest.mark.parametrize(("language", "text"), sorted(SENTENCES.items()))
def test_each_supported_language_is_detected(language: str, text: str) -> None:
    assert detect_language(text) == language


def test_a_known_language_outside_the_supported_ones_is_named_not_forced_into_one() -> None:
    assert detect_language("Mon colis est en retard et le suivi ne bouge plus depuis une semaine.") == "fr"


@pytest.mark.parametrize("text", ["", "   ", "Grazie", "¡Gracias!", "ok?"])
def test_a_text_too_short_to_tell_is_the_default(text: str) -> None:
    assert detect_language(text) == DEFAULT_LANGUAGE == "en"
    assert detect_language(text, default="pl") == "pl"


def test_two_words_are_enough_to_tell() -> None:
    assert detect_language("Dziękuję bardzo", default="it") == "pl"


@pytest.mark.parametrize(("code", "expected"), [("en", "en"), ("IT", "it"), (" es ", "es"), ("Pl", "pl"), ("fr", "fr")])
def test_an_iso_639_1_code_is_accepted_in_lower_case(code: str, expected: str) -> None:
    assert validate_language(code) == expected


@pytest.mark.parametrize("code", ["xx", "qq", "klingon", "eng", "en-US", "e", "", "  "])
def test_an_unknown_code_is_invalid_input_naming_the_field(code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_language(code, field="conversation.language")
    assert info.value.field == "conversation.language" and info.value.code == "invalid_input"
    assert repr(code) in info.value.message and "ISO 639-1" in info.value.message


def test_the_field_is_language_unless_named() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_language("xx")
    assert info.value.field == "language"


@pytest.mark.parametrize(("language", "text"), sorted(SENTENCES.items()))
def test_a_conversation_is_in_the_language_its_customer_writes(language: str, text: str) -> None:
    assert conversation_language(["Hello", text]) == language


@pytest.mark.parametrize("texts", [[], [""], ["  ", "\n"]])
def test_a_conversation_with_nothing_said_is_in_the_default_language(texts: list[str]) -> None:
    assert conversation_language(texts) == "en"
    assert conversation_language(texts, default="es") == "es"


def test_a_one_word_conversation_is_in_the_default_language() -> None:
    assert conversation_language(["Ciao"], default="pl") == "pl"


def test_only_the_last_five_customer_messages_count() -> None:
    earlier = " ".join([SENTENCES["en"]] * 4)
    later = ["Dzień dobry", "Gdzie jest paczka?", "Czekam od tygodnia", "Proszę o odpowiedź", "Dziękuję bardzo"]
    assert detect_language(" ".join([earlier, *later])) == "en"  # all six together read as English
    assert conversation_language([earlier, *later]) == "pl"
