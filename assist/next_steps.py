"""Next troubleshooting steps and self-service articles, drawn deterministically from retrieved passages.

The planner takes the best procedure (``assist.procedures``), drops the steps the conversation already did
(``assist.done_steps``), and lets the contact level decide how many remain and what frames them (the article to
send for no-touch, the VIP commitment for high-touch). Localized text comes from ``prompts/banks/steps/<lang>.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from assist.done_steps import DoneModel, DoneSteps, Echoes, Lexicon, lexicon, weighed_done
from assist.language import detect_language
from assist.models import Article, ContactLevel, Conversation, DoneStep, NextStep, Passage
from assist.ports import QueryEmbedder
from assist.procedures import Step, cite, is_question_sentence, markdown_sentences, merge, plain, procedures, quote
from assist.text import words
from prompts import FALLBACK_LANGUAGE, bank_languages, load_bank

__all__ = ["LEVEL_LIMITS", "Plan", "pick_articles", "plan", "plan_next_steps"]

BANK = "steps"
# Procedure steps shown per level; no-touch adds the article to send on top of them, high-touch the VIP commitment.
# No-touch kept 2 until session 18: a no-touch case that reaches an agent still needs the procedure's next steps,
# and with 2 the third was missing in a third of the steps set's development conversations (recall of the next
# steps 0.587 -> 0.656, none more already done; docs/evaluation.md, "Next steps", session 18).
LEVEL_LIMITS: dict[ContactLevel, int] = {"no_touch": 3, "low_touch": 3, "high_touch": 8}
FALLBACK_STEPS = 2
SELF_SERVICE_KINDS = frozenset({"faq", "procedure"})
MIN_STATEMENT_TOKENS = 3

Span = tuple[int, int]


# --- planning -------------------------------------------------------------------------------------------


def _topic(passage: Passage) -> str:
    return passage.topic or passage.document_id


def _ranked(passages: Sequence[Passage], *, prefer: str = "") -> list[Passage]:
    """Topics in the order of their best passage; within a topic, its version in ``prefer`` first."""
    by_score = sorted(passages, key=lambda p: -p.score)
    rank: dict[str, int] = {}
    for passage in by_score:
        rank.setdefault(_topic(passage), len(rank))
    return sorted(by_score, key=lambda p: (rank[_topic(p)], p.language.lower() != prefer))


def _article_passages(ranked: Sequence[Passage]) -> list[Passage]:
    """The best passage of each topic, topics in relevance order (``ranked`` puts the wanted version first)."""
    best: dict[str, Passage] = {}
    for passage in ranked:
        best.setdefault(_topic(passage), passage)
    return list(best.values())


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
    articles: list[Passage]
    conversation: Conversation
    language: str
    lexicon: Lexicon
    done: DoneSteps
    echoes: Echoes | None = None
    languages: dict[int, str] = field(default_factory=dict)
    found_done: list[tuple[Step, str]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        passages: Sequence[Passage],
        conversation: Conversation,
        *,
        language: str,
        steps_language: str,
        embedder: QueryEmbedder | None = None,
    ) -> _Planner:
        available = set(bank_languages(BANK))
        wanted = {language, steps_language, *(p.language.lower() for p in passages)} & available
        merged = lexicon(frozenset(wanted or {FALLBACK_LANGUAGE}))
        ranked = _ranked(passages, prefer=steps_language)
        articles = _ranked(passages, prefer=language)
        echoes = Echoes.of(conversation, embedder) if embedder is not None else None
        return cls(ranked, articles, conversation, language, merged, DoneSteps.of(conversation, merged), echoes)

    def language_of(self, passage: Passage) -> str:
        if id(passage) not in self.languages:
            known = passage.language.lower()
            self.languages[id(passage)] = known or detect_language(passage.text, default=self.language)
        return self.languages[id(passage)]

    def remaining(self, steps: Iterable[Step]) -> list[Step]:
        steps = list(steps)
        texts = [step.text for step in steps]
        model = DoneModel.bundled()
        if self.echoes is not None and model is not None:
            # The rules' words, the echoes and the steps' order weighed together (``DoneModel``).
            weighed = weighed_done(texts, self.done, self.echoes, model)
        else:
            echoed = self.echoes.done(texts) if self.echoes is not None else {}
            weighed = {i: r for i, t in enumerate(texts) if (r := self.done.reason(t) or echoed.get(i)) is not None}
        left: list[Step] = []
        for index, step in enumerate(steps):
            reason = weighed.get(index)
            if reason is None:
                left.append(step)
            elif all(step.key() != seen.key() for seen, _ in self.found_done):
                self.found_done.append((step, self.label(*reason, language=step.language)))
        return left

    def label(self, key: str, value: str, *, language: str) -> str:
        """Why a step is done, in the agent's words: "order number given: LM-5520318"."""
        bank = load_bank(BANK, language if language in bank_languages(BANK) else self.language)
        text: str = bank["done_labels"][key].format(value=value)
        return text.removesuffix(": ").strip()

    def procedure_steps(self) -> list[Step] | None:
        """The steps still to do of the best procedure with any left; ``None`` when no passage has a list."""
        candidates = procedures(self.ranked)
        if not candidates:
            return None
        tried: set[str] = set()
        for chunks in candidates:
            topic = _topic(chunks[0].passage)
            if topic in tried:  # another language's version of a procedure already read
                continue
            tried.add(topic)
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

    def article_step(self, steps: Sequence[Step]) -> Step | None:
        """The step "send the customer the article «…»", in the conversation's language, citing the article: the
        topic the ``steps`` come from, only when the customer can read it; with no steps, the best readable article,
        self-service content (an FAQ or a procedure) before a policy."""
        sendable = [p for p in _article_passages(self.articles) if _sendable(p, self.language)]
        if not sendable:
            return None
        topics = {_topic(p) for p in self.ranked for step in steps for c in step.citations if c.chunk_id == p.chunk_id}
        if topics:
            # The article of the steps' topic, or none: another topic's article would send the customer elsewhere.
            sendable = [p for p in sendable if _topic(p) in topics]
            if not sendable:
                return None
        passage = min(sendable, key=lambda p: p.kind not in SELF_SERVICE_KINDS)
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


