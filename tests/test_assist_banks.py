"""The contact_level, sentiment, empathy and flags banks: every language parses, has the same keys, and
holds what the code expects (regexes that compile, phrasings with and without the name, ...)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from assist.customer_state import PATTERN_SIGNALS
from assist.empathy import GENERIC, KEYWORD_TRIGGERS, TRIGGER_ORDER
from assist.text import compile_folded
from prompts import BANKS, SUPPORTED_LANGUAGES, bank_languages

NAMES = ("contact_level", "sentiment", "empathy", "promises")
LEVELS = ("no_touch", "low_touch", "high_touch")
# Regex lists per bank, found by key path.
REGEX_KEYS: dict[str, list[tuple[str, ...]]] = {
    "sentiment": [(k,) for k in (*PATTERN_SIGNALS, "neutral")],
    "empathy": [("triggers", k) for k in KEYWORD_TRIGGERS],
    "promises": [(k,) for k in ("callback", "today", "tomorrow", "not_kept")],
}


def read(name: str, language: str) -> dict[str, Any]:
    with (BANKS / name / f"{language}.toml").open("rb") as fh:
        return tomllib.load(fh)


# Tables whose keys are words of the language (number words, unit stems): data, not structure.
WORD_TABLES = {"number_words", "units"}


def shape(value: Any) -> Any:
    """The key structure of a bank: tables become their keys, other values (and word tables) their type name."""
    if isinstance(value, dict):
        return {k: "word table" if k in WORD_TABLES else shape(v) for k, v in value.items()}
    return type(value).__name__


def at(bank: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        bank = bank[key]
    return bank


def phrase_entries(language: str) -> list[tuple[str, str, dict[str, str]]]:
    phrases = read("empathy", language)["phrases"]
    return [
        (trigger, level, e) for trigger, cells in phrases.items() for level, entries in cells.items() for e in entries
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_language_parses_with_the_same_keys(name: str) -> None:
    assert bank_languages(name) == sorted(SUPPORTED_LANGUAGES)
    english = shape(read(name, "en"))
    for language in SUPPORTED_LANGUAGES:
        assert shape(read(name, language)) == english, language


@pytest.mark.parametrize("name", list(REGEX_KEYS))
@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_regex_lists_are_non_empty_and_compile(name: str, language: str) -> None:
    bank = read(name, language)
    for path in REGEX_KEYS[name]:
        patterns = at(bank, path)
        assert patterns and all(isinstance(p, str) for p in patterns), path
        assert len(compile_folded(patterns)) == len(patterns)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_sentiment_lexicons_are_filled(language: str) -> None:
    bank = read("sentiment", language)
    for key in ("positive", "strong_positive", "negative", "strong_negative", "intensifiers", "negations"):
        assert len(bank[key]) >= 5, key
        assert all(w == w.lower() and " " not in w for w in bank[key]), key


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_contact_level_bank(language: str) -> None:
    bank = read("contact_level", language)
    assert set(bank["levels"]) == set(bank["summary"]) == set(LEVELS)
    assert "{level}" in bank["reasons"]["override"]
    for key in ("value_high", "value_low"):
        assert "{value}" in bank["reasons"][key] and "{threshold}" in bank["reasons"][key]
    assert bank["numbers"]["thousands"] != bank["numbers"]["decimal"]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_empathy_covers_every_trigger_and_level(language: str) -> None:
    phrases = read("empathy", language)["phrases"]
    assert set(phrases) == {*TRIGGER_ORDER, GENERIC}
    for trigger, cells in phrases.items():
        assert set(cells) == set(LEVELS), trigger
        assert all(len(entries) >= (3 if trigger == GENERIC else 2) for entries in cells.values()), trigger


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_empathy_entries_have_a_named_and_a_plain_variant(language: str) -> None:
    texts = []
    for trigger, level, entry in phrase_entries(language):
        assert set(entry) == {"named", "plain"}, (trigger, level)
        assert entry["named"].count("{name}") == 1, entry["named"]
        assert "{" not in entry["plain"] and "}" not in entry["plain"], entry["plain"]
        assert entry["plain"][0].isupper() and entry["plain"][-1] in ".!", entry["plain"]
        assert not re.search(r"dear customer|gentile cliente|estimad[oa] cliente|szanown", entry["plain"], re.I)
        texts.append(entry["plain"])
    assert len(set(texts)) == len(texts), "every phrasing is distinct"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_low_touch_is_one_sentence(language: str) -> None:
    for trigger, level, entry in phrase_entries(language):
        if level == "low_touch":
            assert len(re.findall(r"[.!?](?:\s|$)", entry["plain"])) == 1, (trigger, entry["plain"])


def test_formal_address_in_italian_spanish_and_polish() -> None:
    informal = {
        "it": r"\b(?:ti|tu|tuo|tua|tuoi|tue|hai|sei|puoi)\b",
        "es": r"\b(?:tú|tu|tus|te|ti|tienes|puedes|estás)\b",
        "pl": r"\b(?:ty|ciebie|cię|twój|twoja|twoje|masz|możesz|pan|pani|pana|panu|panią)\b",
    }
    for language, pattern in informal.items():
        for _, _, entry in phrase_entries(language):
            assert not re.search(pattern, entry["plain"], re.IGNORECASE), (language, entry["plain"])


def test_banks_live_where_load_bank_looks() -> None:
    for name in NAMES:
        assert sorted(p.name for p in (Path(BANKS) / name).glob("*.toml")) == [
            f"{lang}.toml" for lang in sorted(SUPPORTED_LANGUAGES)
        ]
