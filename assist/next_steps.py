"""Next troubleshooting steps and self-service articles, drawn deterministically from retrieved passages.

A procedure is a numbered Markdown list in the knowledge base, possibly split over consecutive chunks of one
document. Steps the conversation shows were already done are skipped; the contact level decides how many
remain and what frames them (the article to send for no-touch, the VIP commitment for high-touch). Words,
markers and localized text come from ``prompts/banks/steps/<lang>.toml``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from assist.language import detect_language
from assist.models import Article, Citation, ContactLevel, Conversation, NextStep, Passage
from prompts import FALLBACK_LANGUAGE, bank_languages, load_bank

__all__ = ["LEVEL_LIMITS", "pick_articles", "plan_next_steps"]

BANK = "steps"
# Steps shown per level; high-touch adds the VIP commitment on top of its procedure steps.
LEVEL_LIMITS: dict[ContactLevel, int] = {"no_touch": 2, "low_touch": 3, "high_touch": 8}
SELF_SERVICE_KINDS = frozenset({"faq", "procedure"})
FALLBACK_STEPS = 2
STEM_LENGTH = 5
DONE_SHARED_STEMS = 2
DONE_SHARED_RATIO = 0.6
# How far a negation may sit from a done marker and still cancel it ("haven't tried", "ya no").
NEGATION_BEFORE = 3
NEGATION_AFTER = 1
MIN_STATEMENT_TOKENS = 3

Phrase = tuple[str, ...]
Span = tuple[int, int]

_ITEM = re.compile(r"[ \t]*(\d{1,3})[.)][ \t]+(?=\S)")
_HEADING = re.compile(r"[ \t]*#{1,6}(?:[ \t]|$)")
_LINE_MARKER = re.compile(r"[ \t]*(?:[-*+>]|\d{1,3}[.)])[ \t]+")
_LINE_MARKUP = re.compile(r"^[ \t]*(?:#{1,6}|[-*+>]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
# A sentence ends at its punctuation, after any closing markup or quote ("**Within 2 hours.** Then…").
_SENTENCE = re.compile(r"""\S.*?(?:[.!?…]+[*_)\]"'”»]*(?=\s)|$)""")
_TOKEN = re.compile(r"[\w']+|[,;:]")
_PUNCTUATION = frozenset(",;:")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_CODE = re.compile(r"`+([^`]*)`+")
_MD_STARS = re.compile(r"(\*{1,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_UNDERSCORES = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)")
_MD_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_FOLD = str.maketrans({"ł": "l", "Ł": "l", "’": "'", "‘": "'", "ß": "ss", "ø": "o", "đ": "d"})


# --- text -----------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents, for matching only (``ł`` has no decomposition, so it is mapped by hand)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    return [token for raw in _TOKEN.findall(_fold(text)) if (token := raw.strip("'"))]


def _plain(markdown: str) -> str:
    """``markdown`` as plain text on one line: list markers, headings, emphasis, links and tags removed."""
    text = " ".join(_LINE_MARKUP.sub("", markdown).split())
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_CODE.sub(r"\1", text)
    text = _MD_STARS.sub(r"\2", text)
    text = _MD_UNDERSCORES.sub(r"\2", text)
    return " ".join(_MD_TAG.sub(" ", text).split())


