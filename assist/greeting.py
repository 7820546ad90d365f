"""The customer's name in a reply: whether the draft uses it, and the greeting that does (declined in Polish)."""

from __future__ import annotations

import re

from assist.text import fold
from assist.tone_bank import WORDS, ToneBank

__all__ = ["addressed", "greeting_for", "greeting_line", "name_used"]


def name_used(text: str, name: str, bank: ToneBank) -> bool:
    """Whether ``text`` calls the customer by (a part of) ``name``, accents and case aside."""
    folded = fold(text)
    for token in map(fold, _name_tokens(name, bank)):
        # Polish declines names (Anna -> Pani Anno, Jan -> Panie Janie, Marek -> Marku): match the stem.
        declined = bank.language == "pl"
        stem = token[: max(3, len(token) - 2)] if declined else token
        tail = "" if declined else r"\b"
        if re.search(rf"\b{re.escape(stem)}{tail}", folded):
            return True
    return False


def _name_tokens(name: str, bank: ToneBank) -> list[str]:
    return [t for t in WORDS.findall(name) if len(t) >= 2 and t.casefold().rstrip(".") not in bank.honorifics]


def addressed(name: str, bank: ToneBank) -> str:
    """How the greeting names the customer: the first name, in the form the bank's ``address`` gives it."""
    tokens: list[str] = WORDS.findall(name)
    if not tokens or tokens[0].casefold() in bank.honorifics:
        return name
    for regex, replacement, template in bank.address:
        if regex.search(tokens[0]):
            return template.replace("{name}", regex.sub(replacement, tokens[0], count=1))
    return tokens[0]


def greeting_line(bank: ToneBank, who: str, word: str | None) -> str:
    """The greeting ``word`` (or the bank's default) with ``who``: "Hello Anna", "Hola, Lucía"."""
    return bank.greet_with_name.replace("{greeting}", word or bank.default_greeting).replace("{name}", who)


def greeting_for(bank: ToneBank, name: str | None) -> str:
    """The whole greeting that replaces a form-letter one ("Dear customer,")."""
    head = greeting_line(bank, addressed(name, bank), None) if name else bank.default_greeting
    return head + bank.greeting_punct
