"""The suggestion engine: one conversation in, one ``Assistance`` out, deterministic and fast.

It never talks to a database or a web framework: it is given a retriever (and, later, an LLM) through the
protocols in ``assist.ports``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import TypeVar

from assist.channel import channel_of, shape_empathy, shape_steps
from assist.contact_level import ContactRules, decide_contact_level
from assist.customer_state import ACKNOWLEDGE_FROM, assess_customer
from assist.empathy import suggest_empathy
from assist.escalation import POLICY_KIND, advise_escalation
from assist.flags import missed_promise_flag, raise_flags
from assist.follow_ups import detect_follow_ups
from assist.language import conversation_language, validate_language
from assist.models import Assistance, Conversation, Message, MessageTone, Passage, ToneReport, policy_texts
from assist.next_steps import pick_articles, plan
from assist.ports import SCOPE, Filters, QueryEmbedder, Retriever
from assist.procedures import numbered_items
from assist.sarcasm import SarcasmScorer
from assist.text import sentence_spans, words
from assist.tone import check_tone
from prompts import bank_languages, load_bank

T = TypeVar("T")
# The company's escalation policy for a knowledge-base scope (None: the whole knowledge base).
EscalationPolicy = Callable[[tuple[str, ...] | None], str | None]
PASSAGES = 8
# With an LLM configured, the best passage of this many more topics goes into its prompt, so that it can take the
# topic the conversation is about when the retriever's first is not (docs/evaluation.md, Next steps, session 16).
ALTERNATIVE_TOPICS = 2
ALTERNATIVES_SEARCHED = 40  # passages searched to find them
QUERY_SENTENCES = 8  # the customer's sentences searched (each one is a query embedding, kept per sentence)
QUERY_MIN_WORDS = 3
QUERY_CHARS = 2000
STEPS_BANK = "steps"
RETRIEVALS_KEPT = 512  # turns whose retrieval is kept (a few per agent typing)
# Issues that matter for a draft but not for a message already sent (supervisors look for tone, not style).
_IGNORED_IN_SENT = frozenset({"missing_name", "too_long", "too_curt", "missing_acknowledgement", "boilerplate"})


def build_query(conversation: Conversation, *, turns: int = 2) -> str:
    """The customer's question as they asked it: their last turns (the gaps report records it, the answer shows it)."""
    texts = conversation.customer_texts()[-turns:] or [m.text for m in conversation.messages[-1:]]
    return "\n".join(texts)[-QUERY_CHARS:]


def search_query(conversation: Conversation, *, sentences: int = QUERY_SENTENCES) -> str:
    """What to search for: the customer's last ``sentences`` sentences that say something, one per line, from every
    turn (greetings, thanks and short replies such as "ok, thanks!" left out: ``said_something``); without any,
    :func:`build_query`.

    The retriever reads each line on its own and ranks topics by their evidence over all of them
    (``kb_index.retrieval``): the problem a customer stated in their first turn still counts when their last turn
    says "what now?". On the development split of the steps set (docs/evaluation.md, "Next steps") the right topic
    went 0.79 -> 0.83 against the last two turns joined, 0.85 with the lines weighted."""
    said = [
        " ".join(text[start:end].split())
        for text in conversation.customer_texts()
        for start, end in sentence_spans(text)
        if said_something(text[start:end])
    ]
    lines: list[str] = []
    for line in reversed(said[-sentences:]):
        if lines and sum(len(x) + 1 for x in lines) + len(line) > QUERY_CHARS:
            break
        lines.insert(0, line[-QUERY_CHARS:])
    return "\n".join(lines) or build_query(conversation)


def said_something(sentence: str) -> bool:
    """Whether a customer's sentence holds at least ``QUERY_MIN_WORDS`` words that are not small talk (a greeting,
    thanks, "ok", "yes": the steps banks' ``small_talk`` of every language)."""
    return sum(word not in _small_talk() for word in words(sentence)) >= QUERY_MIN_WORDS


@cache
def _small_talk() -> frozenset[str]:
    banks = (load_bank(STEPS_BANK, language) for language in bank_languages(STEPS_BANK))
    return frozenset(word for bank in banks for entry in bank["small_talk"] for word in words(entry))


