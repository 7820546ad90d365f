"""Assisting an agent: the one use case behind ``/v1/assist``, ``/v1/assist/stream``, ``/v1/tone``, ``/v1/search``
and the helpdesk webhooks.

The order is always the same: the rules answer (``assist.engine``), then the LLM refinement when one is configured
(``assist.refine``), then one transaction that stores the conversation, the assist, its flags and its knowledge gap.
The gap is judged on the passages retrieval really found, not on the articles shown. The stream is the one
exception: its flags are stored before the first event (the client sees their ids), its assist when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api import gaps
from api.persistence import journey_repo, review_repo
from api.persistence.database import Database
from api.persistence.tables import ConversationRow
from api.services.history import ConversationHistory
from api.services.installations import NO_INSTALLATION, AssistSettings, Installations
from api.services.knowledge import KnowledgeService
from assist.engine import AssistEngine, build_query
from assist.errors import NotFound
from assist.follow_ups import after_resolution
from assist.language import detect_language
from assist.models import Assistance, ContactLevel, Conversation, Passage, ToneReport, policy_texts
from assist.ports import SCOPE, Filters
from assist.refine import Done, Refiner
from assist.refine.checks import NOT_COVERED
from assist.refine.orchestration import Alternatives, Research
from assist.tone import check_tone

StoredFlag = dict[str, Any]
EventName = Literal["assist", "part", "done"]


log = logging.getLogger("tactful.assist")


@dataclass(frozen=True)
class Stored:
    """What one assist stored: its flags and the conversation's follow-ups, with their ids."""

    flags: list[StoredFlag]
    follow_ups: list[dict[str, Any]]

    def fields(self) -> dict[str, Any]:
        return {"flags": self.flags, "follow_ups": self.follow_ups}


@dataclass(frozen=True)
class AssistOutcome:
    """An assistance with its flags and follow-ups as stored (with their ids, for supervisors' links)."""

    assistance: Assistance
    stored: Stored

    @property
    def flags(self) -> list[StoredFlag]:
        return self.stored.flags

    def payload(self) -> dict[str, Any]:
        return {**self.assistance.model_dump(mode="json"), **self.stored.fields()}


@dataclass(frozen=True)
class Gap:
    """A question the knowledge base answered badly, ready to store."""

    question: str
    language: str
    best_score: float
    vector: list[float]
    installation_id: str | None = None


