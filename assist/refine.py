"""LLM refinement on top of the deterministic answer: better empathy, next steps and rewrite, or nothing lost.

The rules engine answers first and always. ``Refiner`` then asks an LLM, in parallel, for three parts:
empathy phrasings for this conversation, next steps written from the retrieved passages (translated into the
conversation's language, each citing its passages), and a rewrite of the draft that keeps every fact. Before
any text leaves the process, personal data is replaced by placeholders (``assist.privacy``), restored in
what comes back. Each answer is validated against its schema, checked (no leaked instructions, no promise
the policy does not make, the conversation's language, grounding for steps, facts for the rewrite), and only
then replaces the rules part. A fault of any kind (deadline, 429/5xx after retries, garbage, a dead endpoint
behind an open circuit breaker) leaves the rules part in place and marks the answer ``degraded``: never an
error. Prompts are the templates in ``prompts/templates``; customer text and passages go in fenced as data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from assist.customer_state import mood
from assist.empathy import first_name
from assist.errors import LLMUnavailable
from assist.grounding import Embed, Grounding, ProposedStep, facts, ground_steps, lost_facts
from assist.language import detect_language
from assist.llm import CircuitBreaker, LLMCallFailed, TTLCache
from assist.models import MAX_TEXT_CHARS, Assistance, Conversation, EmpathySuggestion, Passage, policy_texts
from assist.next_steps import LEVEL_LIMITS
from assist.ports import LLM, ChatReply
from assist.privacy import Pseudonymizer
from assist.tone import check_tone
from prompts import render

__all__ = ["Done", "PartUpdate", "RefineConfig", "Refiner"]

log = logging.getLogger("tactful.llm")

Part = Literal["empathy", "next_steps", "rewrite"]
PROMISES = frozenset({"absolute_promise", "unkeepable_promise"})
LEAK_WORDS = 8
LANGUAGE_CHECK_WORDS = 6
MIN_WORDS = 3
MIN_CALL_S = 0.05
EMPATHY_COUNT = 2
MAX_LLM_STEPS = 5
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_WORD = re.compile(r"\w+")
_PLACEHOLDERISH = re.compile(r"\[[A-Z]+_\d+\]")
_GRAMMAR_HEAVY = frozenset({"maxLength", "minLength", "maxItems", "title"})


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


class EmpathyOut(_Out):
    phrasings: list[Sentence] = Field(min_length=1, max_length=4)


class CitationOut(_Out):
    passage: str = Field(min_length=1, max_length=12)
    quote: str = Field(default="", max_length=1000)


class StepOut(_Out):
    text: Sentence
    citations: list[CitationOut] = Field(min_length=1, max_length=4)


class StepsOut(_Out):
    steps: list[StepOut] = Field(max_length=MAX_LLM_STEPS)


class RewriteOut(_Out):
    rewrite: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


SCHEMAS: dict[Part, type[_Out]] = {"empathy": EmpathyOut, "next_steps": StepsOut, "rewrite": RewriteOut}


@dataclass(frozen=True)
class RefineConfig:
    timeout_s: float = 8.0
    privacy: bool = True
    max_tokens: int = 600
    passages: int = 5
    passage_chars: int = 900
    messages: int = 8
    message_chars: int = 1200
    grounding: Grounding = field(default_factory=Grounding)


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


@dataclass
class _Outcome:
    part: Part
    status: str  # ok, timeout, unavailable, malformed, rejected, skipped
    items: list[Any] = field(default_factory=list)
    reply: ChatReply | None = None
    cached: bool = False
    reason: str = ""
    proposed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Refinement:
    """Everything one refinement needs, computed once: the prompts (redacted), and what the checks compare to."""

    assistance: Assistance
    conversation: Conversation
    draft: str | None
    vault: Pseudonymizer
    system: str
    passages: dict[str, Passage]
    prompts: dict[Part, str]
    examples: frozenset[str]  # the sample values of the answer formats, which a weak model may copy
    policy_texts: tuple[str, ...]

    @property
    def language(self) -> str:
        return self.assistance.language


class Refiner:
    """Refines rules answers with an LLM, within a deadline, behind a circuit breaker and a short cache."""

    def __init__(
        self,
        llm: LLM,
        *,
        config: RefineConfig | None = None,
        breaker: CircuitBreaker | None = None,
        cache: TTLCache[ChatReply] | None = None,
        embed: Embed | None = None,
        workers: int = 12,
    ) -> None:
        self.llm = llm
        self.config = config or RefineConfig()
        self.breaker = breaker or CircuitBreaker()
        self.cache: TTLCache[ChatReply] = cache if cache is not None else TTLCache()
        self.embed = embed
        # A secret in the system prompt: seeing it in an answer means the prompt leaked.
        self.canary = f"TFL-{secrets.token_hex(6)}"
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
    ) -> Assistance:
        """The rules ``assistance`` with every part the LLM improved in time replaced."""
        final = assistance
        for update in self.stream(assistance, conversation=conversation, passages=passages, draft=draft):
            if isinstance(update, Done):
                final = update.assistance
        return final

    def planned(self, assistance: Assistance, draft: str | None) -> list[Part]:
        """The parts ``stream`` will ask the LLM for (none while the breaker is open): what a client may show as
        still being improved after the rules answer."""
        return [] if self.breaker.state == "open" else _parts(assistance, draft)

    def stream(
        self,
        assistance: Assistance,
        *,
        conversation: Conversation,
        passages: Sequence[Passage],
        draft: str | None = None,
    ) -> Iterator[PartUpdate | Done]:
        """A ``PartUpdate`` for each part the LLM improved, as each is ready, then ``Done``."""
        started = time.perf_counter()
        parts = _parts(assistance, draft)
        if not self.breaker.allow():
            # The fast path that keeps a dead endpoint from adding latency: nothing is built or sent.
            stats = {"model": self.llm.model, "breaker": "open", "parts": {p: {"status": "skipped"} for p in parts}}
            yield Done(_finish(assistance, degraded=bool(parts), stats=stats, started=started))
            return
        job = self._job(assistance, conversation=conversation, passages=passages, draft=draft)
        deadline = started + self.config.timeout_s
        futures: dict[Future[_Outcome], Part] = {self._pool.submit(self._run, job, p, deadline): p for p in parts}
        outcomes: dict[Part, _Outcome] = {}
        merged = assistance
        pending = set(futures)
        while pending:
            finished, pending = wait(
                pending, timeout=max(0.0, deadline - time.perf_counter()), return_when=FIRST_COMPLETED
            )
            if not finished:
                break
            for future in finished:
                outcome = _result(future, futures[future])
                outcomes[outcome.part] = outcome
                if outcome.status == "ok":
                    merged = _merge(merged, outcome)
                    yield PartUpdate(outcome.part, _items(outcome), merged)
        for future in pending:
            future.cancel()
            outcomes[futures[future]] = _Outcome(futures[future], "timeout", reason="deadline")
        self._tell_breaker(outcomes.values())
        stats = self._stats(outcomes, job)
        degraded = any(o.status != "ok" for o in outcomes.values())
        yield Done(_finish(merged, degraded=degraded, stats=stats, started=started))

    def _tell_breaker(self, outcomes: Iterable[_Outcome]) -> None:
        """One verdict per refinement: its parts are not independent trials of the endpoint (one stall stalls all).

        The endpoint worked if it answered any part; it failed if it answered none and a part failed on its side.
        """
        outcomes = list(outcomes)
        if any(o.reply is not None and not o.cached for o in outcomes):
            self.breaker.success()
        elif any(o.status in ("timeout", "unavailable") and o.reason != "queued" for o in outcomes):
            self.breaker.failure()

    # --- one part ----------------------------------------------------------------------------------------

    def _run(self, job: _Refinement, part: Part, deadline: float) -> _Outcome:
        messages = [{"role": "system", "content": job.system}, {"role": "user", "content": job.prompts[part]}]
        schema = SCHEMAS[part]
        tokens = self.config.max_tokens
        key = _cache_key(self.llm.model, part, messages, tokens)
        reply = self.cache.get(key)
        cached = reply is not None
        if reply is None and deadline - time.perf_counter() < MIN_CALL_S:
            # Waited in the pool until the deadline: our load, not the endpoint's fault.
            return _Outcome(part, "timeout", reason="queued")
        if reply is None:
            try:
                reply = self.llm.complete_json(
                    messages,
                    schema=_wire_schema(part),
                    name=part,
                    timeout_s=max(0.001, deadline - time.perf_counter()),
                    max_tokens=tokens,
                )
            except LLMUnavailable as exc:
                reason = exc.reason if isinstance(exc, LLMCallFailed) else "unavailable"
                status = "timeout" if reason == "timeout" else "unavailable"
                log.info("llm part %s: %s (%s)", part, status, reason)
                return _Outcome(part, status, reason=reason)
        try:
            parsed = schema.model_validate(_json(reply.text))
        except (ValueError, ValidationError) as exc:
            log.info("llm part %s: malformed output (%s)", part, type(exc).__name__)
            return _Outcome(part, "malformed", reply=reply, cached=cached, reason=type(exc).__name__)
        if not cached:
            self.cache.put(key, reply)
        outcome = self._check(part, parsed, job)
        outcome.reply, outcome.cached = reply, cached
        log.info("llm part %s: %s %s", part, outcome.status, outcome.reason)
        return outcome

    def _check(self, part: Part, parsed: _Out, job: _Refinement) -> _Outcome:
        if isinstance(parsed, EmpathyOut):
            return self._empathy(parsed, job)
        if isinstance(parsed, StepsOut):
            return self._steps(parsed, job)
        assert isinstance(parsed, RewriteOut)
        return self._rewrite(parsed, job)

    def _empathy(self, parsed: EmpathyOut, job: _Refinement) -> _Outcome:
        items: list[EmpathySuggestion] = []
        reasons: list[str] = []
        for raw in parsed.phrasings:
            text = job.vault.restore(raw)
            reason = self._unsafe(text, job, promises=True)
            if reason:
                reasons.append(reason)
            elif text not in (i.text for i in items):
                items.append(EmpathySuggestion(text=text, trigger="llm", engine="llm"))
        if not items:
            return _Outcome("empathy", "rejected", reason=",".join(sorted(set(reasons))) or "empty")
        return _Outcome("empathy", "ok", items=items[: EMPATHY_COUNT + 1])

    def _steps(self, parsed: StepsOut, job: _Refinement) -> _Outcome:
        proposed: list[ProposedStep] = []
        dropped: dict[str, int] = {}
        for step in parsed.steps:
            text = job.vault.restore(step.text)
            reason = self._unsafe(text, job, promises=True)
            if reason is None and any(p.text == text for p in proposed):
                reason = "duplicate"
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
            citations = tuple((c.passage, job.vault.restore(c.quote)) for c in step.citations)
            proposed.append(ProposedStep(text=text, citations=citations))
        grounded = ground_steps(
            proposed,
            job.passages,
            language=job.language,
            context="\n".join(m.text for m in job.conversation.messages),
            embed=self.embed,
            config=self.config.grounding,
        )
        for reason, count in grounded.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        steps = grounded.steps[: LEVEL_LIMITS[job.assistance.contact_level.level]]
        outcome = _Outcome("next_steps", "ok" if steps else "rejected", items=steps, proposed=len(parsed.steps))
        outcome.dropped = dropped
        if not steps:
            outcome.reason = "no grounded step" if parsed.steps else "no step"
        return outcome

    def _rewrite(self, parsed: RewriteOut, job: _Refinement) -> _Outcome:
        draft = job.draft or ""
        text = job.vault.restore(parsed.rewrite).strip()
        reason = self._unsafe(text, job, promises=False)
        name = job.conversation.customer.name
        if reason is None and (lost := lost_facts(draft, text, names=[name, first_name(name)])):
            reason = f"facts changed ({len(lost)})"
        if reason is None:
            reason = self._worse_tone(text, job)
        if reason:
            return _Outcome("rewrite", "rejected", reason=reason)
        return _Outcome("rewrite", "ok", items=[text])

    def _worse_tone(self, text: str, job: _Refinement) -> str | None:
        """A rewrite must not read worse than the draft, nor promise what the draft and the policy do not."""
        tone = job.assistance.tone
        level = job.assistance.contact_level.level
        name = job.conversation.customer.name
        report = check_tone(
            text, language=job.language, customer_name=name, contact_level=level, policy_texts=job.policy_texts
        )
        before = {i.kind for i in tone.issues} if tone else set()
        if {i.kind for i in report.issues} & PROMISES - before:
            return "promise"
        if tone is not None and report.score < tone.score:
            return "worse tone"
        return None

    def _unsafe(self, text: str, job: _Refinement, *, promises: bool) -> str | None:
        """Why ``text`` may not reach the agent: a leak of the instructions, an invented placeholder, a promise…"""
        if self.canary in text or _shares_run(text, job.system, LEAK_WORDS):
            return "leak"
        if _normal(text) in job.examples:
            return "copied"
        if len(_WORD.findall(text)) < MIN_WORDS:
            return "too_short"
        if job.vault.unknown_placeholders(text) or (not job.vault.enabled and _PLACEHOLDERISH.search(text)):
            return "placeholder"
        if promises:
            report = check_tone(text, language=job.language, policy_texts=job.policy_texts)
            if any(i.kind in PROMISES for i in report.issues):
                return "promise"
        plain = _PLACEHOLDERISH.sub(" ", text)
        if len(_WORD.findall(plain)) >= LANGUAGE_CHECK_WORDS and detect_language(plain) != job.language:
            return "language"
        return None

    # --- building ---------------------------------------------------------------------------------------

    def _job(
        self,
        assistance: Assistance,
        *,
        conversation: Conversation,
        passages: Sequence[Passage],
        draft: str | None,
    ) -> _Refinement:
        cfg = self.config
        vault = Pseudonymizer(
            language=assistance.language,
            customer_names=[conversation.customer.name],
            agent_names=[_agent_name(conversation)],
            enabled=cfg.privacy,
        )
        chosen = {f"P{i}": p for i, p in enumerate(passages[: cfg.passages], start=1)}
        level = assistance.contact_level.level
        messages = [
            {"role": m.role, "text": vault.redact(m.text[: cfg.message_chars])}
            for m in conversation.messages[-cfg.messages :]
        ]
        listed = [
            {
                "id": ref,
                "title": vault.redact(p.title),
                "language": p.language,
                "text": vault.redact(p.text[: cfg.passage_chars]),
            }
            for ref, p in chosen.items()
        ]
        tone = assistance.tone
        redacted_draft = vault.redact(draft or "")
        context: dict[str, Any] = {
            "language": assistance.language,
            "level": level,
            "customer": vault.placeholder_for(first_name(conversation.customer.name)) or "",
            "mood": _mood(assistance),
            "count": EMPATHY_COUNT,
            "max_steps": min(LEVEL_LIMITS[level], MAX_LLM_STEPS),
            "conversation": _data(messages),
            "passages": _data(listed),
            "draft": _data(redacted_draft),
            "facts": sorted(facts(redacted_draft)),
            "issues": sorted({vault.redact(i.message) for i in tone.issues}) if tone else [],
        }
        system = render("system.j2", canary=self.canary, language=assistance.language, level=level, privacy=cfg.privacy)
        prompts: dict[Part, str] = {part: render(f"{part}.j2", **context) for part in SCHEMAS}
        examples = frozenset(e for prompt in prompts.values() for e in _examples(prompt))
        policy = tuple(policy_texts(passages))
        return _Refinement(assistance, conversation, draft, vault, system, chosen, prompts, examples, policy)

    def _stats(self, outcomes: Mapping[Part, _Outcome], job: _Refinement) -> dict[str, Any]:
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
            if part == "next_steps":
                entry |= {"proposed": o.proposed, "dropped": sum(o.dropped.values()), "dropped_by": o.dropped}
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


# --- helpers -------------------------------------------------------------------------------------------


@cache
def _wire_schema(part: Part) -> dict[str, Any]:
    """The schema sent to the server: the shape only. Length bounds stay in our validation, because a server
    that turns the schema into a grammar (llama.cpp) spells out every allowed length, which makes it crawl."""

    def strip(node: Any, *, names: bool = False) -> Any:
        if isinstance(node, dict):
            # The keys of "properties" are field names, not keywords: keep them all.
            return {k: strip(v, names=k == "properties") for k, v in node.items() if names or k not in _GRAMMAR_HEAVY}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    result: dict[str, Any] = strip(SCHEMAS[part].model_json_schema())
    return result


def _parts(assistance: Assistance, draft: str | None) -> list[Part]:
    parts: list[Part] = ["empathy", "next_steps"]
    if draft and draft.strip() and assistance.tone is not None:
        parts.append("rewrite")
    return parts


def _result(future: Future[_Outcome], part: Part) -> _Outcome:
    try:
        return future.result()
    except Exception:  # the promise is "never an error": a bug in one part leaves the rules answer in place
        log.exception("llm part %s failed", part)
        return _Outcome(part, "error", reason="internal")


def _merge(assistance: Assistance, outcome: _Outcome) -> Assistance:
    if outcome.part == "empathy":
        return assistance.model_copy(update={"empathy": outcome.items, "engine": "llm"})
    if outcome.part == "next_steps":
        return assistance.model_copy(update={"next_steps": outcome.items, "engine": "llm"})
    tone = assistance.tone
    assert tone is not None
    new_tone = tone.model_copy(update={"rewrite": outcome.items[0], "engine": "llm"})
    return assistance.model_copy(update={"tone": new_tone, "engine": "llm"})


def _items(outcome: _Outcome) -> list[dict[str, Any]]:
    if outcome.part == "rewrite":
        return [{"text": outcome.items[0]}]
    return [item.model_dump(mode="json") for item in outcome.items]


def _finish(assistance: Assistance, *, degraded: bool, stats: dict[str, Any], started: float) -> Assistance:
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    stats["latency_ms"] = elapsed
    timings = {**assistance.timings_ms, "llm": elapsed}
    return assistance.model_copy(update={"degraded": degraded, "llm": stats, "timings_ms": timings})


def _examples(prompt: str) -> set[str]:
    """The string values of the sample answer at the end of a prompt, normalised."""
    start = prompt.rfind("format: {")
    if start < 0:
        return set()
    try:
        sample = json.loads(prompt[start + len("format: ") :].strip())
    except ValueError:
        return set()
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.add(_normal(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(sample)
    return found


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _data(value: object) -> str:
    """JSON for a fenced data block; ``<`` and ``>`` escaped so that the data cannot close its fence."""
    return json.dumps(value, ensure_ascii=False, indent=1).replace("<", "\\u003c").replace(">", "\\u003e")


def _json(text: str) -> object:
    """The JSON object in a model's answer (some wrap it in a Markdown fence)."""
    body = _FENCE.sub("", text.strip())
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("no JSON object in the answer")
        body = body[start : end + 1]
    return json.loads(body)


def _cache_key(model: str, part: str, messages: list[dict[str, str]], tokens: int) -> str:
    payload = json.dumps({"model": model, "part": part, "messages": messages, "tokens": tokens}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _shares_run(text: str, secret: str, n: int) -> bool:
    """Whether ``text`` repeats ``n`` consecutive words of ``secret``."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < n:
        return False
    secret_words = [w.lower() for w in _WORD.findall(secret)]
    runs = {tuple(secret_words[i : i + n]) for i in range(len(secret_words) - n + 1)}
    return any(tuple(words[i : i + n]) in runs for i in range(len(words) - n + 1))


def _mood(assistance: Assistance) -> str:
    return mood(assistance.customer)


def _agent_name(conversation: Conversation) -> str | None:
    """The agent's name, which the pseudonymiser must hide like the customer's (``agent`` is a declared field)."""
    return conversation.agent.name if conversation.agent is not None else None