class AssistEngine:
    def __init__(
        self,
        retriever: Retriever,
        *,
        sarcasm: SarcasmScorer | None = None,
        escalation_policy: EscalationPolicy | None = None,
        timezone: tzinfo = UTC,
        index_version: Callable[[], object] | None = None,
    ) -> None:
        self.retriever = retriever
        self.sarcasm = sarcasm  # the learned sarcasm scorer; None: the phrase banks alone
        # The company's escalation policy (the text of its `escalation_policy` documents), read at each assist.
        self.escalation_policy = escalation_policy
        self.timezone = timezone  # the team's: "tomorrow at 10" in an agent's promise is read in it
        # While an agent types, each draft edit re-assists the same turn: its retrieval is kept, keyed by the
        # knowledge base's version (``index_version``; without one nothing is kept).
        self.index_version = index_version
        self._retrievals: OrderedDict[tuple[object, ...], list[Passage]] = OrderedDict()
        self._retrievals_lock = threading.Lock()

    def assist(
        self, conversation: Conversation, *, draft: str | None = None, now: datetime | None = None
    ) -> Assistance:
        """Suggestions for the agent's next reply in ``conversation``, and the tone check of ``draft``."""
        return self.assist_with_passages(conversation, draft=draft, now=now)[0]

    def assist_with_passages(
        self,
        conversation: Conversation,
        *,
        draft: str | None = None,
        now: datetime | None = None,
        scope: tuple[str, ...] | None = None,
        contact_rules: ContactRules | None = None,
    ) -> tuple[Assistance, list[Passage]]:
        """As :meth:`assist`, also returning the passages retrieved for it (an LLM step grounds on them).

        ``scope``: the installation's knowledge-base scope tags (None: the whole knowledge base): every retrieval,
        and the escalation policy, keep to the documents tagged with one of them. ``contact_rules``: the
        installation's contact-level rules."""
        timings: dict[str, float] = {}

        def timed(name: str, fn: Callable[[], T]) -> T:
            start = time.perf_counter()
            out = fn()
            timings[name] = round((time.perf_counter() - start) * 1000, 3)
            return out

        started = time.perf_counter()
        language = self.language_of(conversation)
        level = timed(
            "contact_level", lambda: decide_contact_level(conversation, language=language, rules=contact_rules)
        )
        state = timed("customer_state", lambda: assess_customer(conversation, language=language))
        query = build_query(conversation)
        searched = search_query(conversation)
        steps_language = self.agent_language(conversation) or language
        passages: list[Passage] = timed(
            "retrieval", lambda: self.retrieve(searched, languages=(language, steps_language), scope=scope)
        )
        planned = timed(
            "next_steps",
            lambda: plan(
                passages,
                conversation,
                language=language,
                level=level.level,
                steps_language=steps_language,
                embedder=self.retriever if isinstance(self.retriever, QueryEmbedder) else None,
            ),
        )
        articles = pick_articles(passages, language=language)
        escalation = timed(
            "escalation",
            lambda: advise_escalation(
                conversation,
                language=steps_language,
                customer_language=language,
                level=level.level,
                state=state,
                done_steps=len(planned.done),
                procedure_steps=_procedure_length(passages),
                articles=articles,
                policy=self.escalation_policy(scope) if self.escalation_policy else None,
            ),
        )
        empathy = timed(
            "empathy", lambda: suggest_empathy(conversation, language=language, level=level.level, state=state)
        )
        channel = channel_of(conversation, language=steps_language)
        empathy = shape_empathy(empathy, conversation, channel=channel.channel, language=language)
        steps = shape_steps(planned.steps, channel=channel.channel)
        name = conversation.customer.name
        policy = policy_texts(passages)
        tone = None
        if draft and draft.strip():
            tone = timed(
                "tone",
                lambda: check_tone(
                    draft,
                    language=language,
                    customer_name=name,
                    contact_level=level.level,
                    customer_upset=state.frustration >= ACKNOWLEDGE_FROM,
                    policy_texts=policy,
                    sarcasm=self.sarcasm,
                    customer_text=_last_customer_text(conversation.messages),
                ),
            )
        reports = timed("agent_tone", lambda: self._agent_reports(conversation, language=language, name=name))
        flags = raise_flags(conversation, level=level.level, state=state, agent_reports=reports, now=now)
        follow_ups = timed(
            "follow_ups", lambda: detect_follow_ups(conversation, language=language, tz=self.timezone, now=now)
        )
        if not any(flag.kind == "broken_promise" for flag in flags):
            missed = (missed_promise_flag(conversation, f) for f in follow_ups)
            flags += [flag for flag in missed if flag is not None][:1]
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        tones = [
            MessageTone(index=i, score=r.score, issues=[x for x in r.issues if x.kind not in _IGNORED_IN_SENT])
            for i, r in reports
        ]
        assistance = Assistance(
            suggestion_id=uuid.uuid4().hex,
            language=language,
            contact_level=level,
            empathy=empathy,
            next_steps=steps,
            articles=articles,
            done_steps=planned.done,
            tone=tone,
            customer=state,
            flags=flags,
            engine="rules",
            timings_ms=timings,
            query=query,
            message_tones=[t for t in tones if t.issues],
            escalation=escalation,
            follow_ups=follow_ups,
            channel=channel.channel,
            channel_note=channel.note,
        )
        return assistance, passages

    def retrieve(
        self, query: str, *, languages: tuple[str, ...], scope: tuple[str, ...] | None = None
    ) -> list[Passage]:
        """:meth:`search_versions`, kept per knowledge-base version (and scope) for the turn's draft edits."""
        if self.index_version is None:
            return self.search_versions(query, languages=languages, scope=scope)
        key = (self.index_version(), query, languages, scope)
        with self._retrievals_lock:
            kept = self._retrievals.get(key)
            if kept is not None:
                self._retrievals.move_to_end(key)
                return list(kept)
        found = self.search_versions(query, languages=languages, scope=scope)
        with self._retrievals_lock:
            self._retrievals[key] = found
            while len(self._retrievals) > RETRIEVALS_KEPT:
                self._retrievals.popitem(last=False)
        return list(found)

    def search_versions(
        self, query: str, *, languages: tuple[str, ...], scope: tuple[str, ...] | None = None
    ) -> list[Passage]:
        """The passages for ``query``, with the versions in ``languages`` (the customer's, the agent's) of the topic
        the steps will come from added when the search did not bring them: a knowledge base often has one topic in
        several languages. That topic is the best passage's that holds a procedure (a numbered list), else the best
        passage's: a passage close to every question ("hub") must not pull in a whole procedure of its topic.
        With a ``scope``, the versions too come from that scope only (one version may be tagged for another)."""
        scoped: Filters = {} if scope is None else {SCOPE: scope}
        found = self.retriever.search(query, k=PASSAGES, language=languages[0], filters=scoped or None)
        passages = [p for p in found if p.kind != POLICY_KIND]
        if not passages:
            return passages
        by_score = sorted(passages, key=lambda p: -p.score)
        anchor = next((p for p in by_score if numbered_items(p.text)), by_score[0])
        topic = anchor.topic or anchor.document_id
        for language in dict.fromkeys(languages):
            if any((p.topic or p.document_id) == topic and p.language == language for p in passages):
                continue
            filters: Filters = {"topic": topic, "language": language, **scoped}
            versions = self.retriever.search(query, k=PASSAGES, language=language, filters=filters)
            # A version ranks with its topic's passage: the planner picks the version by language.
            passages += [v.model_copy(update={"score": anchor.score}) for v in versions]
        return passages

    def alternative_passages(
        self,
        conversation: Conversation,
        passages: Sequence[Passage],
        *,
        topics: int = ALTERNATIVE_TOPICS,
        scope: tuple[str, ...] | None = None,
        search: str = "",
    ) -> list[Passage]:
        """The best passage of each of the next ``topics`` topics that ``passages`` (the rules' answer's) do not
        cover, in the order the retriever ranks them; a passage holding a procedure is preferred within its topic.
        For an LLM, which reads what the conversation is about better than the retriever's vectors do: the rules
        answer is unchanged. ``search``: the LLM's own line for the customer's problem, searched as one more line
        of the conversation's query. An empty list when the knowledge base has nothing more."""
        if topics <= 0:
            return []
        language = self.language_of(conversation)
        scoped: Filters = {} if scope is None else {SCOPE: scope}
        query = search_query(conversation)
        if search.strip():
            query = f"{query}\n{' '.join(search.split())}"
        found = self.retriever.search(query, k=ALTERNATIVES_SEARCHED, language=language, filters=scoped or None)
        covered = {p.topic or p.document_id for p in passages}
        best: dict[str, Passage] = {}
        for passage in sorted((p for p in found if p.kind != POLICY_KIND), key=lambda p: -p.score):
            topic = passage.topic or passage.document_id
            if topic in covered:
                continue
            if topic not in best:
                if len(best) == topics:
                    continue
                best[topic] = passage
            elif not numbered_items(best[topic].text) and numbered_items(passage.text):
                best[topic] = passage
        return list(best.values())

    @staticmethod
    def agent_language(conversation: Conversation) -> str | None:
        agent = conversation.agent
        if agent is None or not agent.language:
            return None
        return validate_language(agent.language, field="conversation.agent.language")

    @staticmethod
    def language_of(conversation: Conversation) -> str:
        if conversation.language:
            return validate_language(conversation.language, field="conversation.language")
        return conversation_language(conversation.customer_texts())

    def _agent_reports(
        self, conversation: Conversation, *, language: str, name: str | None
    ) -> list[tuple[int, ToneReport]]:
        messages = conversation.messages
        return [
            (
                i,
                check_tone(
                    m.text,
                    language=language,
                    customer_name=name,
                    sarcasm=self.sarcasm,
                    customer_text=_last_customer_text(messages[:i]),
                ),
            )
            for i, m in enumerate(messages)
            if m.role == "agent"
        ]


def _procedure_length(passages: Sequence[Passage]) -> int:
    """The number of steps of the best passage's procedure (its highest item number: a chunk may hold its end)."""
    for passage in sorted(passages, key=lambda p: -p.score)[:3]:
        items = numbered_items(passage.text)
        if items:
            return max(item.number for item in items)
    return 0


def _last_customer_text(messages: Sequence[Message]) -> str | None:
    """What the customer said last before a reply (the learned sarcasm scorer reads the reply as its answer)."""
    return next((m.text for m in reversed(messages) if m.role == "customer"), None)
