"""LLM refinement on top of the deterministic answer: better empathy, next steps and rewrite, or nothing lost.

The rules engine answers first and always. ``Refiner`` then asks an LLM, in parallel, for three parts:
empathy phrasings for this conversation, next steps written from the retrieved passages (translated into the
conversation's language, each citing its passages), and a rewrite of the draft that keeps every fact. Before
any text leaves the process, personal data is replaced by placeholders (``assist.privacy``), restored in
what comes back. Each answer is validated against its schema, checked (no leaked instructions, no promise
the policy does not make, the conversation's language, grounding for steps, facts for the rewrite), and only
then replaces the rules part. The stream may also ask for a tone judgement of the draft (``tone_llm``): findings
the rules missed, located in the draft (``assist.refine.tone_findings``), added beside the rules' tone report, which
it never changes. A fault of any kind (deadline, 429/5xx after retries, garbage, a dead endpoint
behind an open circuit breaker) leaves the rules part in place and marks the answer ``degraded``: never an
error. Prompts are the templates in ``prompts/templates``; customer text and passages go in fenced as data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from assist.channel import channel_of, shape_empathy, shape_steps
from assist.errors import LLMUnavailable
from assist.grounding import Embed
from assist.language import detect_language
from assist.llm import CircuitBreaker, LLMCallFailed, TTLCache
from assist.models import Assistance, Conversation, Passage
from assist.next_steps import pick_articles
from assist.ports import LLM, Breaker, ChatReply
from assist.refine.answers import SCHEMAS, Part, parse_json, wire_schema
from assist.refine.checks import NOT_COVERED, Outcome, OutputChecks
from assist.refine.config import RefineConfig
from assist.refine.prompts import Refinement, build_refinement, refinable_follow_up

__all__ = ["Done", "PartUpdate", "Refiner", "second_outcome", "second_steps_job"]

log = logging.getLogger("tactful.llm")
# Finds passages of other topics than those the prompt shows (given) that the conversation may be about, for the
# steps prompt (called only when the LLM is asked for steps).
Alternatives = Callable[[Sequence[Passage]], Sequence[Passage]]
# Finds passages for the LLM's own search line (given: that line and the passages its first steps prompt showed, none
# of them about the problem), for a second steps prompt.
Research = Callable[[str, Sequence[Passage]], Sequence[Passage]]

MIN_CALL_S = 0.05


@dataclass(frozen=True)
class PartUpdate:
    """One LLM part ready: its items (JSON-ready) and the assistance with every part merged so far."""

    part: Part
    items: list[dict[str, Any]]
    assistance: Assistance


@dataclass(frozen=True)
class Done:
    """The end of a refinement: the final assistance (``degraded`` when a part fell back to the rules)."""

    assistance: Assistance


class Refiner:
    """Refines rules answers with an LLM, within a deadline, behind a circuit breaker and a short cache."""

    def __init__(
        self,
        llm: LLM,
        *,
        config: RefineConfig | None = None,
        breaker: Breaker | None = None,
        cache: TTLCache[ChatReply] | None = None,
        embed: Embed | None = None,
        workers: int = 12,
    ) -> None:
        self.llm = llm
        self.config = config or RefineConfig()
        self.breaker: Breaker = breaker or CircuitBreaker()
        self.cache: TTLCache[ChatReply] = cache if cache is not None else TTLCache()
        self.embed = embed
        # A secret in the system prompt: seeing it in an answer means the prompt leaked.
        self.canary = f"TFL-{secrets.token_hex(6)}"
        self.checks = OutputChecks(canary=self.canary, embed=embed, grounding=self.config.grounding)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tactful-llm")
        # The checks use the language identifier, slow to load once: load it now, not in the first request.
        self._pool.submit(detect_language, "warm up the language identifier")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def refine(
        self,
        assistance: Assistance,
        *,
        conversation: Conversation,
        passages: Sequence[Passage],
        draft: str | None = None,
        alternatives: Alternatives | None = None,
        research: Research | None = None,
    ) -> Assistance:
        """The rules ``assistance`` with every part the LLM improved in time replaced."""
        final = assistance
        updates = self.stream(
            assistance,
            conversation=conversation,
            passages=passages,
            draft=draft,
            alternatives=alternatives,
            research=research,
        )
        for update in updates:
            if isinstance(update, Done):
                final = update.assistance
        return final

    def planned(self, assistance: Assistance, draft: str | None, *, judge_tone: bool = False) -> list[Part]:
        """The parts ``stream`` will ask the LLM for (none while the breaker is open): what a client may show as
        still being improved after the rules answer."""
        return [] if self.breaker.state == "open" else _parts(assistance, draft, judge_tone=judge_tone)

    def stream(
        self,
        assistance: Assistance,
        *,
        conversation: Conversation,
        passages: Sequence[Passage],
        draft: str | None = None,
        judge_tone: bool = False,
        alternatives: Alternatives | None = None,
        research: Research | None = None,
    ) -> Iterator[PartUpdate | Done]:
        """A ``PartUpdate`` for each part the LLM improved, as each is ready, then ``Done``.

        ``judge_tone``: also ask for the LLM's tone judgement of the draft (part ``tone_llm``: what the rules
        missed, beside the rules' tone report, which it never changes); a part only when it found something.
        ``alternatives``: called once, when the LLM is asked for next steps, with the passages the prompt shows, for
        passages of other topics the conversation may be about (``AssistEngine.alternative_passages``); the LLM may
        take its steps from them. ``research``: called when the LLM finds no passage about the customer's problem and
        says what to search for, with that line and the passages it was shown; the steps of a second prompt over
        what it finds stand, else no step (the rules' steps came from the same passages) and no article."""
        started = time.perf_counter()
        parts = _parts(assistance, draft, judge_tone=judge_tone)
        if not self.breaker.allow():
            # The fast path that keeps a dead endpoint from adding latency: nothing is built or sent.
            stats = {"model": self.llm.model, "breaker": "open", "parts": {p: {"status": "skipped"} for p in parts}}
            yield Done(_finish(assistance, degraded=bool(parts), stats=stats, started=started))
            return
        job = build_refinement(
            assistance,
            conversation=conversation,
            passages=passages,
            draft=draft,
            config=self.config,
            canary=self.canary,
            alternatives=_alternatives(alternatives, passages[: self.config.passages]) if "next_steps" in parts else (),
        )
        deadline = started + self.config.timeout_s
        futures: dict[Future[Outcome], tuple[Part, Refinement]] = {
            self._pool.submit(self._run, job, p, deadline): (p, job) for p in parts
        }
        outcomes: dict[Part, Outcome] = {}
        uncovered: Outcome | None = None  # the first steps answer, while its second prompt runs
        merged = assistance
        pending = set(futures)
        while pending:
            finished, pending = wait(
                pending, timeout=max(0.0, deadline - time.perf_counter()), return_when=FIRST_COMPLETED
            )
            if not finished:
                break
            for future in finished:
                part, asked = futures[future]
                outcome = _result(future, part)
                if part == "next_steps" and uncovered is None and outcome.reason == NOT_COVERED:
                    second = (
                        second_steps_job(job, outcome, research, config=self.config, canary=self.canary)
                        if deadline - time.perf_counter() >= MIN_CALL_S
                        else None
                    )
                    if second is not None:
                        uncovered = outcome
                        retry = self._pool.submit(self._run, second, "next_steps", deadline)
                        futures[retry] = ("next_steps", second)
                        pending.add(retry)
                        continue
                elif uncovered is not None and part == "next_steps":
                    # The second answer: its steps, or none at all (the first found no passage about the problem).
                    outcome = second_outcome(uncovered, outcome)
                    asked = asked if outcome.items else job
                outcomes[part] = outcome
                if outcome.status == "ok" and (outcome.items or outcome.reason == NOT_COVERED):
                    merged = _merge(merged, outcome, asked)
                    yield PartUpdate(outcome.part, _items(outcome, merged), merged)
        for future in pending:
            future.cancel()
            part = futures[future][0]
            outcomes[part] = Outcome(part, "timeout", reason="deadline")
        if uncovered is not None and outcomes["next_steps"].status == "timeout":
            # The second prompt ran out of time: the first answer stands (no passage about the problem).
            outcome = second_outcome(uncovered, outcomes["next_steps"])
            outcomes["next_steps"] = outcome
            merged = _merge(merged, outcome, job)
            yield PartUpdate(outcome.part, _items(outcome, merged), merged)
        self._tell_breaker(outcomes.values())
        stats = self._stats(outcomes, job)
        degraded = any(o.status != "ok" for o in outcomes.values())
        yield Done(_finish(merged, degraded=degraded, stats=stats, started=started))

    def _tell_breaker(self, outcomes: Iterable[Outcome]) -> None:
        """One verdict per refinement: its parts are not independent trials of the endpoint (one stall stalls all).

        The endpoint worked if it answered any part; it failed if it answered none and a part failed on its side.
        """
        outcomes = list(outcomes)
        if any(o.reply is not None and not o.cached for o in outcomes):
            self.breaker.success()
        elif any(o.status in ("timeout", "unavailable") and o.reason != "queued" for o in outcomes):
            self.breaker.failure()

    # --- one part ----------------------------------------------------------------------------------------

    def _run(self, job: Refinement, part: Part, deadline: float) -> Outcome:
        messages = [{"role": "system", "content": job.system}, {"role": "user", "content": job.prompts[part]}]
        schema = SCHEMAS[part]
        tokens = self.config.max_tokens
        key = _cache_key(self.llm.model, part, messages, tokens)
        reply = self.cache.get(key)
        cached = reply is not None
        if reply is None and deadline - time.perf_counter() < MIN_CALL_S:
            # Waited in the pool until the deadline: our load, not the endpoint's fault.
            return Outcome(part, "timeout", reason="queued")
        if reply is None:
            try:
                reply = self.llm.complete_json(
                    messages,
                    schema=wire_schema(part),
                    name=part,
                    timeout_s=max(0.001, deadline - time.perf_counter()),
                    max_tokens=tokens,
                )
            except LLMUnavailable as exc:
                reason = exc.reason if isinstance(exc, LLMCallFailed) else "unavailable"
                status = "timeout" if reason == "timeout" else "unavailable"
                log.info("llm part %s: %s (%s)", part, status, reason)
                return Outcome(part, status, reason=reason)
        try:
            parsed = schema.model_validate(parse_json(reply.text))
        except (ValueError, ValidationError) as exc:
            log.info("llm part %s: malformed output (%s)", part, type(exc).__name__)
            return Outcome(part, "malformed", reply=reply, cached=cached, reason=type(exc).__name__)
        if not cached:
            self.cache.put(key, reply)
        outcome = self.checks.check(part, parsed, job)
        outcome.reply, outcome.cached = reply, cached
        log.info("llm part %s: %s %s", part, outcome.status, outcome.reason)
        return outcome

    def _stats(self, outcomes: Mapping[Part, Outcome], job: Refinement) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        for part, o in outcomes.items():
            entry: dict[str, Any] = {"status": o.status}
            if o.reason:
                entry["reason"] = o.reason
            if o.reply is not None:
                entry |= {
                    "latency_ms": 0.0 if o.cached else o.reply.latency_ms,
                    "tokens_in": o.reply.tokens_in,
                    "tokens_out": o.reply.tokens_out,
                    "attempts": o.reply.attempts,
                    "finish_reason": o.reply.finish_reason,
                    "cached": o.cached,
                }
            if part in ("next_steps", "tone_llm"):
                entry |= {"proposed": o.proposed, "dropped": sum(o.dropped.values()), "dropped_by": o.dropped}
            if part == "next_steps" and (o.search or o.retried):
                entry |= {"search": o.search, "retried": o.retried} | ({"second": o.second} if o.second else {})
            parts[part] = entry
        fresh = [o.reply for o in outcomes.values() if o.reply is not None and not o.cached]
        return {
            "model": self.llm.model,
            "breaker": self.breaker.state,
            "parts": parts,
            "tokens_in": sum(r.tokens_in for r in fresh),
            "tokens_out": sum(r.tokens_out for r in fresh),
            "cache_hits": sum(1 for o in outcomes.values() if o.cached),
            "privacy": {"enabled": job.vault.enabled, "placeholders": len(job.vault.mapping)},
        }


def _alternatives(find: Alternatives | None, shown: Sequence[Passage]) -> Sequence[Passage]:
    """Passages of other topics than ``shown`` for the steps prompt: none when there is no finder or it fails (the
    retriever's trouble must not cost the LLM's answer)."""
    if find is None:
        return ()
    try:
        return list(find(shown))
    except Exception:  # any failure of the search: the prompt goes without them
        log.warning("alternative passages not found; the steps prompt goes without them", exc_info=True)
        return ()


def second_steps_job(
    job: Refinement, first: Outcome, research: Research | None, *, config: RefineConfig, canary: str
) -> Refinement | None:
    """The steps prompt over the passages found for the LLM's search line (``first``: its answer finding no passage
    about the problem); None when there is no line, nothing new is found or the search fails."""
    if research is None or not first.search or config.research_topics <= 0:
        return None
    try:
        found = list(research(first.search, list(job.passages.values())))
    except Exception:  # the retriever's trouble must not cost the first answer
        log.exception("search for the LLM's steps line failed")
        return None
    if not found:
        return None
    return build_refinement(
        job.assistance, conversation=job.conversation, passages=found, draft=job.draft, config=config, canary=canary
    )


def second_outcome(first: Outcome, second: Outcome) -> Outcome:
    """What the steps part ends as once a second prompt was tried: its steps when some stand, else the first
    answer's (no passage about the problem), saying how the second fared."""
    if second.status == "ok" and second.items:
        second.retried, second.search = True, first.search
        return second
    return Outcome(
        "next_steps", "ok", reason=NOT_COVERED, search=first.search, retried=True,
        reply=first.reply, cached=first.cached, second=second.reason or second.status,
    )  # fmt: skip


def _parts(assistance: Assistance, draft: str | None, *, judge_tone: bool = False) -> list[Part]:
    parts: list[Part] = ["empathy", "next_steps"]
    has_draft = bool(draft and draft.strip() and assistance.tone is not None)
    if has_draft:
        parts.append("rewrite")
    if refinable_follow_up(assistance) is not None:
        parts.append("follow_up")
    if has_draft and judge_tone:
        parts.append("tone_llm")
    return parts


def _result(future: Future[Outcome], part: Part) -> Outcome:
    try:
        return future.result()
    except Exception:  # the promise is "never an error": a bug in one part leaves the rules answer in place
        log.exception("llm part %s failed", part)
        return Outcome(part, "error", reason="internal")


def _merge(assistance: Assistance, outcome: Outcome, job: Refinement) -> Assistance:
    """``assistance`` with the part the LLM improved; phrasings and steps shaped for the channel as the rules'."""
    channel = channel_of(job.conversation, language=job.language).channel
    if outcome.part == "empathy":
        empathy = shape_empathy(outcome.items, job.conversation, channel=channel, language=job.language)
        return assistance.model_copy(update={"empathy": empathy, "engine": "llm"})
    if outcome.part == "next_steps":
        steps = shape_steps(outcome.items, channel=channel)
        update: dict[str, Any] = {"next_steps": steps, "engine": "llm"}
        if outcome.reason == NOT_COVERED:
            update["articles"] = []  # from the passages the LLM found to be about something else
        elif outcome.retried:  # steps from a second search: its articles, not the first search's
            cited = {c.document_id for step in steps for c in step.citations}
            found = [p for p in job.passages.values() if p.document_id in cited]
            update["articles"] = pick_articles(found, language=job.language)
        return assistance.model_copy(update=update)
    if outcome.part == "follow_up":
        chosen = refinable_follow_up(assistance)
        follow_ups = [
            f.model_copy(update={"text": outcome.items[0]}) if f is chosen else f for f in assistance.follow_ups
        ]
        return assistance.model_copy(update={"follow_ups": follow_ups, "engine": "llm"})
    if outcome.part == "tone_llm":  # beside the rules' tone report, never in it
        return assistance.model_copy(update={"tone_llm": outcome.items, "engine": "llm"})
    tone = assistance.tone
    assert tone is not None
    new_tone = tone.model_copy(update={"rewrite": outcome.items[0], "engine": "llm"})
    return assistance.model_copy(update={"tone": new_tone, "engine": "llm"})


def _items(outcome: Outcome, merged: Assistance) -> list[dict[str, Any]]:
    """The part's items as the merged answer holds them (phrasings and steps shaped for the channel)."""
    if outcome.part in ("rewrite", "follow_up"):
        return [{"text": outcome.items[0]}]
    if outcome.part == "tone_llm":
        return [finding.model_dump(mode="json") for finding in merged.tone_llm]
    items = merged.empathy if outcome.part == "empathy" else merged.next_steps
    return [item.model_dump(mode="json") for item in items]


def _finish(assistance: Assistance, *, degraded: bool, stats: dict[str, Any], started: float) -> Assistance:
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    stats["latency_ms"] = elapsed
    timings = {**assistance.timings_ms, "llm": elapsed}
    return assistance.model_copy(update={"degraded": degraded, "llm": stats, "timings_ms": timings})


def _cache_key(model: str, part: str, messages: list[dict[str, str]], tokens: int) -> str:
    payload = json.dumps({"model": model, "part": part, "messages": messages, "tokens": tokens}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
