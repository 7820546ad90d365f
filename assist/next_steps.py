"""Next troubleshooting steps and self-service articles, drawn deterministically from retrieved passages.

The planner takes the best procedure (``assist.procedures``), drops the steps the conversation already did
(``assist.done_steps``), and lets the contact level decide how many remain and what frames them (the article to
send for no-touch, the VIP commitment for high-touch). Localized text comes from ``prompts/banks/steps/<lang>.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from assist.done_steps import DoneSteps, Lexicon, lexicon
from assist.language import detect_language
from assist.models import Article, ContactLevel, Conversation, NextStep, Passage
from assist.procedures import Step, cite, is_question_sentence, markdown_sentences, merge, plain, procedures, quote
from assist.text import words
from prompts import FALLBACK_LANGUAGE, bank_languages, load_bank

__all__ = ["LEVEL_LIMITS", "pick_articles", "plan_next_steps"]

BANK = "steps"
# Steps shown per level; high-touch adds the VIP commitment on top of its procedure steps.
LEVEL_LIMITS: dict[ContactLevel, int] = {"no_touch": 2, "low_touch": 3, "high_touch": 8}
SELF_SERVICE_KINDS = frozenset({"faq", "procedure"})
FALLBACK_STEPS = 2
MIN_STATEMENT_TOKENS = 3

Span = tuple[int, int]


# --- planning -------------------------------------------------------------------------------------------


def _ranked(passages: Sequence[Passage]) -> list[Passage]:
    return sorted(passages, key=lambda p: -p.score)


def _article_passages(ranked: Sequence[Passage], *, level: ContactLevel) -> list[Passage]:
    best: dict[str, Passage] = {}
    for passage in ranked:
        best.setdefault(passage.document_id, passage)
    chosen = list(best.values())
    if level == "no_touch":
        chosen.sort(key=lambda p: p.kind not in SELF_SERVICE_KINDS)
    return chosen


def _first_span(text: str, *, statements_only: bool = False) -> Span | None:
    """The first sentence of ``text``; with ``statements_only``, the first of a few words that is not a question."""
    for start, end in markdown_sentences(text):
        sentence = text[start:end]
        if not statements_only:
            return start, end
        if not is_question_sentence(sentence) and len(words(sentence, pauses=True)) >= MIN_STATEMENT_TOKENS:
            return start, end
    return None


@dataclass
class _Planner:
    ranked: list[Passage]
    conversation: Conversation
    language: str
    lexicon: Lexicon
    done: DoneSteps
    languages: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, passages: Sequence[Passage], conversation: Conversation, *, language: str) -> _Planner:
        available = set(bank_languages(BANK))
        wanted = {language, *(p.language.lower() for p in passages)} & available
        merged = lexicon(frozenset(wanted or {FALLBACK_LANGUAGE}))
        return cls(_ranked(passages), conversation, language, merged, DoneSteps.of(conversation, merged))

    def language_of(self, passage: Passage) -> str:
        if id(passage) not in self.languages:
            known = passage.language.lower()
            self.languages[id(passage)] = known or detect_language(passage.text, default=self.language)
        return self.languages[id(passage)]

    def remaining(self, steps: Iterable[Step]) -> list[Step]:
        return [step for step in steps if not self.done.includes(step.text)]

    def procedure_steps(self) -> list[Step] | None:
        """The steps still to do of the best procedure with any left; ``None`` when no passage has a list."""
        candidates = procedures(self.ranked)
        if not candidates:
            return None
        for chunks in candidates:
            steps = self.remaining(merge(chunks, self.language_of))
            if steps:
                return steps
        return []

    def sentence_steps(self, *, skip_documents: set[str]) -> list[Step]:
        """One step per document from the first statement of the best passages, when none has a list."""
        steps: list[Step] = []
        seen = set(skip_documents)
        for passage in self.ranked:
            span = _first_span(passage.text, statements_only=True)
            if passage.document_id in seen or span is None:
                continue
            seen.add(passage.document_id)
            text = plain(passage.text[span[0] : span[1]])
            steps.extend(self.remaining([Step(text, self.language_of(passage), [cite(passage, span)])]))
            if len(steps) == FALLBACK_STEPS:
                break
        return steps

    def article_step(self) -> Step | None:
        """The step "send the customer the article «…»", in the conversation's language, citing the article."""
        articles = _article_passages(self.ranked, level="no_touch")
        if not articles:
            return None
        passage = articles[0]
        language = self.language if self.language in bank_languages(BANK) else FALLBACK_LANGUAGE
        text = load_bank(BANK, language)["send_article"].format(title=passage.title)
        start = len(passage.text) - len(passage.text.lstrip())
        span = _first_span(passage.text) or (start, len(passage.text.rstrip()))
        return Step(text, language, [cite(passage, span)])

    def commitment_step(self) -> Step | None:
        """The first commitment of the VIP policy relevant to the conversation, else its first commitment.

        Every retrieved chunk of a VIP document is searched, policies first: the chunk that ranks highest may
        say who the customer is rather than what we promise them.
        """
        documents = sorted(self.ranked, key=lambda p: p.kind != "policy")
        statements = [(p, span) for p in documents for span in self.vip_statements(p)]
        if not statements:
            return None
        commitments = [(p, span) for p, span in statements if self.commits(quote(p, span))] or statements[:1]
        said = self.stems(" ".join(self.conversation.customer_texts()))
        policy, span = next((c for c in commitments if said & self.stems(quote(*c))), commitments[0])
        return Step(plain(quote(policy, span)), self.language_of(policy), [cite(policy, span)])

    def vip_statements(self, passage: Passage) -> list[Span]:
        """Statements of a VIP document: all of them when its title says so (a Prestige policy, whatever its
        kind), only those naming the VIP service when it is a general policy with a VIP clause."""
        spans = [s for s in markdown_sentences(passage.text) if not is_question_sentence(quote(passage, s))]
        if self.mentions_vip(passage.title):
            return spans
        if passage.kind != "policy":
            return []
        return [span for span in spans if self.mentions_vip(quote(passage, span))]

    def stems(self, text: str) -> set[str]:
        return self.lexicon.stems(text)

    def mentions_vip(self, text: str) -> bool:
        return any(token.startswith(keyword) for token in words(text) for keyword in self.lexicon.vip_keywords)

    def commits(self, sentence: str) -> bool:
        return any(t.startswith(marker) for t in words(sentence) for marker in self.lexicon.commitment_markers)


