"""The journey evaluation: its split is by author and frozen, and its scoring counts what it says it counts."""

from __future__ import annotations

import json

from evals.journey import CORPUS, authors, load_conversations, load_messages, score_messages


def test_the_split_is_by_author_and_every_author_wrote_both_languages_parts() -> None:
    spec = json.loads((CORPUS / "split.json").read_text(encoding="utf-8"))
    assert not set(spec["dev"]) & set(spec["held_out"])
    assert authors("both") == [*spec["dev"], *spec["held_out"]]
    held = load_messages("held_out")
    assert {m["id"].split("-")[0] for m in held} == set(spec["held_out"])
    assert {m["language"] for m in held} == {"en", "it", "es", "pl"}
    assert len(load_conversations("held_out")) == 48


def _item(kind: str, text: str, due: str | None = None, precision: str | None = None) -> dict[str, object]:
    return {"id": f"t-{kind}", "language": "en", "at": "2026-03-12T14:05:00Z", "timezone": "Europe/London",
            "text": text, "kind": kind, "due_at": due, "due_precision": precision}  # fmt: skip


def test_a_promise_found_at_the_wrong_time_is_both_a_miss_and_a_wrong_answer() -> None:
    items = [
        _item("promise", "I'll call you tomorrow at 10am.", "2026-03-13T10:00:00+00:00", "time"),
        _item("promise", "I'll call you tomorrow at 10am.", "2026-03-13T15:00:00+00:00", "time"),  # wrong time
        _item("none", "Please reply by Friday."),
        _item("transfer", "I'm transferring you to billing now."),
    ]
    table, misses = score_messages(items)
    row = table["all"]
    assert (row["promise_due"].tp, row["promise_due"].fp, row["promise_due"].fn) == (1, 1, 1)
    assert (row["promise"].tp, row["promise"].fp, row["promise"].fn) == (2, 0, 0)
    assert (row["transfer"].tp, row["transfer"].fn) == (1, 0)
    assert len(misses) == 1
