"""The prompts of one refinement, built once: personal data replaced by placeholders, data fenced, and what the
output checks will compare the answers to (the passages, the policy texts, the answer formats' sample values)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assist.customer_state import mood
from assist.empathy import first_name
from assist.grounding import facts
from assist.models import Assistance, Conversation, FollowUp, Passage, policy_texts
from assist.next_steps import LEVEL_LIMITS
from assist.privacy import Pseudonymizer
from assist.refine.answers import MAX_LLM_STEPS, SCHEMAS, Part
from assist.refine.config import RefineConfig
from assist.refine.tone_findings import LLM_TONE_KINDS, MAX_TONE_FINDINGS, PLACEMENT_KINDS
from prompts import render

__all__ = ["EMPATHY_COUNT", "Refinement", "build_refinement", "normal", "refinable_follow_up"]

EMPATHY_COUNT = 2
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Refinement:
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


def build_refinement(
    assistance: Assistance,
    *,
    conversation: Conversation,
    passages: Sequence[Passage],
    draft: str | None,
    config: RefineConfig,
    canary: str,
    alternatives: Sequence[Passage] = (),
) -> Refinement:
    """Everything one refinement sends and checks against, computed once. ``alternatives``: passages of other
    topics the conversation may be about, listed apart in the steps prompt only (they may be cited there, and a
    promise a step makes may rest on them; the other prompts keep to ``passages``)."""
    cfg = config
    vault = Pseudonymizer(
        language=assistance.language,
        customer_names=[conversation.customer.name],
        agent_names=[_agent_name(conversation)],
        enabled=cfg.privacy,
    )
    chosen = {f"P{i}": p for i, p in enumerate(passages[: cfg.passages], start=1)}
    others = {f"P{i}": p for i, p in enumerate(alternatives[: cfg.alternatives], start=len(chosen) + 1)}
    level = assistance.contact_level.level
    messages = [
        {"role": m.role, "text": vault.redact(m.text[: cfg.message_chars])}
        for m in conversation.messages[-cfg.messages :]
    ]

    def listed(refs: Mapping[str, Passage]) -> list[dict[str, str]]:
        return [
            {
                "id": ref,
                "title": vault.redact(p.title),
                "language": p.language,
                "text": vault.redact(p.text[: cfg.passage_chars]),
            }
            for ref, p in refs.items()
        ]

    tone = assistance.tone
    redacted_draft = vault.redact(draft or "")
    follow_up = refinable_follow_up(assistance)
    context: dict[str, Any] = {
        "language": assistance.language,
        "level": level,
        "customer": vault.placeholder_for(first_name(conversation.customer.name)) or "",
        "mood": _mood(assistance),
        "count": EMPATHY_COUNT,
        "max_steps": min(LEVEL_LIMITS[level], MAX_LLM_STEPS),
        "conversation": _data(messages),
        "passages": _data(listed(chosen)),
        "alternatives": _data(listed(others)) if others else "",
        "draft": _data(redacted_draft),
        "facts": sorted(facts(redacted_draft)),
        "issues": sorted({vault.redact(i.message) for i in tone.issues}) if tone else [],
        "kind": follow_up.kind if follow_up else "",
        "promised": _data(vault.redact(follow_up.created_from) if follow_up else ""),
        "customer_said": _data(vault.redact(_last_customer_text(conversation)[: cfg.message_chars])),
        "rules_findings": _data(_rules_findings(assistance, draft or "", vault)),
        "tone_kinds": LLM_TONE_KINDS,
        "max_findings": MAX_TONE_FINDINGS,
    }
    system = render("system.j2", canary=canary, language=assistance.language, level=level, privacy=cfg.privacy)
    prompts: dict[Part, str] = {part: render(f"{part}.j2", **context) for part in SCHEMAS}
    examples = frozenset(e for prompt in prompts.values() for e in _examples(prompt))
    # A promise is checked against every policy passage the LLM was shown, the other topics' ones too.
    policy = tuple(policy_texts([*passages, *others.values()]))
    return Refinement(assistance, conversation, draft, vault, system, chosen | others, prompts, examples, policy)


def refinable_follow_up(assistance: Assistance) -> FollowUp | None:
    """The conversation's first open promise or transfer: the follow-up whose message the LLM may write."""
    return next((f for f in assistance.follow_ups if f.status == "open" and f.kind in ("promise", "transfer")), None)


def _last_customer_text(conversation: Conversation) -> str:
    return next((m.text for m in reversed(conversation.messages) if m.role == "customer"), "")


def _rules_findings(assistance: Assistance, draft: str, vault: Pseudonymizer) -> list[dict[str, str]]:
    """The words of the draft the rules already marked, so that the LLM's tone judgement looks for what they missed
    (the kinds that mark where a fix goes, not words, are left out)."""
    issues = assistance.tone.issues if assistance.tone else []
    return [
        {"kind": i.kind, "text": vault.redact(draft[i.start : i.end][:200])}
        for i in issues
        if i.kind not in PLACEMENT_KINDS
    ]


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
            found.add(normal(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(sample)
    return found


def normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _data(value: object) -> str:
    """JSON for a fenced data block; ``<`` and ``>`` escaped so that the data cannot close its fence."""
    return json.dumps(value, ensure_ascii=False, indent=1).replace("<", "\\u003c").replace(">", "\\u003e")


def _mood(assistance: Assistance) -> str:
    return mood(assistance.customer)


def _agent_name(conversation: Conversation) -> str | None:
    """The agent's name, which the pseudonymiser must hide like the customer's (``agent`` is a declared field)."""
    return conversation.agent.name if conversation.agent is not None else None
