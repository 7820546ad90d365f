"""The checks every LLM answer passes before it replaces a rules part: no leaked instructions, no copied sample,
no invented placeholder, no promise the policy does not make, the conversation's language, grounding for steps,
every fact kept and no worse tone for the rewrite."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assist.empathy import first_name
from assist.grounding import Embed, Grounding, ProposedStep, ground_steps, lost_facts
from assist.language import detect_language
from assist.models import EmpathySuggestion
from assist.next_steps import LEVEL_LIMITS
from assist.ports import ChatReply
from assist.refine.answers import EmpathyOut, FollowUpOut, Part, RewriteOut, StepsOut, ToneJudgementOut, _Out
from assist.refine.prompts import EMPATHY_COUNT, Refinement, normal
from assist.refine.tone_findings import Proposed, locate_findings
from assist.tone import check_tone

__all__ = ["NOT_COVERED", "Outcome", "OutputChecks"]

# The LLM read the passages and found none about the customer's problem: no step, and the rules' steps (from the same
# passages) are not shown either.
NOT_COVERED = "not covered"

PROMISES = frozenset({"absolute_promise", "unkeepable_promise"})
LEAK_WORDS = 8
LANGUAGE_CHECK_WORDS = 6
MIN_WORDS = 3
_WORD = re.compile(r"\w+")
_PLACEHOLDERISH = re.compile(r"\[[A-Z]+_\d+\]")


@dataclass
class Outcome:
    part: Part
    status: str  # ok, timeout, unavailable, malformed, rejected, skipped
    items: list[Any] = field(default_factory=list)
    reply: ChatReply | None = None
    cached: bool = False
    reason: str = ""
    proposed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    search: str = ""  # next steps not covered: the LLM's search for the customer's problem
    retried: bool = False  # next steps: asked again over the passages found for ``search``
    second: str = ""  # ... and how that second answer fared when it gave no step


class OutputChecks:
    """Checks the answers of one refiner; ``canary`` is the secret its system prompt carries."""

    def __init__(self, *, canary: str, embed: Embed | None, grounding: Grounding) -> None:
        self.canary = canary
        self.embed = embed
        self.grounding = grounding

    def check(self, part: Part, parsed: _Out, job: Refinement) -> Outcome:
        if isinstance(parsed, EmpathyOut):
            return self._empathy(parsed, job)
        if isinstance(parsed, StepsOut):
            return self._steps(parsed, job)
        if isinstance(parsed, FollowUpOut):
            return self._follow_up(parsed, job)
        if isinstance(parsed, ToneJudgementOut):
            return self._tone_llm(parsed, job)
        assert isinstance(parsed, RewriteOut)
        return self._rewrite(parsed, job)

    def _follow_up(self, parsed: FollowUpOut, job: Refinement) -> Outcome:
        """The follow-up message: safe like a phrasing (no new promise, no leak, the customer's language)."""
        text = job.vault.restore(parsed.message).strip()
        reason = self._unsafe(text, job, promises=True)
        if reason:
            return Outcome("follow_up", "rejected", reason=reason)
        return Outcome("follow_up", "ok", items=[text])

    def _tone_llm(self, parsed: ToneJudgementOut, job: Refinement) -> Outcome:
        """The LLM's tone findings that stand: safe to show (no leak, the conversation's language, a suggestion
        that promises nothing), then located in the draft and kept only where the rules marked nothing."""
        dropped: dict[str, int] = {}
        safe: list[Proposed] = []
        for raw in parsed.findings:
            finding = Proposed(
                quote=job.vault.restore(raw.quote),
                kind=raw.kind,
                reason=job.vault.restore(raw.reason).strip(),
                suggestion=job.vault.restore(raw.suggestion).strip(),
            )
            reason = self._unsafe(finding.reason, job, promises=False)
            if reason is None and finding.suggestion:
                reason = self._unsafe(finding.suggestion, job, promises=True, min_words=1)
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
            else:
                safe.append(finding)
        tone = job.assistance.tone
        located = locate_findings(safe, job.draft or "", tone.issues if tone else [])
        for reason, count in located.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        outcome = Outcome("tone_llm", "ok", items=located.findings, proposed=len(parsed.findings))
        outcome.dropped = dropped
        if not located.findings:
            outcome.reason = "nothing the rules missed"
        return outcome

    def _empathy(self, parsed: EmpathyOut, job: Refinement) -> Outcome:
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
            return Outcome("empathy", "rejected", reason=",".join(sorted(set(reasons))) or "empty")
        return Outcome("empathy", "ok", items=items[: EMPATHY_COUNT + 1])

    def _steps(self, parsed: StepsOut, job: Refinement) -> Outcome:
        if parsed.uncovered:  # no step, and no passage about the customer's problem: nothing to check
            search = " ".join(job.vault.restore(parsed.search).split())
            return Outcome("next_steps", "ok", reason=NOT_COVERED, search=search)
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
            config=self.grounding,
        )
        for reason, count in grounded.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        steps = grounded.steps[: LEVEL_LIMITS[job.assistance.contact_level.level]]
        outcome = Outcome("next_steps", "ok" if steps else "rejected", items=steps, proposed=len(parsed.steps))
        outcome.dropped = dropped
        if not steps:
            outcome.reason = "no grounded step" if parsed.steps else "no step"
        return outcome

    def _rewrite(self, parsed: RewriteOut, job: Refinement) -> Outcome:
        draft = job.draft or ""
        text = job.vault.restore(parsed.rewrite).strip()
        reason = self._unsafe(text, job, promises=False)
        name = job.conversation.customer.name
        if reason is None and (lost := lost_facts(draft, text, names=[name, first_name(name)])):
            reason = f"facts changed ({len(lost)})"
        if reason is None:
            reason = self._worse_tone(text, job)
        if reason:
            return Outcome("rewrite", "rejected", reason=reason)
        return Outcome("rewrite", "ok", items=[text])

    def _worse_tone(self, text: str, job: Refinement) -> str | None:
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

    def _unsafe(self, text: str, job: Refinement, *, promises: bool, min_words: int = MIN_WORDS) -> str | None:
        """Why ``text`` may not reach the agent: a leak of the instructions, an invented placeholder, a promise…"""
        if self.canary in text or _shares_run(text, job.system, LEAK_WORDS):
            return "leak"
        if normal(text) in job.examples:
            return "copied"
        if len(_WORD.findall(text)) < min_words:
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


def _shares_run(text: str, secret: str, n: int) -> bool:
    """Whether ``text`` repeats ``n`` consecutive words of ``secret``."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < n:
        return False
    secret_words = [w.lower() for w in _WORD.findall(secret)]
    runs = {tuple(secret_words[i : i + n]) for i in range(len(secret_words) - n + 1)}
    return any(tuple(words[i : i + n]) in runs for i in range(len(words) - n + 1))
