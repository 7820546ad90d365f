"""The text toolkit, per language: folding, words, stems and sentences as every part of Tactful reads them."""

from __future__ import annotations

import pytest

from assist.text import (
    compile_folded,
    elision_parts,
    fold,
    is_question,
    normalized,
    sentence_around,
    sentence_spans,
    stems,
    words,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Złożyłem ZAMÓWIENIE w Łodzi", "zlozylem zamowienie w lodzi"),  # pl: ł has no decomposition
        ("El señor Muñoz pagó", "el senor munoz pago"),  # es: ñ
        ("Dell’ordine non è arrivato", "dell'ordine non e arrivato"),  # it: typographic apostrophe, accents
        ("Straße İstanbul Øre", "strase istanbul ore"),  # one character for one, even where Unicode expands
    ],
)
def test_fold_lowers_and_strips_accents_one_character_for_one(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert len(fold(text)) == len(text)


def test_offsets_found_in_folded_text_are_offsets_in_the_original() -> None:
    text = "Nikt nie oddzwonił, czekam już dwa dni!"
    start = fold(text).index("oddzwonil")
    assert text[start : start + len("oddzwonił")] == "oddzwonił"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't know what's wrong", ["i", "don't", "know", "what's", "wrong"]),
        ("Non l’ho ricevuto dall'Italia", ["non", "l'ho", "ricevuto", "dall'italia"]),
        ("¿Dónde está mi pedido_123?", ["donde", "esta", "mi", "pedido", "123"]),
        ("Paczka, która miała być jutro.", ["paczka", "ktora", "miala", "byc", "jutro"]),
    ],
)
def test_words_are_folded_and_keep_their_apostrophes(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_pauses_are_tokens_only_when_asked() -> None:
    assert words("No, I already did: twice") == ["no", "i", "already", "did", "twice"]
    assert words("No, I already did: twice", pauses=True) == ["no", ",", "i", "already", "did", ":", "twice"]


def test_elisions_split_into_their_parts() -> None:
    assert elision_parts("dell'ordine") == ["dell", "ordine"]
    assert elision_parts("l'ho") == ["l", "ho"]
    assert elision_parts("router") == ["router"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("I restarted the router", "Restart the router"),  # en
        ("Ho riavviato il modem dell'ufficio", "Riavvia il modem"),  # it, the elided article aside
        ("Reinicié el router", "Reiniciar el router"),  # es
        ("Zrestartowałem router", "Zrestartuj router"),  # pl
    ],
)
def test_inflected_forms_share_stems(a: str, b: str) -> None:
    assert stems(words(a)) & stems(words(b))


def test_stems_leave_out_numbers_short_words_and_ignored_words() -> None:
    found = stems(words("the order 12345 is at the depot"), frozenset({"the"}), min_length=3)
    assert found == {"order", "depot"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello. The fee is 2.5 EUR! See lumora.com/help now.",
            ["Hello.", "The fee is 2.5 EUR!", "See lumora.com/help now."],
        ),
        ("**Within 2 hours.** Then call.", ["**Within 2 hours.**", "Then call."]),
        ("Ciao Anna\nHo controllato… Tutto ok", ["Ciao Anna", "Ho controllato…", "Tutto ok"]),
        ("¿Ha llegado? «Sí.» Gracias", ["¿Ha llegado?", "«Sí.»", "Gracias"]),
    ],
)
def test_sentences_end_at_punctuation_followed_by_space_or_at_a_line_break(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in sentence_spans(text)] == expected


def test_a_semicolon_ends_a_sentence_only_when_asked() -> None:
    text = "We checked; it was sent"
    assert len(sentence_spans(text)) == 1
    assert [text[a:b] for a, b in sentence_spans(text, semicolons=True)] == ["We checked;", "it was sent"]


def test_sentence_around_widens_a_span_to_whole_sentences() -> None:
    text = "First one. Second one here. Third."
    spans = sentence_spans(text)
    start = text.index("one here")
    assert text[slice(*sentence_around(spans, start, start + 3))] == "Second one here."


@pytest.mark.parametrize(
    ("sentence", "asks"),
    [
        ("Have you restarted it?", True),
        ("¿Ya lo reinició", True),  # Spanish opens a question
        ('He asked "why?"', True),
        ("Czy pan już to zrobił?", True),
        ("Ho già riavviato il modem.", False),
    ],
)
def test_questions_are_recognised_in_every_language(sentence: str, asks: bool) -> None:
    assert is_question(sentence) is asks


def test_bank_patterns_match_text_written_with_or_without_diacritics() -> None:
    (pattern,) = compile_folded([r"\bnikt nie oddzwonił\b"])
    assert pattern.search(fold("Nikt nie oddzwonił!"))
    assert pattern.search(fold("nikt nie oddzwonil"))


def test_the_same_question_normalises_to_one_key() -> None:
    assert normalized("Dove è il mio ORDINE?") == normalized("dove e il mio ordine") == "dove e il mio ordine"
    assert normalized("Gdzie jest przesyłka?") == normalized("gdzie jest przesylka")