def _lines(text: str) -> list[tuple[int, str]]:
    """Each line of ``text`` with its offset, without its line break."""
    lines: list[tuple[int, str]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        lines.append((offset, line.rstrip("\r\n")))
        offset += len(line)
    return lines


def _sentence_spans(text: str) -> list[Span]:
    """Spans of the sentences of ``text`` (headings skipped, list markers left out of the span)."""
    spans: list[Span] = []
    for offset, line in _lines(text):
        if not line.strip() or _HEADING.match(line):
            continue
        marker = _LINE_MARKER.match(line)
        base = offset + (marker.end() if marker else 0)
        content = text[base : offset + len(line.rstrip())]
        spans.extend((base + m.start(), base + m.end()) for m in _SENTENCE.finditer(content))
    return spans


def _is_question(sentence: str) -> bool:
    plain = _plain(sentence)
    return plain.endswith("?") or plain.startswith("¿")


def _natural_key(value: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key reading digit runs as numbers, so ``chunk-10`` comes after ``chunk-9``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", value) if part)


# --- numbered lists -------------------------------------------------------------------------------------


@dataclass
class _Item:
    """A numbered item of a passage: its number and the span of its text (continuation lines included)."""

    number: int
    start: int
    end: int


def _numbered_items(text: str) -> list[_Item]:
    items: list[_Item] = []
    current: _Item | None = None
    for offset, line in _lines(text):
        match = _ITEM.match(line)
        if match:
            current = _Item(int(match.group(1)), offset + match.end(), offset + len(line.rstrip()))
            items.append(current)
        elif current and line.strip() and not _HEADING.match(line):
            current.end = offset + len(line.rstrip())
        else:
            current = None
    return items


def _leading_fragment(text: str) -> Span | None:
    """The text a chunk opens with before any heading, blank line or item: an item's tail cut by the chunker."""
    start: int | None = None
    end = 0
    for offset, line in _lines(text):
        blank = not line.strip()
        if blank and start is None:
            continue
        if blank or _ITEM.match(line) or _HEADING.match(line):
            break
        if start is None:
            start = offset + len(line) - len(line.lstrip())
        end = offset + len(line.rstrip())
    return None if start is None else (start, end)


@dataclass(frozen=True)
class _Chunk:
    passage: Passage
    items: list[_Item]

    def reading_order(self) -> tuple[int, tuple[tuple[int, int | str], ...]]:
        return self.items[0].number, _natural_key(self.passage.chunk_id)

    def continues(self, other: _Chunk) -> bool:
        """Whether both chunks hold the same procedure: one document, one section (or an unknown one)."""
        mine, theirs = self.passage, other.passage
        same_section = mine.section == theirs.section or not mine.section or not theirs.section
        return mine.document_id == theirs.document_id and same_section


def _procedures(ranked: Sequence[Passage]) -> list[list[_Chunk]]:
    """Candidate procedures, best first (the top passage's document first), each as chunks in reading order."""
    chunks = [_Chunk(p, items) for p in ranked if (items := _numbered_items(p.text))]
    top_document = ranked[0].document_id
    chunks.sort(key=lambda chunk: chunk.passage.document_id != top_document)
    procedures: list[list[_Chunk]] = []
    taken: set[int] = set()
    for primary in chunks:
        if id(primary) in taken:
            continue
        group = [chunk for chunk in chunks if id(chunk) not in taken and chunk.continues(primary)]
        taken.update(id(chunk) for chunk in group)
        procedures.append(sorted(group, key=_Chunk.reading_order))
    return procedures


# --- steps ----------------------------------------------------------------------------------------------


@dataclass
class _Step:
    text: str
    language: str
    citations: list[Citation]
    number: int = 0

    def key(self) -> str:
        return " ".join(_tokens(self.text))

    def to_next_step(self) -> NextStep:
        return NextStep(text=self.text, citations=self.citations, language=self.language, translated=False)


def _quote(passage: Passage, span: Span) -> str:
    return passage.text[span[0] : span[1]]


def _cite(passage: Passage, span: Span) -> Citation:
    return Citation(
        document_id=passage.document_id,
        chunk_id=passage.chunk_id,
        title=passage.title,
        quote=_quote(passage, span),
        language=passage.language,
        section=passage.section,
        source=passage.source,
        indexed_at=passage.indexed_at,
    )


def _add_step(steps: list[_Step], step: _Step) -> None:
    """Append ``step`` unless already there; an item repeated by chunk overlap keeps its longest version."""
    key = step.key()
    for index, existing in enumerate(steps):
        old = existing.key()
        if old == key:
            return
        if existing.number == step.number and (key.startswith(old) or old.startswith(key)):
            if len(key) > len(old):
                steps[index] = step
            return
    steps.append(step)


def _attach_fragment(step: _Step, passage: Passage) -> None:
    """Join the tail of ``step`` that the chunker put at the top of the next chunk, citing both chunks."""
    span = _leading_fragment(passage.text)
    if span is None:
        return
    fragment = _plain(passage.text[span[0] : span[1]])
    if " ".join(_tokens(fragment)) in step.key():
        return
    step.text = f"{step.text} {fragment}"
    step.citations.append(_cite(passage, span))


# --- matching what was already done ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Lexicon:
    ignored: frozenset[str]
    done_markers: tuple[Phrase, ...]
    negations: frozenset[str]
    clause_breaks: tuple[Phrase, ...]
    vip_keywords: tuple[str, ...]
    commitment_markers: tuple[str, ...]


@cache
def _lexicon(languages: frozenset[str]) -> _Lexicon:
    """The banks of ``languages`` merged: a conversation and its passages may not share a language."""
    banks = [load_bank(BANK, language) for language in sorted(languages)]

    def words(key: str) -> frozenset[str]:
        return frozenset(word for bank in banks for entry in bank[key] for word in _tokens(entry))

    def phrases(key: str) -> tuple[Phrase, ...]:
        return tuple(sorted({tuple(_tokens(entry)) for bank in banks for entry in bank[key]} - {()}))

    markers, negations = phrases("done_markers"), words("negations")
    ignored = words("stopwords") | words("procedure_words") | negations | {w for m in markers for w in m}
    return _Lexicon(
        ignored=ignored,
        done_markers=markers,
        negations=negations,
        clause_breaks=phrases("clause_breaks"),
        vip_keywords=tuple(sorted(words("vip_keywords"))),
        commitment_markers=tuple(sorted(words("commitment_markers"))),
    )


def _stems(tokens: Iterable[str], lexicon: _Lexicon) -> set[str]:
    """Content words cut to their first letters: a stemmer good enough to match "restart" with "restarted"."""
    stems: set[str] = set()
    for token in tokens:
        if token in lexicon.ignored:
            continue
        for part in token.split("'"):  # elisions and possessives: "dell'ordine", "customer's"
            if len(part) >= 2 and not part.isdigit() and part not in lexicon.ignored:
                stems.add(part[:STEM_LENGTH])
    return stems


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
        if token in _PUNCTUATION:  # "No, I already did" answers a question; it does not negate
            break
        before.append(token)
    return any(token in negations for token in [*before, *tokens[end : end + NEGATION_AFTER]])


def _says_done(clause: list[str], lexicon: _Lexicon) -> bool:
    return any(
        _starts_with(clause, index, marker) and not _negated(clause, index, index + len(marker), lexicon.negations)
        for index in range(len(clause))
        for marker in lexicon.done_markers
    )


def _done_clauses(conversation: Conversation, lexicon: _Lexicon) -> list[set[str]]:
    """Content stems of each clause in which the customer or the agent says something was already done."""
    done: list[set[str]] = []
    for message in conversation.messages:
        if message.role not in ("customer", "agent"):
            continue
        for start, end in _sentence_spans(message.text):
            sentence = message.text[start:end]
            if _is_question(sentence):  # "Have you already restarted it?" asks, it does not tell
                continue
            clauses = _clauses(_tokens(sentence), lexicon.clause_breaks)
            done.extend(_stems(clause, lexicon) for clause in clauses if _says_done(clause, lexicon))
    return done


def _is_done(step: _Step, done: list[set[str]], lexicon: _Lexicon) -> bool:
    stems = _stems(_tokens(step.text), lexicon)
    for clause in done:
        shared = len(stems & clause)
        if shared and (shared >= DONE_SHARED_STEMS or shared >= DONE_SHARED_RATIO * len(stems)):
            return True
    return False


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
    for start, end in _sentence_spans(text):
        sentence = text[start:end]
        if not statements_only:
            return start, end
        if not _is_question(sentence) and len(_tokens(sentence)) >= MIN_STATEMENT_TOKENS:
            return start, end
    return None


@dataclass
class _Planner:
    ranked: list[Passage]
    conversation: Conversation
    language: str
    lexicon: _Lexicon
    done: list[set[str]]
    languages: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, passages: Sequence[Passage], conversation: Conversation, *, language: str) -> _Planner:
        available = set(bank_languages(BANK))
        wanted = {language, *(p.language.lower() for p in passages)} & available
        lexicon = _lexicon(frozenset(wanted or {FALLBACK_LANGUAGE}))
        return cls(_ranked(passages), conversation, language, lexicon, _done_clauses(conversation, lexicon))

    def language_of(self, passage: Passage) -> str:
        if id(passage) not in self.languages:
            known = passage.language.lower()
            self.languages[id(passage)] = known or detect_language(passage.text, default=self.language)
        return self.languages[id(passage)]

    def remaining(self, steps: Iterable[_Step]) -> list[_Step]:
        return [step for step in steps if not _is_done(step, self.done, self.lexicon)]

    def merge(self, chunks: list[_Chunk]) -> list[_Step]:
        """The numbered items of ``chunks`` in reading order, an item split between two chunks made whole."""
        steps: list[_Step] = []
        for position, chunk in enumerate(chunks):
            passage = chunk.passage
            if position and steps and chunk.items[0].number > 1:
                _attach_fragment(steps[-1], passage)
            for item in chunk.items:
                span = (item.start, item.end)
                text = _plain(passage.text[item.start : item.end])
                _add_step(steps, _Step(text, self.language_of(passage), [_cite(passage, span)], item.number))
        return steps

    def procedure_steps(self) -> list[_Step] | None:
        """The steps still to do of the best procedure with any left; ``None`` when no passage has a list."""
        procedures = _procedures(self.ranked)
        if not procedures:
            return None
        for chunks in procedures:
            steps = self.remaining(self.merge(chunks))
            if steps:
                return steps
        return []

    def sentence_steps(self, *, skip_documents: set[str]) -> list[_Step]:
        """One step per document from the first statement of the best passages, when none has a list."""
        steps: list[_Step] = []
        seen = set(skip_documents)
        for passage in self.ranked:
            span = _first_span(passage.text, statements_only=True)
            if passage.document_id in seen or span is None:
                continue
            seen.add(passage.document_id)
            text = _plain(passage.text[span[0] : span[1]])
            steps.extend(self.remaining([_Step(text, self.language_of(passage), [_cite(passage, span)])]))
            if len(steps) == FALLBACK_STEPS:
                break
        return steps

    def article_step(self) -> _Step | None:
        """The step "send the customer the article «…»", in the conversation's language, citing the article."""
        articles = _article_passages(self.ranked, level="no_touch")
        if not articles:
            return None
        passage = articles[0]
        language = self.language if self.language in bank_languages(BANK) else FALLBACK_LANGUAGE
        text = load_bank(BANK, language)["send_article"].format(title=passage.title)
        start = len(passage.text) - len(passage.text.lstrip())
        span = _first_span(passage.text) or (start, len(passage.text.rstrip()))
        return _Step(text, language, [_cite(passage, span)])

    def commitment_step(self) -> _Step | None:
        """The first commitment of the VIP policy relevant to the conversation, else its first commitment.

        Every retrieved chunk of a VIP document is searched, policies first: the chunk that ranks highest may
        say who the customer is rather than what we promise them.
        """
        documents = sorted(self.ranked, key=lambda p: p.kind != "policy")
        statements = [(p, span) for p in documents for span in self.vip_statements(p)]
        if not statements:
            return None
        commitments = [(p, span) for p, span in statements if self.commits(_quote(p, span))] or statements[:1]
        said = self.stems(" ".join(self.conversation.customer_texts()))
        policy, span = next((c for c in commitments if said & self.stems(_quote(*c))), commitments[0])
        return _Step(_plain(_quote(policy, span)), self.language_of(policy), [_cite(policy, span)])

    def vip_statements(self, passage: Passage) -> list[Span]:
        """Statements of a VIP document: all of them when its title says so (a Prestige policy, whatever its
        kind), only those naming the VIP service when it is a general policy with a VIP clause."""
        spans = [s for s in _sentence_spans(passage.text) if not _is_question(_quote(passage, s))]
        if self.mentions_vip(passage.title):
            return spans
        if passage.kind != "policy":
            return []
        return [span for span in spans if self.mentions_vip(_quote(passage, span))]

    def stems(self, text: str) -> set[str]:
        return _stems(_tokens(text), self.lexicon)

    def mentions_vip(self, text: str) -> bool:
        return any(token.startswith(keyword) for token in _tokens(text) for keyword in self.lexicon.vip_keywords)

    def commits(self, sentence: str) -> bool:
        return any(t.startswith(marker) for t in _tokens(sentence) for marker in self.lexicon.commitment_markers)


def _assemble(head: list[_Step], body: list[_Step], tail: list[_Step], *, limit: int) -> list[_Step]:
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
