"""The retrieval evaluation's data: queries with their gold document, and the documents built from the datasets.

Banking77 becomes one FAQ document per intent listing that intent's example questions; ABCD becomes one
procedure per subflow. The data is read from ``../shared/eval/data`` and never copied into the project.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb_index.documents import SourceDocument
from kb_index.loaders import iter_paths, load_path

HERE = Path(__file__).parent
CROSSLINGUAL = HERE / "crosslingual_queries.json"
DEMO_QUERIES = HERE / "demo_kb_queries.json"
DEMO_KB = HERE.parent / "kb_index" / "demo_kb"
_LANGUAGE_SUFFIX = re.compile(r"-(en|it|es|pl)$")
_SAME_TOPIC = {"account-locked-2fa": "password-account-access"}
QUESTIONS_PER_SECTION = 3
DEV_EVERY = 5  # every 5th training question of each intent is a development query (20%)
_SPACES = re.compile(r"\s+")
_OPENING_WORDS = 5


@dataclass(frozen=True)
class Query:
    text: str
    gold: str
    language: str = "en"


def humanise(label: str) -> str:
    """``card_arrival`` -> ``Card arrival``; ``reverted_card_payment?`` -> ``Reverted card payment``."""
    words = label.replace("_", " ").replace("-", " ").strip(" ?").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def load_banking77(path: Path) -> list[Query]:
    """The rows of a Banking77 CSV (``text,category``) as queries whose gold is the intent label."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [Query(_clean(row["text"]), row["category"]) for row in csv.DictReader(handle)]


def split_for_development(rows: Sequence[Query], *, every: int = DEV_EVERY) -> tuple[list[Query], list[Query]]:
    """Per intent, every ``every``-th question goes to the dev queries, the rest builds the knowledge base."""
    seen: dict[str, int] = defaultdict(int)
    build: list[Query] = []
    dev: list[Query] = []
    for row in rows:
        seen[row.gold] += 1
        (dev if seen[row.gold] % every == 0 else build).append(row)
    return build, dev


def intent_documents(rows: Iterable[Query], *, per_section: int = QUESTIONS_PER_SECTION) -> list[SourceDocument]:
    """One FAQ document per intent: its questions in sections of ``per_section``, headed by the first of them.

    Each section becomes its own chunk, so a query is matched against a few close paraphrases (nearest
    neighbours) instead of one long list.
    """
    by_intent: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_intent[row.gold].append(row.text)
    return [
        SourceDocument(
            id=intent,
            title=humanise(intent),
            text=_faq_markdown(questions, per_section=per_section),
            language="en",
            kind="faq",
            source=f"banking77/{intent}",
        )
        for intent, questions in sorted(by_intent.items())
    ]


def _faq_markdown(questions: Sequence[str], *, per_section: int) -> str:
    sections = []
    for start in range(0, len(questions), per_section):
        heading, *others = (q.lstrip("#").strip() for q in questions[start : start + per_section])
        body = "\n".join(f"- {q}" for q in others) or f"- {heading}"
        sections.append(f"## {heading}\n\n{body}\n")
    return "\n".join(sections)


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def subflow_ids(guidelines: dict[str, Any], ontology: dict[str, Any]) -> dict[tuple[str, str], str]:
    """``(flow name, subflow name)`` in the guidelines -> ``flow_id/subflow_id`` of the ontology (same order)."""
    known: dict[str, list[str]] = ontology["intents"]["subflows"]
    ids: dict[tuple[str, str], str] = {}
    for flow, content in guidelines.items():
        flow_id = _snake(flow)
        for name, subflow_id in zip(content["subflows"], known[flow_id], strict=True):
            ids[(flow, name)] = f"{flow_id}/{subflow_id}"
    return ids


def _steps(actions: Sequence[dict[str, Any]]) -> list[str]:
    steps = []
    for number, action in enumerate(actions, start=1):
        details = "".join(f"\n   - {_clean(sub)}" for sub in action.get("subtext", []) if _clean(sub))
        steps.append(f"{number}. {_clean(action.get('text', ''))}{details}")
    return steps


def guideline_documents(guidelines: dict[str, Any], ontology: dict[str, Any]) -> list[SourceDocument]:
    """One procedure per ABCD subflow: the flow's description, the subflow's instructions, its actions as steps."""
    ids = subflow_ids(guidelines, ontology)
    docs = []
    for flow, content in guidelines.items():
        for name, subflow in content["subflows"].items():
            notes = "\n\n".join(_clean(i) for i in subflow.get("instructions", []))
            steps = "\n".join(_steps(subflow["actions"]))
            text = f"{flow}: {_clean(content['description'])}.\n\n{notes}\n\n## Steps\n\n{steps}\n"
            docs.append(
                SourceDocument(
                    id=ids[(flow, name)],
                    title=f"{flow}: {name}",
                    text=text,
                    language="en",
                    kind="procedure",
                    source="abcd/guidelines.json",
                )
            )
    return docs


def abcd_opening_queries(sample: Sequence[dict[str, Any]], ids: Iterable[str]) -> list[Query]:
    """Each conversation's opening: the customer's turns up to the first with ``_OPENING_WORDS`` words or more.

    The gold is the scenario's subflow; numbered FAQ scenarios (``timing_4``) map to their subflow (``timing``).
    """
    known = set(ids)
    queries = []
    for convo in sample:
        scenario = convo["scenario"]
        gold = f"{scenario['flow']}/{scenario['subflow']}"
        if gold not in known:
            gold = re.sub(r"_\d+$", "", gold)
        said: list[str] = []
        for speaker, text in convo["original"]:
            if speaker == "customer":
                said.append(_clean(text))
                if len(text.split()) >= _OPENING_WORDS:
                    break
        queries.append(Query(" ".join(said), gold))
    return queries


def abcd_procedure_queries(guidelines: dict[str, Any], ontology: dict[str, Any]) -> list[Query]:
    """Per subflow, what the guidelines say about it in other words: name, flow description and action buttons.

    Not independent of the documents (they hold the same name, description and button labels): a check
    that ranking among 55 similar procedures puts the named one first, not a measure on real customer text.
    """
    ids = subflow_ids(guidelines, ontology)
    queries = []
    for flow, content in guidelines.items():
        for name, subflow in content["subflows"].items():
            buttons = dict.fromkeys(a["button"] for a in subflow["actions"] if a["button"] not in ("N/A", "x"))
            text = f"{name.lower()}: {_clean(content['description'])}; {', '.join(buttons).lower()}"
            queries.append(Query(text, ids[(flow, name)]))
    return queries


def crosslingual_queries(path: Path = CROSSLINGUAL) -> list[Query]:
    """Our own Banking77-style questions, each in English, Italian, Spanish and Polish, with the gold intent."""
    items: list[dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return [Query(item[lang], item["gold"], lang) for item in items for lang in ("en", "it", "es", "pl")]


def demo_topic(document_id: str) -> str:
    """A demo document's topic: its id without the language suffix (two account-access documents are one topic)."""
    topic = _LANGUAGE_SUFFIX.sub("", document_id)
    return _SAME_TOPIC.get(topic, topic)


def demo_documents(folder: Path = DEMO_KB) -> list[SourceDocument]:
    """The bundled demo knowledge base: policies, procedures and FAQs in four languages."""
    return [load_path(path) for path in iter_paths([folder])]


def demo_queries(split: str, path: Path = DEMO_QUERIES) -> list[Query]:
    """Our own questions to the demo knowledge base (``development`` or ``unseen``), gold = the topic."""
    items: list[dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))[split]
    return [Query(item["text"], item["gold"], item["language"]) for item in items]
