"""The pre-send tone gate: whether a reply an agent is about to send is held back, and what happened at the gate.

An installation's gate (stored with it, ``tone_gate``) names the tone-issue kinds that hold a reply back and an
optional minimum score; the Zendesk sidebar asks on ``ticket.save`` (``POST /v1/tone`` with ``gate``) and rejects
the save when it is held. What happened is stored for supervisors: ``blocked`` (recorded here, by the check),
``overridden`` (the agent sent it anyway, where the installation allows it) and ``unreachable`` (Tactful could not
answer in time, so the reply went out unchecked; the sidebar reports it once Tactful answers again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.persistence.database import Database, iso
from api.persistence.tables import ToneGateEventRow, utcnow
from assist.models import ToneIssue, ToneReport
from prompts import bank_languages, load_bank

DEFAULT_BLOCK_KINDS = ("sarcasm", "irony", "aggressive", "threat", "condescension")
EVENT_KINDS = ("blocked", "overridden", "unreachable")
EXCERPT_CHARS = 1000


@cache
def known_kinds() -> frozenset[str]:
    """Every tone-issue kind the tone check can report, in any language (the rules of the tone banks)."""
    return frozenset(kind for lang in bank_languages("tone") for kind in load_bank("tone", lang).get("rules", {}))


@dataclass(frozen=True)
class GatePolicy:
    """An installation's gate, read from what is stored (an installation from before the gate has ``{}``)."""

    block_kinds: tuple[str, ...] = DEFAULT_BLOCK_KINDS
    min_score: float | None = None
    allow_override: bool = True
    public_only: bool = True

    @classmethod
    def stored(cls, data: dict[str, Any] | None) -> GatePolicy:
        found = data or {}
        return cls(
            block_kinds=tuple(found.get("block_kinds", DEFAULT_BLOCK_KINDS)),
            min_score=found.get("min_score"),
            allow_override=bool(found.get("allow_override", True)),
            public_only=bool(found.get("public_only", True)),
        )

    def as_json(self) -> dict[str, Any]:
        return {"block_kinds": list(self.block_kinds), "min_score": self.min_score,
                "allow_override": self.allow_override, "public_only": self.public_only}  # fmt: skip


@dataclass(frozen=True)
class GateDecision:
    blocked: bool
    allow_override: bool
    issues: list[ToneIssue]
    rewrite: str | None
    message: str


def decide(report: ToneReport, policy: GatePolicy, *, public: bool) -> GateDecision:
    """Held back when the reply is public (or the gate checks notes too) and it has an issue of a blocking kind or
    scores under the minimum; the message lists each offending span and the suggested rewrite."""
    if policy.public_only and not public:
        return GateDecision(False, policy.allow_override, [], None, "")
    issues = [i for i in report.issues if i.kind in policy.block_kinds]
    low = policy.min_score is not None and report.score < policy.min_score
    if not issues and not low:
        return GateDecision(False, policy.allow_override, [], None, "")
    reasons = [i.message for i in issues]
    if low:
        reasons.append(f"its tone scores {report.score:.2f}, under this team's minimum of {policy.min_score:.2f}")
    message = "Tactful held this reply back: " + " ".join(r if r.endswith(".") else r + "." for r in reasons)
    if report.rewrite:
        message += f" Suggested rewrite: “{report.rewrite}”"
    message += " Use the rewrite from the Tactful panel, or edit the reply and submit again."
    if policy.allow_override:
        message += " To send it as written, choose “Send anyway” in the Tactful panel, then submit again."
    return GateDecision(True, policy.allow_override, issues, report.rewrite, message)


def event_json(row: ToneGateEventRow) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "installation_id": row.installation_id or None,
        "conversation_id": row.conversation_id, "agent": row.agent or None, "kinds": list(row.kinds or []),
        "excerpt": row.excerpt, "occurred_at": iso(row.occurred_at), "recorded_at": iso(row.recorded_at),
    }  # fmt: skip


class ToneGateEvents:
    """What happened at the gates, stored once per event id (a client retrying a queued event stores it once)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        *,
        kind: str,
        conversation_id: str,
        installation_id: str | None = None,
        agent: str | None = None,
        kinds: list[str] | None = None,
        excerpt: str = "",
        occurred_at: datetime | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        row = ToneGateEventRow(
            id=event_id or uuid.uuid4().hex, kind=kind, installation_id=installation_id or "",
            conversation_id=conversation_id, agent=agent or "", kinds=sorted(set(kinds or [])),
            excerpt=excerpt[:EXCERPT_CHARS], occurred_at=occurred_at or utcnow(),
        )  # fmt: skip
        try:
            with self.db.session() as s:
                if (found := s.get(ToneGateEventRow, row.id)) is not None:
                    return event_json(found)
                s.add(row)
                s.flush()
                return event_json(row)
        except IntegrityError:  # the same event id, at the same moment: it is stored
            with self.db.session() as s:
                return event_json(s.get_one(ToneGateEventRow, row.id))

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.get(ToneGateEventRow, event_id)
            return event_json(row) if row is not None else None

    def list(
        self, *, kind: str = "", conversation_id: str = "", installation_id: str = "", agent: str = "", limit: int = 200
    ) -> list[dict[str, Any]]:
        """Newest first."""
        query = select(ToneGateEventRow)
        for column, value in ((ToneGateEventRow.kind, kind), (ToneGateEventRow.conversation_id, conversation_id),
                              (ToneGateEventRow.installation_id, installation_id),
                              (ToneGateEventRow.agent, agent)):  # fmt: skip
            if value:
                query = query.where(column == value)
        query = query.order_by(ToneGateEventRow.occurred_at.desc(), ToneGateEventRow.recorded_at.desc()).limit(limit)
        with self.db.session() as s:
            return [event_json(r) for r in s.scalars(query)]


def excerpt(text: str, issues: list[ToneIssue]) -> str:
    """The offending spans of ``text``, in order, joined (what a supervisor reads first)."""
    spans = [text[i.start : i.end] for i in sorted(issues, key=lambda i: i.start) if 0 <= i.start < i.end <= len(text)]
    return " … ".join(spans)
