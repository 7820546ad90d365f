"""Checks that what an LLM wrote rests on what it was given.

A proposed next step is kept only when every passage it cites was retrieved for this call, every number it
states is in the cited passages or the conversation, and the cited text supports it: word overlap with the
passage when both are in the same language, and, when an embedding function is given, cosine similarity with
the cited text (the only check that works across languages, so without embeddings a translated step cannot be
verified and is dropped). A tone rewrite is kept only when it keeps every fact of the draft and adds none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from assist.models import Citation, NextStep, Passage
from assist.text import fold, sentence_spans, stems, words
from prompts import load_bank

__all__ = [
    "Embed",
    "GroundedSteps",
    "Grounding",
    "ProposedStep",
    "facts",
    "ground_steps",
    "lexical_overlap",
    "lost_facts",
    "numbers",
]

Embed = Callable[[list[str]], list[list[float]]]

MIN_TOKEN = 3
QUOTE_CHARS = 300
MAX_SENTENCES = 16

_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*")
_LIST_ITEM = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+", re.MULTILINE)
_MARKUP = re.compile(r"^[\s#>*+-]*(?:\d{1,3}[.)]\s+)?")
_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CODE = re.compile(r"(?<!\w)#?[A-Za-z]*\d(?:[\w/-]|[.,:]\d)*")
_TRAILING = ".,;:!?)»”'\""


@dataclass(frozen=True)
class Grounding:
    """Thresholds of the support check."""

    lexical_min: float = 0.3
    # Cosine similarity (language-neutral e5) of a step with its best cited sentence. Across languages it is
    # the only evidence, so the bar is high (translations measured 0.92-0.96, unrelated pairs 0.83-0.90);
    # within a language the words already agree and the embedding only has to not disagree.
    semantic_min: float = 0.91
    semantic_floor: float = 0.8
    quote_min: float = 0.6


@dataclass(frozen=True)
class ProposedStep:
    """A step as the LLM proposed it (placeholders already restored): its text and ``(passage ref, quote)`` pairs."""

    text: str
    citations: tuple[tuple[str, str], ...]


@dataclass
class GroundedSteps:
    steps: list[NextStep]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def dropped_count(self) -> int:
        return sum(self.dropped.values())

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


@dataclass
class _Evidence:
    passage: Passage
    quote: str  # the passage's own sentence that the LLM's quote (or the step) matches best
    verified: bool  # whether the LLM's quote really is in the passage
    sentences: tuple[str, ...]

    def texts(self) -> tuple[str, ...]:
        """What the embedding compares the step with: the quote once verified, else every sentence."""
        return (self.quote,) if self.verified else self.sentences


@dataclass(frozen=True)
class _Candidate:
    text: str
    cited: list[_Evidence]
    crosslingual: bool  # no cited passage in the step's language: words cannot be compared


def ground_steps(
    proposed: Sequence[ProposedStep],
    passages: Mapping[str, Passage],
    *,
    language: str,
    context: str = "",
    embed: Embed | None = None,
    config: Grounding = Grounding(),
) -> GroundedSteps:
    """The proposed steps the cited passages support, as ``NextStep``s, and the count of drops per reason.

    ``passages`` maps the reference the prompt gave each passage (``P1``…) to the passage; ``context`` is the
    conversation, whose numbers (order ids, amounts) a step may repeat.
    """
    result = GroundedSteps(steps=[])
    candidates: list[_Candidate] = []
    for step in proposed:
        text = _MARKUP.sub("", step.text).strip()
        reason, cited = _check_citations(text, step.citations, passages, config=config)
        if reason is None:
            reason = _check_numbers(text, [e.passage for e in cited], context=context)
        if reason is None:
            reason = _check_words(text, cited, language=language, config=config, verify=embed is None)
        if reason is None:
            crosslingual = all(e.passage.language and e.passage.language != language for e in cited)
            candidates.append(_Candidate(text, cited, crosslingual))
        else:
            result.drop(reason)
    similarities = _similarities(candidates, embed) if embed is not None else [1.0] * len(candidates)
    for candidate, similarity in zip(candidates, similarities, strict=True):
        if similarity < (config.semantic_min if candidate.crosslingual else config.semantic_floor):
            result.drop("unsupported")
        else:
            result.steps.append(_next_step(candidate, language=language))
    return result


def lexical_overlap(claim: str, evidence: str, *, languages: Iterable[str] = ("en",)) -> float:
    """Share of the claim's content stems (stop words left out) found among the evidence's stems."""
    ignored = _ignored(tuple(sorted(set(languages))))
    wanted = _stems(claim, ignored)
    if not wanted:
        return 0.0
    return len(wanted & _stems(evidence, ignored)) / len(wanted)


def numbers(text: str) -> set[str]:
    """The numbers in ``text``, normalised (``5,5`` and ``5.5`` are the same number)."""
    return {m[0].replace(",", ".").rstrip(".") for m in _NUMBER.finditer(text)}


def facts(text: str) -> set[str]:
    """What a rewrite must keep: numbers, amounts, dates, order ids, URLs and emails, as written."""
    found = {m[0].rstrip(_TRAILING) for m in _URL.finditer(text)}
    found |= {m[0].rstrip(_TRAILING) for m in _EMAIL.finditer(text)}
    rest = _EMAIL.sub(" ", _URL.sub(" ", text))
    found |= {m[0].rstrip(_TRAILING) for m in _CODE.finditer(rest)}
    return {f for f in found if f}


def lost_facts(original: str, rewrite: str, *, names: Iterable[str | None] = ()) -> list[str]:
    """Facts of ``original`` missing from ``rewrite``, and facts the rewrite made up (prefixed ``+``)."""
    kept, made = facts(original), facts(rewrite)
    missing = sorted(f for f in kept if f not in rewrite)
    folded, rewritten = fold(original), fold(rewrite)
    missing += sorted(n for n in filter(None, names) if fold(n) in folded and fold(n) not in rewritten)
    invented = sorted(f"+{f}" for f in made - kept)
    return missing + invented


# --- checks ------------------------------------------------------------------------------------------


def _check_citations(
    text: str, citations: Sequence[tuple[str, str]], passages: Mapping[str, Passage], *, config: Grounding
) -> tuple[str | None, list[_Evidence]]:
    if not text:
        return "empty", []
    if not citations:
        return "uncited", []
    cited: list[_Evidence] = []
    for ref, quote in citations:
        passage = passages.get(ref.strip())
        if passage is None:
            return "unknown_citation", []
        if all(e.passage is not passage for e in cited):
            cited.append(_evidence(passage, quote, text, config=config))
    return None, cited


def _check_numbers(text: str, cited: Sequence[Passage], *, context: str) -> str | None:
    # A list's own numbering ("2. Create the label") says nothing: only the numbers of its sentences count.
    allowed = numbers(context) | {n for p in cited for n in numbers(_LIST_ITEM.sub("", f"{p.title}\n{p.text}"))}
    return None if numbers(text) <= allowed else "unsupported_number"


def _check_words(
    text: str, cited: Sequence[_Evidence], *, language: str, config: Grounding, verify: bool
) -> str | None:
    """Word overlap with the cited passages in the step's language; across languages only embeddings can tell."""
    same = [e.passage for e in cited if not e.passage.language or e.passage.language == language]
    if not same:
        return "unverifiable" if verify else None
    evidence = "\n".join(f"{p.title}\n{p.text}" for p in same)
    return None if lexical_overlap(text, evidence, languages=(language,)) >= config.lexical_min else "unsupported"


