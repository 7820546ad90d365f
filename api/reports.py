"""The supervisor's periodic service review: figures per agent and per team over a period.

Assists and how agents treated the suggestions; tone issues of the agents' sent messages per 100 messages, by
kind; flags raised, confirmed and dismissed; follow-ups done on time, late and missed; escalations suggested and
taken; first-response and between-response times where messages carry ``at``; customer satisfaction surveys.
Each figure counts the rows of the period (assists, feedback, flags and surveys by when they were made;
follow-ups by when they fell due); a conversation's agent and team are the ones it was last assessed with.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.persistence.tables import AssistRow, ConversationRow, FeedbackRow, FlagRow, FollowUpRow, SurveyRow
from assist.models import TIERS

UNASSIGNED = "unassigned"
ALL = "all"


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class Figures:
    """The figures of one agent, one team, or everyone."""

    conversations: set[str] = field(default_factory=set)
    assists: int = 0
    feedback: Counter[str] = field(default_factory=Counter)
    agent_messages: int = 0
    tone_issues: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    follow_ups: Counter[str] = field(default_factory=Counter)
    escalations_suggested: int = 0
    escalations_taken: int = 0
    first_response_s: list[float] = field(default_factory=list)
    between_responses_s: list[float] = field(default_factory=list)
    surveys: list[int] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        per_100 = {
            kind: round(100 * n / self.agent_messages, 2) if self.agent_messages else 0.0
            for kind, n in sorted(self.tone_issues.items())
        }
        return {
            "conversations": len(self.conversations),
            "assists": self.assists,
            "suggestions": {a: self.feedback.get(a, 0) for a in ("accepted", "edited", "dismissed")},
            "agent_messages": self.agent_messages,
            "tone_issues_per_100_messages": per_100,
            "tone_issues_per_100_messages_total": round(sum(per_100.values()), 2),
            "flags": {k: self.flags.get(k, 0) for k in ("raised", "confirmed", "dismissed")},
            "flags_by_kind": dict(sorted((k[5:], n) for k, n in self.flags.items() if k.startswith("kind:"))),
            "follow_ups": {k: self.follow_ups.get(k, 0) for k in ("on_time", "late", "missed", "open")},
            "escalations": {"suggested": self.escalations_suggested, "taken": self.escalations_taken},
            "first_response_s": _median(self.first_response_s),
            "between_responses_s": _median(self.between_responses_s),
            "survey": {
                "responses": len(self.surveys),
                "mean_score": round(statistics.fmean(self.surveys), 2) if self.surveys else None,
            },
        }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


@dataclass(frozen=True)
class Owner:
    agent: str
    team: str


def _owner(data: dict[str, Any]) -> Owner:
    agent = data.get("agent") or {}
    return Owner(str(agent.get("id") or agent.get("name") or UNASSIGNED), str(agent.get("team") or UNASSIGNED))


class Report:
    def __init__(self) -> None:
        self.agents: dict[str, Figures] = defaultdict(Figures)
        self.teams: dict[str, Figures] = defaultdict(Figures)
        self.all = Figures()

    def of(self, owner: Owner) -> Iterable[Figures]:
        return (self.agents[owner.agent], self.teams[owner.team], self.all)


def service_report(s: Session, *, start: datetime, end: datetime) -> dict[str, Any]:
    """The figures of the period [start, end) per agent, per team and for everyone."""
    start, end = _utc(start) or start, _utc(end) or end
    owners: dict[str, Owner] = {}
    conversations: dict[str, dict[str, Any]] = {}
    for row in s.scalars(select(ConversationRow)):
        owners[row.id] = _owner(row.data)
        conversations[row.id] = row.data
    report = Report()

    def figures(conversation_id: str) -> Iterable[Figures]:
        return report.of(owners.get(conversation_id, Owner(UNASSIGNED, UNASSIGNED)))

    last_assist: dict[str, dict[str, Any]] = {}
    suggested: dict[str, str] = {}  # conversation -> the highest tier an escalation was suggested to
    assists = s.scalars(
        select(AssistRow)
        .where(AssistRow.created_at >= start, AssistRow.created_at < end)
        .order_by(AssistRow.created_at)
    )
    for assist in assists:
        last_assist[assist.conversation_id] = assist.data
        escalation = assist.data.get("escalation") or {}
        if escalation.get("action") == "escalate" and escalation.get("to_tier") in TIERS:
            before = suggested.get(assist.conversation_id, "basic")
            suggested[assist.conversation_id] = max(before, escalation["to_tier"], key=TIERS.index)
        for f in figures(assist.conversation_id):
            f.assists += 1
            f.conversations.add(assist.conversation_id)
    feedback = s.execute(
        select(FeedbackRow.action, AssistRow.conversation_id)
        .join(AssistRow, AssistRow.id == FeedbackRow.suggestion_id)
        .where(FeedbackRow.created_at >= start, FeedbackRow.created_at < end)
    )
    for action, conversation_id in feedback:
        for f in figures(conversation_id):
            f.feedback[action] += 1
    for conversation_id, data in last_assist.items():
        _conversation_figures(figures(conversation_id), conversations.get(conversation_id, {}), data)
    for conversation_id, tier in suggested.items():
        now_at = ((conversations.get(conversation_id) or {}).get("case") or {}).get("tier") or "basic"
        for f in figures(conversation_id):
            f.escalations_suggested += 1
            f.escalations_taken += TIERS.index(now_at) >= TIERS.index(tier) if now_at in TIERS else 0
    for flag in s.scalars(select(FlagRow).where(FlagRow.created_at >= start, FlagRow.created_at < end)):
        for f in figures(flag.conversation_id):
            f.flags["raised"] += 1
            f.flags[f"kind:{flag.kind}"] += 1
            if flag.status in ("confirmed", "dismissed"):
                f.flags[flag.status] += 1
    for follow_up in s.scalars(select(FollowUpRow).where(FollowUpRow.due_at >= start, FollowUpRow.due_at < end)):
        due, done = _utc(follow_up.due_at), _utc(follow_up.done_at)
        if follow_up.status == "done":
            outcome = "on_time" if done is None or due is None or done <= due else "late"
        else:
            outcome = follow_up.status
        for f in figures(follow_up.conversation_id):
            f.follow_ups[outcome] += 1
    for survey in s.scalars(select(SurveyRow).where(SurveyRow.created_at >= start, SurveyRow.created_at < end)):
        for f in figures(survey.conversation_id):
            f.surveys.append(survey.score)
    return {
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
        "all": report.all.json(),
        "agents": {name: f.json() for name, f in sorted(report.agents.items())},
        "teams": {name: f.json() for name, f in sorted(report.teams.items())},
    }


def _conversation_figures(groups: Iterable[Figures], conversation: dict[str, Any], assist: dict[str, Any]) -> None:
    """The sent messages' tone issues (from the period's last assist) and the response times of one conversation."""
    messages = conversation.get("messages") or []
    sent = sum(1 for m in messages if m.get("role") == "agent")
    issues = Counter(i["kind"] for t in assist.get("message_tones") or [] for i in t.get("issues") or [])
    first, between = _response_times(messages)
    for f in groups:
        f.agent_messages += sent
        f.tone_issues.update(issues)
        if first is not None:
            f.first_response_s.append(first)
        f.between_responses_s.extend(between)


def _response_times(messages: list[dict[str, Any]]) -> tuple[float | None, list[float]]:
    """Seconds from the first customer message to the first agent reply, and from each customer turn to the
    agent's next reply (messages without ``at`` are skipped)."""
    waiting: datetime | None = None
    first: float | None = None
    between: list[float] = []
    for m in messages:
        at = _utc(datetime.fromisoformat(m["at"].replace("Z", "+00:00"))) if m.get("at") else None
        if at is None:
            continue
        if m.get("role") == "customer":
            waiting = waiting or at
        elif m.get("role") == "agent" and waiting is not None:
            delay = max((at - waiting).total_seconds(), 0.0)
            if first is None:
                first = delay
            else:
                between.append(delay)
            waiting = None
    return first, between


CSV_COLUMNS = (
    "group", "name", "conversations", "assists", "accepted", "edited", "dismissed", "agent_messages",
    "tone_issues_per_100", "flags_raised", "flags_confirmed", "flags_dismissed", "follow_ups_on_time",
    "follow_ups_late", "follow_ups_missed", "follow_ups_open", "escalations_suggested", "escalations_taken",
    "first_response_s", "between_responses_s", "survey_responses", "survey_mean",
)  # fmt: skip


def report_csv(report: dict[str, Any]) -> str:
    """One row per agent, per team and for everyone."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    rows = [("all", ALL, report["all"])]
    rows += [("agent", name, f) for name, f in report["agents"].items()]
    rows += [("team", name, f) for name, f in report["teams"].items()]
    for group, name, f in rows:
        writer.writerow([
            group, name, f["conversations"], f["assists"], *f["suggestions"].values(), f["agent_messages"],
            f["tone_issues_per_100_messages_total"], *f["flags"].values(), *f["follow_ups"].values(),
            f["escalations"]["suggested"], f["escalations"]["taken"], f["first_response_s"] or "",
            f["between_responses_s"] or "", f["survey"]["responses"], f["survey"]["mean_score"] or "",
        ])  # fmt: skip
    return out.getvalue()
