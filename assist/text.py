"""Language-level text handling shared by every part of Tactful: folding, words, stems and sentences.

One home for what used to be written six times over: the tone check, the customer state, the next steps, the
grounding checks, the supervisor flags, BM25 and the gaps report all fold, cut and stem text with these
functions, so a word matches the same way everywhere. Written for English, Italian, Spanish and Polish (and
any language written with spaces between words):

- ``fold`` keeps the text's length, so an offset found in folded text is an offset in the original;
- Polish ``ł`` has no Unicode decomposition and is mapped by hand, Spanish ``ñ`` folds to ``n``;
- typographic apostrophes fold to ``'``, so Italian elisions ("dell’ordine") read like "dell'ordine".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from functools import cache

__all__ = [
    "STEM_LENGTH",
    "compile_folded",
    "elision_parts",
    "fold",
    "fold_pattern",
    "is_question",
    "normalized",
    "sentence_around",
    "sentence_spans",
    "stem",
    "stems",
    "words",
]

# Characters that do not decompose (or decompose to more than one character), folded by hand to one character.
_SPECIAL = {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ß": "s", "’": "'", "‘": "'", "ʼ": "'"}
# A prefix this long stands for a word's stem: "restart", "restarted" and "restarting" share "resta".
STEM_LENGTH = 5
# A word, with its inner apostrophes: "don't", "dell'ordine"; with ``pauses``, the punctuation inside a sentence too.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_WORD_OR_PAUSE = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[,;:]")
# A sentence ends at its punctuation, after any closing markup or quote, when a space or the end follows
# ("2.5 hours" and "lumora.com" stay whole), or at a line break.
_SENTENCE_END = re.compile(r"""[.!?…]+[*_)\]"'”»]*(?=\s|$)|\n""")
_SENTENCE_END_OR_SEMICOLON = re.compile(r"""[.!?…;]+[*_)\]"'”»]*(?=\s|$)|\n""")


@cache
def _fold_char(char: str) -> str:
    special = _SPECIAL.get(char)
    if special is not None:
        return special
    lower = char.lower()
    if len(lower) != 1:  # "İ".lower() is two characters
        lower = char
    decomposed = unicodedata.normalize("NFD", lower)
    base = decomposed[0] if decomposed else lower
    return base.lower() if len(base.lower()) == 1 else base


def fold(text: str) -> str:
    """``text`` in lower case without accents, one character for one: offsets in the result are offsets in ``text``."""
    return "".join(_fold_char(c) for c in text)


def fold_pattern(pattern: str) -> str:
    """A bank regex rewritten to match folded text: its letters folded, its escapes and classes kept.

    Only accented letters change (``ó`` → ``o``); case is left alone, since ``\\W``, ``\\S`` and ``\\B`` must keep
    their capitals: compile the result with ``re.IGNORECASE``.
    """
    return "".join(c if c.isascii() else _fold_char(c) for c in pattern)


def compile_folded(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Bank regexes compiled to match folded text (see ``fold``): accents taken off the patterns, case ignored."""
    return tuple(re.compile(fold_pattern(p), re.IGNORECASE) for p in patterns)


def words(text: str, *, pauses: bool = False) -> list[str]:
    """The folded words of ``text`` (inner apostrophes kept: "don't", "dell'ordine").

    With ``pauses``, the commas, semicolons and colons are tokens too: a negation does not reach past them.
    """
    return (_WORD_OR_PAUSE if pauses else _WORD).findall(fold(text))


def elision_parts(word: str) -> list[str]:
    """The parts of a folded word around its apostrophes: "dell'ordine" → dell, ordine; "customer's" → customer, s."""
    return [part for part in word.split("'") if part]


def stem(word: str, length: int = STEM_LENGTH) -> str:
    """A prefix stemmer, good enough to match a word's forms across the four languages' inflections."""
    return word[:length]


def normalized(text: str, *, limit: int = 500) -> str:
    """``text`` folded, as its words joined by single spaces: a key under which the same question groups."""
    return " ".join(_WORD.findall(fold(text)))[:limit]


def sentence_spans(text: str, *, semicolons: bool = False) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence (or line) of ``text``, surrounding spaces excluded.

    With ``semicolons``, a semicolon ends a sentence too (the tone check judges each part on its own).
    """
    ends = _SENTENCE_END_OR_SEMICOLON if semicolons else _SENTENCE_END
    spans: list[tuple[int, int]] = []
    start = 0
    for m in ends.finditer(text):
        spans.extend(_trimmed(text, start, m.end()))
        start = m.end()
    spans.extend(_trimmed(text, start, len(text)))
    return spans


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def is_question(sentence: str) -> bool:
    """Whether ``sentence`` asks ("…?", or Spanish "¿…"), closing quotes and markup aside."""
    stripped = sentence.strip().rstrip("*_)]\"'”» ")
    return stripped.endswith("?") or stripped.lstrip("*_([\"'“«„ ").startswith("¿")


def stems(tokens: Iterable[str], ignored: frozenset[str] = frozenset(), *, min_length: int = 2) -> set[str]:
    """The stems of the content words among ``tokens`` (folded words): elisions split, numbers, words shorter than
    ``min_length`` and ``ignored`` words left out."""
    found: set[str] = set()
    for token in tokens:
        if token in ignored:
            continue
        for part in elision_parts(token):
            if len(part) >= min_length and not part.isdigit() and part not in ignored:
                found.add(stem(part))
    return found


def sentence_around(spans: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """From the sentence (one of ``spans``, see ``sentence_spans``) holding ``start`` to the one holding ``end``."""
    s0 = max((a for a, _ in spans if a <= start), default=start)
    s1 = min((b for _, b in spans if b >= end), default=end)
    return min(s0, start), max(s1, end)
