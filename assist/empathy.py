"""Empathetic phrasings that fit what the customer said, in their language and the case's register.

Triggers come from the customer's recent messages (keyword regexes per language in
``prompts/banks/empathy/<lang>.toml``) and from the customer state (repeated contact, frustration). Each
trigger × contact level has a few phrasings; the choice among them is a stable hash of the conversation id,
so the same conversation always gets the same suggestions and different ones get some variety.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from functools import cache
from typing import Any

from assist.customer_state import EMPATHY_FROM
from assist.models import ContactLevel, Conversation, CustomerState, EmpathySuggestion
from assist.text import compile_folded, fold
from prompts import load_bank

BANK = "empathy"
# Most specific first: a repeat contact is acknowledged before the problem, the problem before the mood
# (and account access before broken product: "my password doesn't work" is about access).
TRIGGER_ORDER = ("repeat_contact", "delay", "money", "account_access", "broken_product", "frustration")
GENERIC = "generic"
# A trigger that makes another redundant: with account access in play, "it doesn't work" is the login.
SUBSUMES = {"account_access": "broken_product"}
KEYWORD_TRIGGERS = ("delay", "money", "broken_product", "account_access")
ANGRY_SIGNALS = frozenset({"shouting", "threat_to_leave", "legal", "anger"})
RECENT_MESSAGES = 3
SUGGESTIONS = 3

Entry = dict[str, str]


@cache
def _trigger_patterns(language: str) -> dict[str, tuple[re.Pattern[str], ...]]:
    triggers = load_bank(BANK, language)["triggers"]
    return {name: compile_folded(triggers.get(name, [])) for name in KEYWORD_TRIGGERS}


def _phrases(language: str, trigger: str, level: ContactLevel) -> list[Entry]:
    phrases: dict[str, Any] = load_bank(BANK, language)["phrases"]
    return list(phrases[trigger][level])


def detect_triggers(conversation: Conversation, *, language: str, state: CustomerState) -> list[str]:
    """The empathy triggers present, in ``TRIGGER_ORDER``; empty when nothing specific was said."""
    found = set()
    if "repeat_contact" in state.signals:
        found.add("repeat_contact")
    if state.frustration >= EMPATHY_FROM or ANGRY_SIGNALS.intersection(state.signals):
        found.add("frustration")
    recent = fold("\n".join(conversation.customer_texts()[-RECENT_MESSAGES:]))
    for trigger, patterns in _trigger_patterns(language).items():
        if any(p.search(recent) for p in patterns):
            found.add(trigger)
    found -= {SUBSUMES[t] for t in found if t in SUBSUMES}
    return [t for t in TRIGGER_ORDER if t in found]


def first_name(name: str | None) -> str | None:
    """The first word of ``name``, capitalised when it was typed all in one case; ``None`` when empty."""
    words = (name or "").replace(",", " ").split()
    if not words:
        return None
    word = words[0].strip(".;:!?\"'")
    if not word:
        return None
    return word.capitalize() if word.islower() or word.isupper() else word


def _render(entry: Entry, name: str | None) -> str:
    return entry["named"].replace("{name}", name) if name else entry["plain"]


def _rotation(entries: Sequence[Entry], *, seed: str) -> list[Entry]:
    """``entries`` starting at a position fixed by ``seed`` (stable across runs, unlike ``hash``)."""
    start = zlib.crc32(seed.encode("utf-8")) % len(entries)
    return [*entries[start:], *entries[:start]]


def _candidates(
    triggers: Sequence[str], *, conversation_id: str, language: str, level: ContactLevel
) -> list[tuple[str, Entry]]:
    """One phrasing per trigger first, then the triggers' other phrasings, then generic ones."""
    pools = [*triggers, GENERIC]
    rotated = {t: _rotation(_phrases(language, t, level), seed=f"{conversation_id}|{t}|{level}") for t in pools}
    depth = max(len(entries) for entries in rotated.values())
    by_round = [(t, rotated[t][i]) for i in range(depth) for t in triggers if i < len(rotated[t])]
    return by_round + [(GENERIC, e) for e in rotated[GENERIC]]


def suggest_empathy(
    conversation: Conversation, *, language: str, level: ContactLevel, state: CustomerState
) -> list[EmpathySuggestion]:
    """Up to three distinct empathetic phrasings for the agent, fitted to the triggers in the conversation.

    Written in ``language`` (English when the bank has no such language), in the register of ``level``,
    with the customer's first name when known. Deterministic for a given conversation.
    """
    triggers = detect_triggers(conversation, language=language, state=state)
    name = first_name(conversation.customer.name)
    suggestions: list[EmpathySuggestion] = []
    for trigger, entry in _candidates(triggers, conversation_id=conversation.id, language=language, level=level):
        text = _render(entry, name)
        if all(s.text != text for s in suggestions):
            suggestions.append(EmpathySuggestion(text=text, trigger=trigger))
        if len(suggestions) == SUGGESTIONS:
            break
    return suggestions
