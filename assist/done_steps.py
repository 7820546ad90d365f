"""Which steps the conversation already did: the customer or the agent says so ("I already restarted it").

A clause that says something was done (a done marker such as "already", "già", "ya", "już", not negated and
not in a question) is kept as its content stems; a step whose stems it shares is done. Words come from
``prompts/banks/steps/<lang>.toml``, merged over the conversation's and the passages' languages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from assist.models import Conversation
from assist.procedures import is_question_sentence, markdown_sentences
from assist.text import stems, words
from prompts import load_bank

__all__ = ["DoneSteps", "lexicon"]

BANK = "steps"
DONE_SHARED_STEMS = 2
DONE_SHARED_RATIO = 0.6
# How far a negation may sit from a done marker and still cancel it ("haven't tried", "ya no").
NEGATION_BEFORE = 3
NEGATION_AFTER = 1

Phrase = tuple[str, ...]
_PAUSES = frozenset(",;:")


@dataclass(frozen=True)
class Lexicon:
    ignored: frozenset[str]
    done_markers: tuple[Phrase, ...]
    negations: frozenset[str]
    clause_breaks: tuple[Phrase, ...]
    vip_keywords: tuple[str, ...]
    commitment_markers: tuple[str, ...]

    def stems(self, text: str) -> set[str]:
        """The content stems of ``text``: stop words, procedure words, negations and done markers left out."""
        return stems(words(text), self.ignored)


@cache
def lexicon(languages: frozenset[str]) -> Lexicon:
    """The banks of ``languages`` merged: a conversation and its passages may not share a language."""
    banks = [load_bank(BANK, language) for language in sorted(languages)]

    def bank_words(key: str) -> frozenset[str]:
        return frozenset(word for bank in banks for entry in bank[key] for word in words(entry))

    def phrases(key: str) -> tuple[Phrase, ...]:
        return tuple(sorted({tuple(words(entry)) for bank in banks for entry in bank[key]} - {()}))

    markers, negations = phrases("done_markers"), bank_words("negations")
    ignored = bank_words("stopwords") | bank_words("procedure_words") | negations | {w for m in markers for w in m}
    return Lexicon(
        ignored=ignored,
        done_markers=markers,
        negations=negations,
        clause_breaks=phrases("clause_breaks"),
        vip_keywords=tuple(sorted(bank_words("vip_keywords"))),
        commitment_markers=tuple(sorted(bank_words("commitment_markers"))),
    )


def _starts_with(tokens: Sequence[str], index: int, phrase: Phrase) -> bool:
    return tuple(tokens[index : index + len(phrase)]) == phrase


def _clauses(tokens: list[str], breaks: tuple[Phrase, ...]) -> list[list[str]]:
    """``tokens`` cut where the sentence turns ("but", "ma", "pero", "ale")."""
    clauses: list[list[str]] = [[]]
    index = 0
    while index < len(tokens):
        phrase = next((b for b in breaks if _starts_with(tokens, index, b)), None)
        if phrase:
            clauses.append([])
            index += len(phrase)
        else:
            clauses[-1].append(tokens[index])
            index += 1
    return [clause for clause in clauses if clause]


def _negated(tokens: list[str], start: int, end: int, negations: frozenset[str]) -> bool:
    before: list[str] = []
    for token in reversed(tokens[max(0, start - NEGATION_BEFORE) : start]):
        if token in _PAUSES:  # "No, I already did" answers a question; it does not negate
            break
        before.append(token)
    return any(token in negations for token in [*before, *tokens[end : end + NEGATION_AFTER]])


def _says_done(clause: list[str], lexicon: Lexicon) -> bool:
    return any(
        _starts_with(clause, index, marker) and not _negated(clause, index, index + len(marker), lexicon.negations)
        for index in range(len(clause))
        for marker in lexicon.done_markers
    )


@dataclass(frozen=True)
class DoneSteps:
    """What the conversation says was already done, as the content stems of each clause saying it."""

    lexicon: Lexicon
    clauses: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, conversation: Conversation, lexicon: Lexicon) -> DoneSteps:
        done: list[frozenset[str]] = []
        for message in conversation.messages:
            if message.role not in ("customer", "agent"):
                continue
            for start, end in markdown_sentences(message.text):
                sentence = message.text[start:end]
                if is_question_sentence(sentence):  # "Have you already restarted it?" asks, it does not tell
                    continue
                clauses = _clauses(words(sentence, pauses=True), lexicon.clause_breaks)
                done.extend(frozenset(stems(c, lexicon.ignored)) for c in clauses if _says_done(c, lexicon))
        return cls(lexicon, tuple(done))

    def includes(self, step_text: str) -> bool:
        """Whether a clause saying something was done shares enough of ``step_text``'s content stems."""
        wanted = self.lexicon.stems(step_text)
        for clause in self.clauses:
            shared = len(wanted & clause)
            if shared and (shared >= DONE_SHARED_STEMS or shared >= DONE_SHARED_RATIO * len(wanted)):
                return True
        return False