class AssistService:
    """Runs the assist use case for every entry point; the routes only translate HTTP."""

    def __init__(
        self,
        *,
        rules: AssistEngine,
        knowledge: KnowledgeService,
        db: Database,
        refiner: Refiner | None,
        gap_threshold: float,
        history: ConversationHistory | None = None,
        survey_link: Callable[[str], str | None] | None = None,
        installations: Installations | None = None,
    ) -> None:
        self.rules = rules
        self.knowledge = knowledge
        self.db = db
        self.refiner = refiner
        self.gap_threshold = gap_threshold
        self.history = history
        self.survey_link = survey_link  # the one-click survey link of a conversation, when customers can reach us
        self.on_assist: Callable[[Assistance], None] | None = None  # told of each assist answered (the metrics)
        # Each installation's knowledge scope and contact-level rules apply to its conversations.
        self.installations = installations

    def settings(self, *, conversation_id: str | None, installation_id: str | None = None) -> AssistSettings:
        """The knowledge scope and contact-level rules that apply: the installation named (an agent token's), else
        the one the conversation belongs to, else none (the whole knowledge base, no rules)."""
        if self.installations is None:
            return NO_INSTALLATION
        return self.installations.assist_settings(installation_id=installation_id, conversation_id=conversation_id)

    def assist(
        self, conversation: Conversation, *, draft: str | None = None, installation_id: str | None = None
    ) -> AssistOutcome:
        """Suggestions for the agent's next reply and the tone check of ``draft``; everything stored at once.
        ``installation_id``: an agent token's installation (else the conversation's, from its id)."""
        conversation = self._with_history(conversation)
        settings = self.settings(conversation_id=conversation.id, installation_id=installation_id)
        result, passages = self._rules(conversation, draft=draft, settings=settings)
        if self.refiner is not None:
            result = self.refiner.refine(
                result,
                conversation=conversation,
                passages=passages,
                draft=draft,
                alternatives=self._alternatives(conversation, settings),
                research=self._research(conversation, settings),
            )
        gap = self._gap(result.query, result.language, passages, settings=settings, uncovered=_uncovered(result))
        with self.db.session() as s:
            stored = self._store(s, conversation, result, gap=gap)
            review_repo.save_assist(s, result.model_copy(), conversation_id=conversation.id)
        if self.on_assist is not None:
            self.on_assist(result)
        return AssistOutcome(result, stored)

    def stream(
        self, conversation: Conversation, *, draft: str | None = None, installation_id: str | None = None
    ) -> Iterator[tuple[EventName, dict[str, Any]]]:
        """The rules answer at once (flags stored), then each part the LLM improved, then the final answer.

        The rules answer is computed before the first event is asked for, so bad input raises here, as a 4xx.
        """
        conversation = self._with_history(conversation)
        settings = self.settings(conversation_id=conversation.id, installation_id=installation_id)
        result, passages = self._rules(conversation, draft=draft, settings=settings)
        gap = self._gap(result.query, result.language, passages, settings=settings)
        with self.db.session() as s:
            stored = self._store(s, conversation, result, gap=gap)
        return self._events(
            conversation,
            result,
            passages=passages,
            draft=draft,
            stored=stored,
            alternatives=self._alternatives(conversation, settings),
            research=self._research(conversation, settings),
            gap=None if gap is not None else (passages, settings),
        )

    def assess(self, conversation: Conversation) -> list[StoredFlag]:
        """A conversation as it now stands, heard from a helpdesk: its flags and gap stored, no suggestion (no
        agent saw one; acceptance figures count what agents were shown). The rules alone: no LLM is paid for."""
        settings = self.settings(conversation_id=conversation.id)
        result, passages = self._rules(conversation, settings=settings)
        from_customer = conversation.messages[-1].role == "customer"
        gap = self._gap(result.query, result.language, passages, settings=settings) if from_customer else None
        with self.db.session() as s:
            return self._store(s, conversation, result, gap=gap).flags

    def check_tone(
        self,
        text: str,
        *,
        language: str | None,
        customer_name: str | None,
        contact_level: ContactLevel | None,
        conversation: Conversation | None,
        installation_id: str | None = None,
    ) -> ToneReport:
        """The tone check of a draft; with a conversation, promises are compared with the policies it touches (in
        the knowledge scope of its installation)."""
        policy: list[str] = []
        if conversation is not None:
            language = language or self.rules.language_of(conversation)
            settings = self.settings(conversation_id=conversation.id, installation_id=installation_id)
            found = self.knowledge.search(build_query(conversation), k=5, language=language, filters=_scoped(settings))
            policy = policy_texts(found)
        return check_tone(
            text,
            language=language,
            customer_name=customer_name,
            contact_level=contact_level,
            policy_texts=policy,
            sarcasm=self.rules.sarcasm,
        )

    def search(
        self,
        query: str,
        *,
        k: int,
        language: str | None,
        filters: dict[str, str],
        conversation_id: str | None,
        installation_id: str | None = None,
    ) -> tuple[list[Passage], str]:
        """Passages for ``query`` (in the knowledge scope of the token's or the conversation's installation); an
        unfiltered search that finds nothing good is a knowledge gap."""
        language = language or detect_language(query)
        settings = self.settings(conversation_id=conversation_id, installation_id=installation_id)
        passages = self.knowledge.search(query, k=k, language=language, filters={**filters, **_scoped(settings)})
        gap = None if filters else self._gap(query, language, passages, settings=settings)
        if gap is not None:
            with self.db.session() as s:
                _record_gap(s, gap, conversation_id=conversation_id)
        return passages, language

    # --- inside ---------------------------------------------------------------------------------------

    def _rules(
        self, conversation: Conversation, *, draft: str | None = None, settings: AssistSettings = NO_INSTALLATION
    ) -> tuple[Assistance, list[Passage]]:
        """The rules answer, saying whether the knowledge base was being indexed (a newcomer's first minute) or could
        not be reached (read after retrieval, which is what finds out)."""
        result, passages = self.rules.assist_with_passages(
            conversation, draft=draft, scope=settings.scope, contact_rules=settings.contact_rules
        )
        return result.model_copy(update={"knowledge": self.knowledge.state()}), passages

    def _alternatives(self, conversation: Conversation, settings: AssistSettings) -> Alternatives:
        """Passages of the next topics after those the LLM's steps prompt shows, searched only when the LLM is asked
        for steps."""
        return lambda shown: self.rules.alternative_passages(conversation, shown, scope=settings.scope)

    def _research(self, conversation: Conversation, settings: AssistSettings) -> Research:
        """Passages for the LLM's own search line when it found none about the customer's problem: the best of the
        next topics, the ones it was shown left out."""
        topics = self.refiner.config.research_topics if self.refiner is not None else 0
        return lambda line, shown: self.rules.alternative_passages(
            conversation, shown, topics=topics, scope=settings.scope, search=line
        )

    def _with_history(self, conversation: Conversation) -> Conversation:
        """A sidebar may post only the latest turns of a helpdesk conversation: the earlier ones heard from the
        helpdesk's webhooks go before them."""
        return conversation if self.history is None else self.history.merged(conversation)

    def _events(
        self,
        conversation: Conversation,
        result: Assistance,
        *,
        passages: list[Passage],
        draft: str | None,
        stored: Stored,
        alternatives: Alternatives | None = None,
        research: Research | None = None,
        gap: tuple[list[Passage], AssistSettings] | None = None,
    ) -> Iterator[tuple[EventName, dict[str, Any]]]:
        """The stream's events. ``gap``: what to record a knowledge gap from if the LLM finds no passage about the
        customer's problem (None: one was recorded already)."""
        final = result
        try:
            # The stream alone asks for the LLM's tone judgement (part ``tone_llm``), after the rules' tone report.
            pending = self.refiner.planned(result, draft, judge_tone=True) if self.refiner is not None else []
            yield "assist", {**result.model_dump(mode="json"), **stored.fields(), "pending": pending}
            if self.refiner is not None:
                updates = self.refiner.stream(
                    result,
                    conversation=conversation,
                    passages=passages,
                    draft=draft,
                    judge_tone=True,
                    alternatives=alternatives,
                    research=research,
                )
                for update in updates:
                    final = update.assistance
                    if not isinstance(update, Done):
                        event: dict[str, Any] = {"part": update.part, "items": update.items, "engine": "llm"}
                        if update.part == "next_steps":  # the articles follow the steps' topic
                            event["articles"] = [a.model_dump(mode="json") for a in final.articles]
                        yield "part", event
            if gap is not None and _uncovered(final):
                found = self._gap(final.query, final.language, gap[0], settings=gap[1], uncovered=True)
                if found is not None:
                    with self.db.session() as s:
                        _record_gap(s, found, conversation_id=conversation.id)
            if final.follow_ups != result.follow_ups:  # the LLM wrote a follow-up message: stored as shown
                with self.db.session() as s:
                    journey_repo.save_follow_ups(s, final.follow_ups)
                    stored = Stored(stored.flags, journey_repo.conversation_follow_ups(s, conversation.id))
            yield "done", {**final.model_dump(mode="json"), **stored.fields()}
        finally:
            # Stored even when the client went away mid-stream: feedback may still refer to this suggestion. The
            # stream has already answered (or its client is gone, and the generator is being closed), so a database
            # that refuses the row is logged: raising here reaches nobody.
            try:
                with self.db.session() as s:
                    review_repo.save_assist(s, final.model_copy(), conversation_id=conversation.id)
            except SQLAlchemyError:
                log.exception("assist %s of %s not stored", final.suggestion_id, conversation.id)
            if self.on_assist is not None:
                self.on_assist(final)

    def _gap(
        self,
        question: str,
        language: str,
        passages: list[Passage],
        *,
        settings: AssistSettings = NO_INSTALLATION,
        uncovered: bool = False,
    ) -> Gap | None:
        """The question as a gap when its best passage (in the installation's scope) scored below the threshold, or
        the LLM found no passage about it (``uncovered``); embedded outside any transaction: the embedding is the
        slow part."""
        best = gaps.best_relevance(passages)
        if not question.strip() or (best >= self.gap_threshold and not uncovered):
            return None
        vector = self.knowledge.embed_query(question)
        return Gap(question, language, best, [float(x) for x in vector], settings.installation_id)

    @staticmethod
    def _store(s: Session, conversation: Conversation, result: Assistance, *, gap: Gap | None) -> Stored:
        level = result.contact_level.level
        review_repo.save_conversation(s, conversation, language=result.language, level=level)
        flags = review_repo.record_flags(s, result.flags, language=result.language, level=level)
        if gap is not None:
            _record_gap(s, gap, conversation_id=conversation.id)
        journey_repo.save_follow_ups(s, result.follow_ups)
        return Stored(flags, journey_repo.conversation_follow_ups(s, conversation.id))

    # --- the case journey -----------------------------------------------------------------------------

    def resolve(self, conversation_id: str, *, at: datetime | None = None, source: str = "api") -> dict[str, Any]:
        """Mark a stored conversation resolved: its after-resolution follow-up (due after its contact level's
        delay, with the survey question) is stored. Unknown conversation: ``NotFound``."""
        at = at or datetime.now(UTC)
        with self.db.session() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"no conversation with id {conversation_id!r}", field="conversation_id")
            conversation = Conversation.model_validate(row.data)
            level = cast(ContactLevel, row.contact_level or "low_touch")
            agent = (conversation.agent.id or conversation.agent.name or "") if conversation.agent else ""
            journey_repo.resolve(s, conversation_id, at=at, agent=agent, source=source)
            link = self.survey_link(conversation_id) if self.survey_link else None
            follow_up = after_resolution(
                conversation, language=row.language or "en", level=level, resolved_at=at, agent=agent, survey_link=link
            )
            journey_repo.save_follow_ups(s, [follow_up])
            items = journey_repo.conversation_follow_ups(s, conversation_id)
            return {
                "conversation_id": conversation_id,
                "resolved_at": journey_repo.resolved_at(s, conversation_id),
                "follow_up": next(f for f in items if f["kind"] == "after_resolution"),
            }

    def conversation_language(self, conversation_id: str) -> str | None:
        """The language a stored conversation was assessed in; None when Tactful never saw it."""
        with self.db.session() as s:
            row = s.get(ConversationRow, conversation_id)
            return (row.language or "en") if row is not None else None

    def survey(self, conversation_id: str, *, score: int, comment: str) -> dict[str, Any]:
        """Record a customer's satisfaction score for a stored conversation."""
        with self.db.session() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"no conversation with id {conversation_id!r}", field="conversation_id")
            survey_id = journey_repo.record_survey(s, conversation_id, score=score, comment=comment, agent=row.agent)
        return {"id": survey_id, "conversation_id": conversation_id, "score": score}


def _uncovered(result: Assistance) -> bool:
    """Whether the LLM read the passages and found none about the customer's problem."""
    steps = result.llm.get("parts", {}).get("next_steps", {})
    return bool(steps.get("status") == "ok" and steps.get("reason") == NOT_COVERED)


def _scoped(settings: AssistSettings) -> Filters:
    """The filter that keeps retrieval to the installation's knowledge scope (none: the whole knowledge base)."""
    return {} if settings.scope is None else {SCOPE: settings.scope}


def _record_gap(s: Session, gap: Gap, *, conversation_id: str | None) -> None:
    gaps.record_gap(
        s, question=gap.question, language=gap.language, best_score=gap.best_score,
        conversation_id=conversation_id, vector=gap.vector, installation_id=gap.installation_id,
    )  # fmt: skip