@dataclass(frozen=True)
class Plan:
    """The next steps, and the procedure steps left out because the conversation already did them."""

    steps: list[NextStep]
    done: list[DoneStep]


def plan(
    passages: Sequence[Passage],
    conversation: Conversation,
    *,
    language: str,
    level: ContactLevel,
    max_steps: int | None = None,
    steps_language: str | None = None,
    embedder: QueryEmbedder | None = None,
) -> Plan:
    """The next steps for the agent, each citing the passage it comes from, shaped by the contact level.

    Steps come from the best numbered procedure (the top topic first, in its version in ``steps_language`` when
    one was retrieved, else the customer's ``language``; its chunks merged in order), minus those the
    conversation already did; without any numbered list, from the first sentences of the best passages.
    no_touch opens with "send the article" (only an article in the customer's language) and keeps 3 procedure
    steps after it, low_touch keeps 3, high_touch keeps 8 and closes with the VIP policy's commitment when one was
    retrieved.
    ``max_steps`` replaces the level's limit and then bounds the whole list. A step keeps its passage's
    language (``translated=False``); translating it is left to the caller. With an ``embedder``, a step that a
    sentence of the conversation already says in other words or another language is done too (``Echoes``).
    """
    if not passages:
        return Plan([], [])
    customer = language.lower()
    planner = _Planner.build(
        passages,
        conversation,
        language=customer,
        steps_language=(steps_language or customer).lower(),
        embedder=embedder,
    )
    tail = [step for step in [planner.commitment_step()] if step] if level == "high_touch" else []
    body = planner.procedure_steps()
    head = [step for step in [planner.article_step(body or [])] if step] if level == "no_touch" else []
    if body is None:
        framed = {citation.document_id for step in head + tail for citation in step.citations}
        body = planner.sentence_steps(skip_documents=framed)
    # The level's limit counts procedure steps: the article to send (no-touch) and the VIP commitment (high-touch)
    # frame them on top.
    limit = LEVEL_LIMITS[level] + len(head) + len(tail) if max_steps is None else max_steps
    steps = [step.to_next_step() for step in _assemble(head, body, tail, limit=limit)]
    done = [
        DoneStep(text=step.text, reason=reason, citations=step.citations, language=step.language)
        for step, reason in planner.found_done
    ]
    return Plan(steps, done)


def plan_next_steps(
    passages: Sequence[Passage],
    conversation: Conversation,
    *,
    language: str,
    level: ContactLevel,
    max_steps: int | None = None,
) -> list[NextStep]:
    """The steps of :func:`plan` alone."""
    return plan(passages, conversation, language=language, level=level, max_steps=max_steps).steps


def _sendable(passage: Passage, language: str) -> bool:
    """Whether the customer can read the article: written in their language (or of unknown language)."""
    return not passage.language or passage.language.lower() == language.lower()


def pick_articles(passages: Sequence[Passage], *, language: str = "", limit: int = 3) -> list[Article]:
    """The best article of each topic to point the customer to, in relevance order.

    Each topic is given in its version in the customer's ``language`` when one was retrieved. An article with no
    such version is listed for the agent with its language noted ("article in Polish; no Italian version") and
    ``sendable`` false, never as one to send. ``score`` is the passage's relevance.
    """
    chosen = _article_passages(_ranked(passages, prefer=language.lower()))[: max(limit, 0)]
    return [_article(p, language.lower()) for p in chosen]


def _article(passage: Passage, language: str) -> Article:
    sendable = not language or _sendable(passage, language)
    note = ""
    if not sendable:
        bank = load_bank(BANK, language if language in bank_languages(BANK) else FALLBACK_LANGUAGE)
        names = bank["language_names"]
        article = names.get(passage.language.lower(), passage.language)
        note = bank["other_language"].format(article=article, customer=names.get(language, language))
    return Article(
        document_id=passage.document_id,
        chunk_id=passage.chunk_id,
        title=passage.title,
        score=passage.relevance,
        language=passage.language,
        source=passage.source,
        sendable=sendable,
        note=note,
    )