def _assemble(head: list[Step], body: list[Step], tail: list[Step], *, limit: int) -> list[Step]:
    """``head`` first and ``tail`` last, ``body`` in between, ``limit`` in all; the tail needs room for a body step."""
    if limit <= 0:
        return []
    head = head[:limit]
    room = limit - len(head)
    keys = {step.key() for step in body}
    tail = [step for step in tail if step.key() not in keys]
    tail = tail[:1] if room >= 2 or (room >= 1 and not body) else []
    return head + body[: room - len(tail)] + tail


def plan_next_steps(
    passages: Sequence[Passage],
    conversation: Conversation,
    *,
    language: str,
    level: ContactLevel,
    max_steps: int | None = None,
) -> list[NextStep]:
    """The next steps for the agent, each citing the passage it comes from, shaped by the contact level.

    Steps come from the best numbered procedure (the top passage's document first, its chunks merged in
    order), minus those the customer or the agent says were already done; without any numbered list, from
    the first sentences of the best passages. no_touch opens with "send the article" and keeps 2 steps,
    low_touch keeps 3, high_touch keeps 8 and closes with the VIP policy's commitment when one was retrieved.
    ``max_steps`` replaces the level's limit and then bounds the whole list. A step keeps its passage's
    language (``translated=False``); translating it is left to the caller.
    """
    if not passages:
        return []
    planner = _Planner.build(passages, conversation, language=language.lower())
    head = [step for step in [planner.article_step()] if step] if level == "no_touch" else []
    tail = [step for step in [planner.commitment_step()] if step] if level == "high_touch" else []
    body = planner.procedure_steps()
    if body is None:
        framed = {citation.document_id for step in head + tail for citation in step.citations}
        body = planner.sentence_steps(skip_documents=framed)
    limit = LEVEL_LIMITS[level] + len(tail) if max_steps is None else max_steps
    return [step.to_next_step() for step in _assemble(head, body, tail, limit=limit)]


def pick_articles(passages: Sequence[Passage], *, level: ContactLevel, limit: int = 3) -> list[Article]:
    """The best distinct documents to point the customer to, FAQs and procedures first for no_touch.

    One entry per document (its best passage); ``score`` is that passage's relevance.
    """
    return [
        Article(
            document_id=p.document_id,
            chunk_id=p.chunk_id,
            title=p.title,
            score=p.relevance,
            language=p.language,
            source=p.source,
        )
        for p in _article_passages(_ranked(passages), level=level)[: max(limit, 0)]
    ]
