"""Knowledge gaps: questions whose best passage scored below the calibrated threshold, grouped across languages.

Similar questions are grouped by their language-neutral embeddings (the same vectors retrieval uses), so
"Do you sell gift cards?" and "Vendete buoni regalo?" count as one missing article.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.persistence.database import iso
from api.persistence.review_repo import normalize_question
from api.persistence.tables import ConversationRow, DocumentRow, GapRow
from assist.models import Passage
from kb_index.documents import SCOPE_KEY, scope_tags, topic_of

# Cosine similarity (language-neutral e5) to a group's centroid above which a question joins the group:
# paraphrases across languages score 0.87-0.95, different questions 0.81-0.86 (tests/test_gaps.py).
GROUP_SIMILARITY = 0.88
RECENT = 5000


def best_relevance(passages: list[Passage]) -> float:
    return max((p.relevance for p in passages), default=0.0)


def record_gap(
    s: Session,
    *,
    question: str,
    language: str,
    best_score: float,
    conversation_id: str | None,
    vector: Sequence[float] | np.ndarray,
    installation_id: str | None = None,
) -> None:
    s.add(
        GapRow(
            question=question[:2000], normalized=normalize_question(question), language=language,
            best_score=best_score, conversation_id=conversation_id, vector=[round(float(x), 5) for x in vector],
            installation_id=installation_id,
        )
    )  # fmt: skip


def _group(rows: list[GapRow]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    centroids: list[np.ndarray] = []
    asks: list[set[object]] = []
    for row in rows:  # newest first: a group's example is its newest question
        vec = np.asarray(row.vector or [], dtype=np.float32)
        match = -1
        if vec.size and centroids:
            sims = np.array([float(c @ vec) / (np.linalg.norm(c) or 1.0) for c in centroids])
            match = int(np.argmax(sims)) if sims.max() >= GROUP_SIMILARITY else -1
        if match < 0:
            groups.append({
                "question": row.question, "count": 0, "language": row.language, "languages": [],
                "best_score": 0.0, "last_seen": iso(row.created_at), "conversation_id": row.conversation_id,
                "examples": [],
            })  # fmt: skip
            centroids.append(vec if vec.size else np.zeros(1, dtype=np.float32))
            asks.append(set())
            match = len(groups) - 1
        elif vec.size:
            centroids[match] = centroids[match] + vec
        group = groups[match]
        # One conversation asking the same thing again (the sidebar re-assists on every draft edit, a webhook
        # assesses the message too) counts once: the count is of asks, not of calls.
        ask = (row.conversation_id, row.normalized) if row.conversation_id else row.id
        if ask in asks[match]:
            continue
        asks[match].add(ask)
        group["count"] += 1
        group["best_score"] = round(max(group["best_score"], row.best_score), 4)
        if row.language not in group["languages"]:
            group["languages"].append(row.language)
        if len(group["examples"]) < 5 and row.question not in group["examples"]:
            group["examples"].append(row.question)
    return groups


def list_gaps(s: Session, *, limit: int = 100, installation_id: str | None = None) -> list[dict[str, Any]]:
    """Groups of similar unanswered questions, most frequent first, then most recent (with ``installation_id``:
    the questions of that installation's conversations, judged on its knowledge scope)."""
    query = select(GapRow).order_by(GapRow.created_at.desc(), GapRow.id.desc()).limit(RECENT)
    if installation_id is not None:
        query = query.where(GapRow.installation_id == installation_id)
    rows = list(s.scalars(query).all())
    groups = _group(rows)
    groups.sort(key=lambda g: (-g["count"], -_timestamp(g["last_seen"])))
    return groups[:limit]


def _scope_of(meta: dict[str, Any] | None) -> tuple[str, ...]:
    try:
        return scope_tags((meta or {}).get(SCOPE_KEY))
    except ValueError:  # stored before scopes were checked: not a tag any scope names
        return ()


def _timestamp(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def missing_versions(
    s: Session, *, installation_id: str | None = None, scope: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Topics with no version in a language customers write in (from the conversations seen), most asked first.

    A customer writing in that language is pointed to no article at all (the ones in other languages are never
    offered to send): it is a gap the knowledge team closes by writing that version. With ``installation_id``, the
    languages of that installation's conversations (``<kind>-<installation>-<id>``) and, with a ``scope``, only the
    versions in it: a version tagged for another scope is missing for this installation's agents.
    """
    languages = select(ConversationRow.language, func.count()).where(ConversationRow.language != "")
    if installation_id is not None:
        languages = languages.where(ConversationRow.id.like(f"%-{installation_id}-%"))
    customers = dict(s.execute(languages.group_by(ConversationRow.language)).all())
    if not customers:
        return []
    topics: dict[str, dict[str, Any]] = {}
    for doc_id, title, language, meta in s.execute(
        select(DocumentRow.id, DocumentRow.title, DocumentRow.language, DocumentRow.meta)
    ).all():
        if scope is not None and not set(_scope_of(meta)) & set(scope):
            continue
        topic = topic_of(meta, doc_id, language)
        entry = topics.setdefault(topic, {"topic": topic, "title": title, "languages": set(), "documents": []})
        entry["languages"].add(language)
        entry["documents"].append(doc_id)
    out = []
    for entry in topics.values():
        missing = sorted((lang for lang in customers if lang not in entry["languages"]), key=lambda x: -customers[x])
        if missing:
            out.append(
                {
                    "topic": entry["topic"],
                    "title": entry["title"],
                    "languages": sorted(entry["languages"]),
                    "documents": sorted(entry["documents"]),
                    "missing": missing,
                    "conversations": sum(customers[lang] for lang in missing),
                }
            )
    out.sort(key=lambda g: (-g["conversations"], g["topic"]))
    return out
