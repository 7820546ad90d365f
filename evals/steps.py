"""Next steps an agent can use as they are, measured on the blind steps set (``evals/steps_corpus/``).

Each gold conversation (written by authors who never saw the rules) is run through the rules engine over the
bundled demo knowledge base, indexed the way ``POST /v1/documents`` indexes it. Each suggested step that cites a
version of the gold topic is matched to the gold document's numbered step it says (the same document: by its
quote; another language version: by the nearest step in the e5 space), and then measured:

- **already done**: the share of suggested procedure steps that the conversation had already done (lower is better);
- **recall of the next steps**: the share of the gold next steps that were suggested;
- **off topic**: the share of suggested procedure steps citing another topic;
- **first step is a next one**: the share of conversations whose first suggested procedure step is one of the gold
  next steps (what an agent reads first; a no-touch case shows one procedure step after the article to send);
- **foreign articles**: the share of conversations offered an article to send in a language the customer did not
  write in (an article shown with its language and not offered for sending does not count).

A row "right topic only" per split repeats the figures for the conversations whose first procedure step cites the
gold topic: what is left to mend once retrieval is right (recognising the steps already done, the steps shown).

The split is by author, frozen before anything was fitted (``split.json``): tune on ``dev`` only.

    .venv/bin/tactful eval steps --split dev
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assist.models import Assistance, Conversation, NextStep
from assist.procedures import numbered_items, plain
from evals._demo import demo_container

HERE = Path(__file__).parent
CORPUS = HERE / "steps_corpus"
DEMO_KB = HERE.parent / "kb_index" / "demo_kb"
LANGUAGES = ("en", "it", "es", "pl")
HEAD = (
    "| split | language | conversations | already done ↓ | next steps recalled ↑ | off topic ↓ "
    "| first step is a next one ↑ | foreign article offered ↓ | right topic ↑ |"
)


@dataclass(frozen=True)
class GoldCase:
    author: str
    id: str
    language: str
    conversation: Conversation
    document: str
    topic: str
    done: frozenset[int]
    next: tuple[int, ...]


@dataclass
class Tally:
    suggested: int = 0
    done: int = 0
    off_topic: int = 0
    next_total: int = 0
    next_found: int = 0
    cases: int = 0
    foreign_article_cases: int = 0
    on_topic_cases: int = 0
    first_right: int = 0

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self) -> list[str]:
        def share(a: int, b: int) -> str:
            return f"{a / b:.3f}" if b else "—"

        return [
            str(self.cases),
            share(self.done, self.suggested),
            share(self.next_found, self.next_total),
            share(self.off_topic, self.suggested),
            share(self.first_right, self.cases),
            share(self.foreign_article_cases, self.cases),
            share(self.on_topic_cases, self.cases),
        ]


@dataclass
class Report:
    by_split: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_language: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_author: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    # The conversations whose first procedure step cites the right topic: what is left once retrieval is right.
    on_topic: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))


def topic_of(document_id: str) -> str:
    stem, _, suffix = document_id.rpartition("-")
    return stem if suffix in LANGUAGES else document_id


def load_cases(splits: Sequence[str]) -> list[tuple[str, GoldCase]]:
    split = json.loads((CORPUS / "split.json").read_text(encoding="utf-8"))
    cases: list[tuple[str, GoldCase]] = []
    for name in splits:
        for author in split[name]:
            for item in json.loads((CORPUS / author / "conversations.json").read_text(encoding="utf-8")):
                gold = item["gold"]
                conversation = Conversation.model_validate(
                    {
                        "id": item["id"],
                        "customer": item.get("customer") or {},
                        "case": {k: v for k, v in (item.get("case") or {}).items() if v is not None},
                        "messages": item["messages"],
                    }
                )
                case = GoldCase(
                    author=author,
                    id=item["id"],
                    language=item["language"],
                    conversation=conversation,
                    document=gold["document"],
                    topic=gold["topic"],
                    done=frozenset(gold["done_steps"]),
                    next=tuple(gold["next_steps"]),
                )
                cases.append((name, case))
    return cases


def first_list(text: str) -> dict[int, str]:
    """The steps of a document's first numbered list (the gold numbers refer to it), as plain text."""
    steps: dict[int, str] = {}
    for item in numbered_items(text):
        if item.number in steps or (steps and item.number != max(steps) + 1):
            break
        steps[item.number] = plain(text[item.start : item.end])
    return steps