def _similarities(candidates: Sequence[_Candidate], embed: Embed) -> list[float]:
    """For each step, its best cosine similarity with a sentence it cites; an unverified quote becomes that sentence."""
    if not candidates:
        return []
    texts = sorted({t for c in candidates for e in c.cited for t in e.texts()})
    vectors = embed([c.text for c in candidates] + texts)
    by_text = dict(zip(texts, vectors[len(candidates) :], strict=True))
    scores = []
    for i, candidate in enumerate(candidates):
        score, evidence, sentence = max(
            ((_cosine(vectors[i], by_text[t]), e, t) for e in candidate.cited for t in e.texts()),
            key=lambda found: found[0],
        )
        if not evidence.verified:
            evidence.quote = sentence[:QUOTE_CHARS]
        scores.append(score)
    return scores


def _next_step(candidate: _Candidate, *, language: str) -> NextStep:
    citations = [
        Citation(
            document_id=e.passage.document_id,
            chunk_id=e.passage.chunk_id,
            title=e.passage.title,
            quote=e.quote,
            language=e.passage.language,
            section=e.passage.section,
            source=e.passage.source,
            indexed_at=e.passage.indexed_at,
            context=e.passage.text,
        )
        for e in candidate.cited
    ]
    translated = any(e.passage.language and e.passage.language != language for e in candidate.cited)
    return NextStep(text=candidate.text, citations=citations, language=language, translated=translated, engine="llm")


def _evidence(passage: Passage, quote: str, step: str, *, config: Grounding) -> _Evidence:
    """The passage's own sentence that best matches the LLM's quote: citations always quote the knowledge base."""
    found = [_MARKUP.sub("", passage.text[a:b]).strip() for a, b in sentence_spans(passage.text)]
    sentences = tuple(s for s in found if len(words(s)) >= 2)[:MAX_SENTENCES] or (passage.text.strip(),)
    langs = (passage.language or "en",)
    if quote.strip():
        best = max(sentences, key=lambda s: lexical_overlap(quote, s, languages=langs))
        if lexical_overlap(quote, best, languages=langs) >= config.quote_min:
            return _Evidence(passage, best[:QUOTE_CHARS], True, sentences)
    best = max(sentences, key=lambda s: lexical_overlap(step, s, languages=langs))
    return _Evidence(passage, best[:QUOTE_CHARS], False, sentences)


# --- text --------------------------------------------------------------------------------------------


def _stems(text: str, ignored: frozenset[str]) -> set[str]:
    return stems(words(text), ignored, min_length=MIN_TOKEN)


@cache
def _ignored(languages: tuple[str, ...]) -> frozenset[str]:
    ignored: set[str] = set()
    for language in languages:
        bank = load_bank("steps", language)
        ignored |= {fold(w) for w in [*bank.get("stopwords", []), *bank.get("procedure_words", [])]}
    return frozenset(ignored)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
