"""The case journey's detectors, measured on the blind journey set (``evals/journey_corpus/``).

Two parts, written by authors who never saw the rules (``BRIEF.md``), split by author before anything was written
(``split.json``: tune on ``dev`` only):

- **Promises and transfers** (``messages.jsonl``): each agent message is read by ``assist.promises.promise_due`` and
  ``transfer_span`` in the team's time zone. A promise counts as found when the message is labelled a promise and
  its due time is right: within an hour of the gold time when the author gave a time of day, on the gold day when
  they gave a day. Precision and recall for promises (with and without the due time) and for transfers.
- **Tier advice** (``conversations.jsonl``): each conversation is run through the rules engine over the bundled
  demo knowledge base (indexed as ``POST /v1/documents`` indexes it), and its ``escalation`` is compared with the
  gold action (and ``to_tier`` for an escalation) and the gold tier the case needs.

    .venv/bin/tactful eval journey --split dev
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from assist.models import Conversation
from assist.promises import read_agent_message
from evals._demo import demo_container

HERE = Path(__file__).parent
CORPUS = HERE / "journey_corpus"
DEMO_KB = HERE.parent / "kb_index" / "demo_kb"
LANGUAGES = ("en", "it", "es", "pl")
TIME_TOLERANCE_S = 3600


def authors(split: str) -> list[str]:
    spec = json.loads((CORPUS / "split.json").read_text(encoding="utf-8"))
    return list(spec["dev"]) + list(spec["held_out"]) if split == "both" else list(spec[split])


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_messages(split: str) -> list[dict[str, Any]]:
    return [item for a in authors(split) for item in _lines(CORPUS / a / "messages.jsonl")]


def load_conversations(split: str) -> list[dict[str, Any]]:
    return [item for a in authors(split) for item in _lines(CORPUS / a / "conversations.jsonl")]


# --- promises and transfers ---------------------------------------------------------------------------


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    def cells(self) -> list[str]:
        return [f"{self.precision():.3f}", f"{self.recall():.3f}", str(self.tp + self.fn)]


def predict_message(item: dict[str, Any]) -> tuple[str, datetime | None]:
    """The kind the detectors give one agent message, and the promise's due time."""
    at = datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
    tz = ZoneInfo(item.get("timezone") or "UTC")
    found = read_agent_message(item["text"], at=at, tz=tz, language=item.get("language"))
    if found is None:
        return "none", None
    return found.kind, found.due.at if found.due is not None else None


def due_right(item: dict[str, Any], due: datetime | None) -> bool:
    if due is None or not item.get("due_at"):
        return False
    gold = datetime.fromisoformat(item["due_at"].replace("Z", "+00:00"))
    if item.get("due_precision") == "time":
        return abs((due - gold).total_seconds()) <= TIME_TOLERANCE_S
    return due.astimezone(gold.tzinfo).date() == gold.date()


def score_messages(items: Sequence[dict[str, Any]]) -> tuple[dict[str, dict[str, Counts]], list[str]]:
    """Counts per language (and "all") for: promise found with its due time, promise found, transfer."""
    table: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    misses: list[str] = []
    for item in items:
        kind, due = predict_message(item)
        gold = item["kind"]
        right_due = kind == "promise" and gold == "promise" and due_right(item, due)
        for language in (item["language"], "all"):
            row = table[language]
            for name, predicted, actual in (
                ("promise_due", kind == "promise" and (gold != "promise" or right_due), gold == "promise"),
                ("promise", kind == "promise", gold == "promise"),
                ("transfer", kind == "transfer", gold == "transfer"),
            ):
                if name == "promise_due" and kind == "promise" and gold == "promise" and not right_due:
                    row[name].fn += 1  # found, but due at the wrong time: a miss, and a wrong answer
                    row[name].fp += 1
                    continue
                counts = row[name]
                counts.tp += predicted and actual
                counts.fp += predicted and not actual
                counts.fn += actual and not predicted
        if kind != gold or (gold == "promise" and not right_due):
            misses.append(f"{item['id']}: gold {gold} {item.get('due_at')} / got {kind} {due} | {item['text'][:140]}")
    return table, misses


# --- tier advice ----------------------------------------------------------------------------------------


def conversation_of(item: dict[str, Any]) -> Conversation:
    case = dict(item.get("case") or {})
    level = case.get("contact_level")
    case["contact_level"] = level.replace("-", "_") if level else None
    messages = [{"role": m["role"], "text": m["text"]} for m in item["messages"]]
    return Conversation.model_validate(
        {
            "id": item["id"],
            "channel": item.get("channel"),
            "customer": item.get("customer") or {},
            "case": case,
            "messages": messages,
        }
    )


def evaluate(data: Path, *, limit: int = 0, split: str = "dev") -> str:
    """Both parts' figures on ``split`` (dev, held_out or both), as Markdown."""
    del data  # the set lives in the repository
    messages = load_messages(split)[: limit or None]
    table, misses = score_messages(messages)
    conversations = load_conversations(split)[: limit or None]
    with demo_container("tactful-journey-") as container:
        results = [(item, container.assist.rules.assist(conversation_of(item))) for item in conversations]
    return _report(split, table, misses, results)


def _report(split: str, table: dict[str, dict[str, Counts]], misses: list[str], results: list[Any]) -> str:
    lines = [f"### Promises and transfers ({split})", "",
             "| language | promise with due time P | R | n | promise found P | R | n | transfer P | R | n |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for language in (*LANGUAGES, "all"):
        if language in table:
            row = table[language]
            cells = row["promise_due"].cells() + row["promise"].cells() + row["transfer"].cells()
            lines.append(f"| {language} | " + " | ".join(cells) + " |")
    action_right: Counter[str] = Counter()
    tier_right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    for item, assistance in results:
        gold = item["gold"]
        got = assistance.escalation
        right = got.action == gold["action"] and (gold["action"] != "escalate" or got.to_tier == gold.get("to_tier"))
        for language in (item["language"], "all"):
            total[language] += 1
            action_right[language] += right
            tier_right[language] += got.needed == gold["needed_tier"]
        confusion[(gold["action"], got.action)] += 1
        if not right:
            wrong.append(f"{item['id']}: gold {gold['action']} {gold.get('to_tier')} ({gold['needed_tier']}) / got "
                         f"{got.action} {got.to_tier} ({got.needed}) | {'; '.join(got.reasons[1:])}")  # fmt: skip
    lines += ["", f"### Tier advice ({split})", "", "| language | conversations | action right | needed tier right |",
              "|---|---|---|---|"]  # fmt: skip
    for language in (*LANGUAGES, "all"):
        if total[language]:
            n = total[language]
            lines.append(f"| {language} | {n} | {action_right[language] / n:.3f} | {tier_right[language] / n:.3f} |")
    lines += ["", "Confusion (gold → advised): " + ", ".join(f"{g}→{a} {n}" for (g, a), n in sorted(confusion.items()))]
    if split == "dev":
        lines += ["", "Dev misses (messages):", *[f"- {m}" for m in misses], "", "Dev misses (tier):",
                  *[f"- {w}" for w in wrong]]  # fmt: skip
    return "\n".join(lines)
