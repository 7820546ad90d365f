"""Procedures in the knowledge base: numbered Markdown lists, possibly split over consecutive chunks of a document.

A passage's numbered items are read with their continuation lines, chunks of one document section are merged in
reading order, and an item the chunker cut in two is made whole again, citing both chunks. Markdown is read here
(headings, list markers, emphasis, links) and turned into plain text for the agent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assist.models import Citation, NextStep, Passage
from assist.text import is_question, sentence_spans, words

__all__ = [
    "Chunk",
    "Step",
    "cite",
    "is_question_sentence",
    "markdown_sentences",
    "merge",
    "plain",
    "procedures",
    "quote",
]

Span = tuple[int, int]

_ITEM = re.compile(r"[ \t]*(\d{1,3})[.)][ \t]+(?=\S)")
_HEADING = re.compile(r"[ \t]*#{1,6}(?:[ \t]|$)")
_LINE_MARKER = re.compile(r"[ \t]*(?:[-*+>]|\d{1,3}[.)])[ \t]+")
_LINE_MARKUP = re.compile(r"^[ \t]*(?:#{1,6}|[-*+>]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_CODE = re.compile(r"`+([^`]*)`+")
_MD_STARS = re.compile(r"(\*{1,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_UNDERSCORES = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)")
_MD_TAG = re.compile(r"</?[A-Za-z][^>]*>")


# --- Markdown -------------------------------------------------------------------------------------------


def plain(markdown: str) -> str:
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


def markdown_sentences(text: str) -> list[Span]:
    """Spans of the sentences of Markdown ``text`` (headings skipped, list markers left out of the span)."""
    spans: list[Span] = []
    for offset, line in _lines(text):
        if not line.strip() or _HEADING.match(line):
            continue
        marker = _LINE_MARKER.match(line)
        base = offset + (marker.end() if marker else 0)
        content = text[base : offset + len(line.rstrip())]
        spans.extend((base + a, base + b) for a, b in sentence_spans(content))
    return spans


def is_question_sentence(sentence: str) -> bool:
    """Whether a Markdown sentence asks (emphasis and links aside)."""
    return is_question(plain(sentence))


def _natural_key(value: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key reading digit runs as numbers, so ``chunk-10`` comes after ``chunk-9``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", value) if part)


# --- numbered lists -------------------------------------------------------------------------------------


@dataclass
class Item:
    """A numbered item of a passage: its number and the span of its text (continuation lines included)."""

    number: int
    start: int
    end: int


def numbered_items(text: str) -> list[Item]:
    items: list[Item] = []
    current: Item | None = None
    for offset, line in _lines(text):
        match = _ITEM.match(line)
        if match:
            current = Item(int(match.group(1)), offset + match.end(), offset + len(line.rstrip()))
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
class Chunk:
    passage: Passage
    items: list[Item]

    def reading_order(self) -> tuple[int, tuple[tuple[int, int | str], ...]]:
        return self.items[0].number, _natural_key(self.passage.chunk_id)

    def continues(self, other: Chunk) -> bool:
        """Whether both chunks hold the same procedure: one document, one section (or an unknown one)."""
        mine, theirs = self.passage, other.passage
        same_section = mine.section == theirs.section or not mine.section or not theirs.section
        return mine.document_id == theirs.document_id and same_section


def procedures(ranked: Sequence[Passage]) -> list[list[Chunk]]:
    """Candidate procedures, best first (the top passage's document first), each as chunks in reading order."""
    chunks = [Chunk(p, items) for p in ranked if (items := numbered_items(p.text))]
    top_document = ranked[0].document_id
    chunks.sort(key=lambda chunk: chunk.passage.document_id != top_document)
    procedures: list[list[Chunk]] = []
    taken: set[int] = set()
    for primary in chunks:
        if id(primary) in taken:
            continue
        group = [chunk for chunk in chunks if id(chunk) not in taken and chunk.continues(primary)]
        taken.update(id(chunk) for chunk in group)
        procedures.append(sorted(group, key=Chunk.reading_order))
    return procedures


# --- steps ----------------------------------------------------------------------------------------------


@dataclass
class Step:
    text: str
    language: str
    citations: list[Citation]
    number: int = 0

    def key(self) -> str:
        return " ".join(words(self.text, pauses=True))

    def to_next_step(self) -> NextStep:
        return NextStep(text=self.text, citations=self.citations, language=self.language, translated=False)


def quote(passage: Passage, span: Span) -> str:
    return passage.text[span[0] : span[1]]


def cite(passage: Passage, span: Span) -> Citation:
    return Citation(
        document_id=passage.document_id,
        chunk_id=passage.chunk_id,
        title=passage.title,
        quote=quote(passage, span),
        language=passage.language,
        section=passage.section,
        source=passage.source,
        indexed_at=passage.indexed_at,
        context=passage.text,
    )


def add_step(steps: list[Step], step: Step) -> None:
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


def _attach_fragment(step: Step, passage: Passage) -> None:
    """Join the tail of ``step`` that the chunker put at the top of the next chunk, citing both chunks."""
    span = _leading_fragment(passage.text)
    if span is None:
        return
    fragment = plain(passage.text[span[0] : span[1]])
    if " ".join(words(fragment, pauses=True)) in step.key():
        return
    step.text = f"{step.text} {fragment}"
    step.citations.append(cite(passage, span))


def merge(chunks: list[Chunk], language_of: Callable[[Passage], str]) -> list[Step]:
    """The numbered items of ``chunks`` in reading order, an item split between two chunks made whole."""
    steps: list[Step] = []
    for position, chunk in enumerate(chunks):
        passage = chunk.passage
        if position and steps and chunk.items[0].number > 1:
            _attach_fragment(steps[-1], passage)
        for item in chunk.items:
            span = (item.start, item.end)
            text = plain(passage.text[item.start : item.end])
            add_step(steps, Step(text, language_of(passage), [cite(passage, span)], item.number))
    return steps