class StepMatcher:
    """Which gold step a suggested step says: by its quote in the gold document, else by the nearest e5 vector."""

    def __init__(self, documents: dict[str, str], embed: Any) -> None:
        self.steps = {doc_id: first_list(text) for doc_id, text in documents.items()}
        self.items = {
            doc_id: {plain(text[i.start : i.end]) for i in numbered_items(text)} for doc_id, text in documents.items()
        }
        self.embed = embed
        self._vectors: dict[str, np.ndarray] = {}

    def vector(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = np.asarray(self.embed([text])[0], dtype=np.float32)
        return self._vectors[text]

    def is_item(self, step: NextStep) -> bool:
        """Whether ``step`` is an item of a numbered list of the document it cites (an LLM's step, in its own
        words: whether the sentence it quotes is)."""
        if not step.citations:
            return False
        items = self.items.get(step.citations[0].document_id, set())
        text = plain(step.citations[0].quote if step.engine == "llm" else step.text)
        return any(text and (text in item or item in text) for item in items)

    def number(self, step: NextStep, gold_document: str) -> int | None:
        gold = self.steps.get(gold_document, {})
        if not gold:
            return None
        cited = step.citations[0].document_id if step.citations else ""
        if cited == gold_document:
            quote = plain(step.citations[0].quote)
            for number, text in gold.items():
                if quote and (quote in text or text in quote):
                    return number
        wanted = self.vector(step.text)
        scores = {n: float(self.vector(t) @ wanted) for n, t in gold.items()}
        return max(scores, key=lambda n: scores[n])


def _score(case: GoldCase, assistance: Assistance, matcher: StepMatcher) -> Tally:
    tally = Tally(cases=1, next_total=len(case.next))
    found: set[int] = set()
    order: list[int | None] = []
    top_topic = ""
    for step in assistance.next_steps:
        cited = step.citations[0].document_id if step.citations else ""
        if not matcher.is_item(step):
            continue  # a framing step (send the article, the VIP commitment), not a procedure step
        tally.suggested += 1
        top_topic = top_topic or topic_of(cited)
        if topic_of(cited) != case.topic:
            tally.off_topic += 1
            order.append(None)
            continue
        number = matcher.number(step, case.document)
        order.append(number)
        if number is not None:
            tally.done += number in case.done
            found.add(number)
    tally.next_found = len(found & set(case.next))
    tally.first_right = int(bool(order) and order[0] in case.next)
    tally.on_topic_cases = int(top_topic == case.topic)
    tally.foreign_article_cases = int(
        any(a.language and a.language != case.language and getattr(a, "sendable", True) for a in assistance.articles)
    )
    return tally


def evaluate(data: Path, *, limit: int = 0, split: str = "dev") -> str:
    """Score the rules engine's next steps on the gold conversations of ``split`` (dev, held_out or both)."""
    del data  # the steps set lives in the repository; ../shared/eval is not needed
    from kb_index.loaders import iter_paths, load_path

    splits = ["dev", "held_out"] if split == "both" else [split]
    cases = load_cases(splits)
    if limit:
        cases = cases[:limit]
    documents = {doc.id: doc.text for doc in map(load_path, iter_paths([DEMO_KB]))}
    with demo_container("tactful-steps-") as container:
        embed = container.knowledge.retriever.store.embeddings.embed_documents
        matcher = StepMatcher(documents, embed)
        report = Report()
        details: list[str] = []
        for name, case in cases:
            assistance = container.assist.rules.assist(case.conversation)
            tally = _score(case, assistance, matcher)
            report.by_split[name].add(tally)
            report.by_language[(name, case.language)].add(tally)
            report.by_author[(name, case.author)].add(tally)
            if tally.on_topic_cases:
                report.on_topic[name].add(tally)
            details.append(_detail(case, assistance, matcher))
    return _table(report, details)


def _detail(case: GoldCase, assistance: Assistance, matcher: StepMatcher) -> str:
    said = []
    for step in assistance.next_steps:
        cited = step.citations[0].document_id if step.citations else "?"
        if not matcher.is_item(step):
            said.append(f"({cited})")
            continue
        number = matcher.number(step, case.document) if topic_of(cited) == case.topic else None
        said.append(f"{cited}#{number}" if number else cited)
    return f"{case.id}: gold {case.document} done {sorted(case.done)} next {list(case.next)} -> {said}"


def _table(report: Report, details: list[str]) -> str:
    lines = [HEAD, "|---|---|---|---|---|---|---|---|---|"]
    for name, tally in report.by_split.items():
        lines.append("| " + " | ".join([name, "all", *tally.row()]) + " |")
        for language in LANGUAGES:
            if (name, language) in report.by_language:
                lines.append("| " + " | ".join([name, language, *report.by_language[(name, language)].row()]) + " |")
        if name in report.on_topic:
            lines.append("| " + " | ".join([name, "right topic only", *report.on_topic[name].row()]) + " |")
        for (split, author), by_author in report.by_author.items():
            if split == name:
                lines.append("| " + " | ".join([name, f"author {author}", *by_author.row()]) + " |")
    return "\n".join([*lines, "", "<details><summary>per conversation</summary>", "", *details, "</details>"])
