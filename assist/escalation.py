"""Which support tier a case needs, and what the agent should do about it: keep, escalate, offer a person, or send
the customer an article.

Contact centres work in three tiers: basic (simple questions), intermediate (harder problems, experienced agents)
and advanced (senior agents, expert advice). The tier a case needs comes from what the customer describes (a
technical fault, a billing dispute, a policy exception, a safety or legal risk, a formal complaint), from what was
already tried (steps done, "I already restarted it"), from repeated contacts, rising frustration and what is at
stake (a valuable customer threatening to leave). The tier it is at comes from the helpdesk (``case.tier``, basic
when absent). A case on self-service that needs a person gets ``offer_human``; a simple question handled by a
person that an article fully answers gets ``offer_self_service``.

The cues live in ``prompts/banks/escalation/<lang>.toml`` (every language's bank reads the customer's messages);
the reasons are written in the agent's language. A company's own escalation policy (a knowledge-base document of
kind ``escalation_policy``: a heading per tier, one trigger per bullet) replaces the default cues when it exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from assist.customer_state import VERY_FRUSTRATED_FROM as HIGH_FRUSTRATION
from assist.models import (
    TIERS,
    Article,
    ContactLevel,
    Conversation,
    CustomerState,
    Escalation,
    EscalationAction,
    Tier,
)
from assist.text import compile_folded, fold, stems, words
from prompts import SUPPORTED_LANGUAGES, load_bank

BANK = "escalation"
POLICY_KIND = "escalation_policy"  # a knowledge-base document of this kind holds the company's escalation policy
# Cues read in the customer's messages, by the tier they call for at least.
INTERMEDIATE_CUES = ("technical", "dispute", "exception", "tried")
ADVANCED_CUES = ("safety", "complaint")
# Customer-state signals (assist.customer_state) by the tier they call for.
INTERMEDIATE_SIGNALS = ("repeat_contact", "threat_to_leave")
ADVANCED_SIGNALS = ("legal",)
LONG_PROCEDURE = 6  # steps: a procedure this long is more than a basic question
SELF_SERVICE_RELEVANCE = 0.5  # an article this relevant to the question answers it
# Where an article can replace a person: a simple question on a costly channel (a phone call, a long e-mail
# thread), for a case that is not high touch (a dedicated person stays with it).
SELF_SERVICE_LEVELS: frozenset[ContactLevel] = frozenset({"low_touch", "no_touch"})
LONG_THREAD = 4  # messages: an e-mail thread this long costs more than the article
POLICY_MATCH = 0.6  # share of a policy trigger's content words the customer's messages must hold


@dataclass(frozen=True)
class Cues:
    language: str
    patterns: Mapping[str, tuple[re.Pattern[str], ...]]


@cache
def _cues(language: str) -> Cues:
    bank = load_bank(BANK, language)
    return Cues(language, {name: compile_folded(regexes) for name, regexes in bank["cues"].items()})


def _found_cues(texts: Sequence[str], language: str) -> set[str]:
    """The cues found in ``texts``, read with the bank of their language and the English one."""
    folded = [fold(t) for t in texts]
    found: set[str] = set()
    for bank_language in dict.fromkeys((language, "en")):
        for name, patterns in _cues(bank_language).patterns.items():
            if name not in found and any(p.search(t) for p in patterns for t in folded):
                found.add(name)
    return found


@dataclass(frozen=True)
class PolicyRule:
    tier: Tier
    text: str
    min_value: float | None  # a purchase-value trigger ("orders over 2,000 EUR")
    stems: frozenset[str]


def parse_policy(text: str) -> list[PolicyRule]:
    """The triggers of a company escalation policy: under a heading naming a tier (in any of our languages), one
    rule per bullet or numbered line."""
    rules: list[PolicyRule] = []
    tier: Tier | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            tier = _heading_tier(fold(stripped))
            continue
        bullet = re.match(r"^(?:[-*•]|\d+[.)])\s+(.*)$", stripped)
        if tier is None or bullet is None:
            continue
        rule = bullet.group(1).strip()
        rules.append(PolicyRule(tier, rule, _min_value(rule), frozenset(stems(words(rule), min_length=4))))
    return rules


@dataclass(frozen=True)
class _PolicyWords:
    headings: Mapping[Tier, re.Pattern[str]]
    value: re.Pattern[str]


@cache
def _policy_words(language: str) -> _PolicyWords:
    spec = load_bank(BANK, language)["policy"]
    headings = {tier: compile_folded([spec["headings"][tier]])[0] for tier in TIERS}
    return _PolicyWords(headings, compile_folded([spec["value"]])[0])


def _heading_tier(folded: str) -> Tier | None:
    for language in SUPPORTED_LANGUAGES:
        headings = _policy_words(language).headings
        for tier in reversed(TIERS):
            if headings[tier].search(folded):
                return tier
    return None


def _min_value(rule: str) -> float | None:
    folded = fold(rule)
    for language in SUPPORTED_LANGUAGES:
        m = _policy_words(language).value.search(folded)
        if m is not None:
            digits = re.sub(r"[^\d]", "", m["n"].split(",")[0] if "," in m["n"][-3:] else m["n"])
            return float(digits) if digits else None
    return None


def _rule_matches(rule: PolicyRule, conversation: Conversation, customer_stems: set[str]) -> bool:
    if rule.min_value is not None:
        value = conversation.case.purchase_value
        return value is not None and value >= rule.min_value
    if not rule.stems:
        return False
    return len(rule.stems & customer_stems) / len(rule.stems) >= POLICY_MATCH


def _rank(tier: Tier) -> int:
    return TIERS.index(tier)


@dataclass
class _Advice:
    """The tier a case needs so far, and why (in the bank's language)."""

    bank: Mapping[str, Any]
    needed: Tier = "basic"
    reasons: list[str] = field(default_factory=list)

    def need(self, needed: Tier, reason: str, **values: Any) -> None:
        if _rank(needed) > _rank(self.needed):
            self.needed = needed
        self.say(reason, **values)

    def say(self, reason: str, **values: Any) -> None:
        self.reasons.append(self.bank["reasons"][reason].format(**values))


def advise_escalation(
    conversation: Conversation,
    *,
    language: str,
    level: ContactLevel,
    state: CustomerState,
    customer_language: str | None = None,
    done_steps: int = 0,
    procedure_steps: int = 0,
    articles: Sequence[Article] = (),
    policy: str | None = None,
) -> Escalation:
    """The tier the case is at and needs, the action for the agent, and the reasons, in ``language`` (the agent's);
    the customer's messages are read in ``customer_language`` (``language`` when not given).

    ``done_steps``/``procedure_steps``: how much of the knowledge base's procedure the conversation already did and
    how long it is (named among the reasons for a harder tier); ``articles``: what the customer could be sent;
    ``policy``: the text of the company's escalation policy.
    """
    bank = load_bank(BANK, language)
    current: Tier = conversation.case.tier or "basic"
    customer = conversation.customer_texts()
    cues = _found_cues(customer, customer_language or language)
    advice = _Advice(bank)
    rules = parse_policy(policy) if policy else []
    if rules:
        customer_stems = stems(words(" ".join(customer)), min_length=4)
        for rule in rules:
            if _rule_matches(rule, conversation, customer_stems):
                advice.need(rule.tier, "policy", rule=rule.text)
    else:
        _default_needs(advice, conversation, cues=cues, level=level, state=state)
        if advice.needed != "basic" and done_steps:
            advice.say("done_steps", n=done_steps)
        if advice.needed != "basic" and procedure_steps >= LONG_PROCEDURE:
            advice.say("long_procedure", n=procedure_steps)
    needed = advice.needed
    reasons = list(advice.reasons)
    on_self_service = level == "no_touch" or _bot_answers(conversation)
    asks_person = "human" in cues
    action: EscalationAction
    to_tier: Tier | None = None
    if on_self_service and (needed != "basic" or asks_person or state.frustration >= HIGH_FRUSTRATION):
        action = "offer_human"
        reasons.insert(0, bank["reasons"]["bot"])
    elif _rank(needed) > _rank(current):
        action, to_tier = "escalate", needed
    elif needed == "basic" and level in SELF_SERVICE_LEVELS and _costly(conversation) and not asks_person:
        article = next((a for a in articles if a.sendable and a.score >= SELF_SERVICE_RELEVANCE), None)
        action = "offer_self_service" if article is not None else "keep"
        if article is not None:
            reasons += [bank["reasons"]["simple"], bank["reasons"]["article"].format(title=article.title)]
    else:
        action = "keep"
    tiers = bank["tiers"]
    summary = bank["actions"][action].format(tier=tiers[current], to=tiers[to_tier] if to_tier else "")
    return Escalation(tier=current, needed=needed, action=action, to_tier=to_tier, reasons=[summary, *reasons])


def _default_needs(
    advice: _Advice,
    conversation: Conversation,
    *,
    cues: set[str],
    level: ContactLevel,
    state: CustomerState,
) -> None:
    signals = set(state.signals)
    valuable = level == "high_touch" or conversation.customer.vip or conversation.case.strategic_importance == "high"
    for cue in ADVANCED_CUES:
        if cue in cues:
            advice.need("advanced", cue)
    for signal in ADVANCED_SIGNALS:
        if signal in signals:
            advice.need("advanced", signal)
    if "threat_to_leave" in signals and valuable:
        advice.need("advanced", "valuable_leaving")
    for cue in INTERMEDIATE_CUES:
        if cue in cues:
            advice.need("intermediate", cue)
    for signal in INTERMEDIATE_SIGNALS:
        if signal in signals and not (signal == "threat_to_leave" and valuable):
            advice.need("intermediate", signal)
    if state.frustration >= HIGH_FRUSTRATION:
        advice.need("intermediate", "frustration")
    if "human" in cues and level != "no_touch":
        advice.need("intermediate", "human")
    current: Tier = conversation.case.tier or "basic"
    failing = "tried" in cues or "repeat_contact" in signals or state.frustration >= HIGH_FRUSTRATION
    if current == "intermediate" and failing:
        advice.need("advanced", "failed_at", tier=advice.bank["tiers"][current])


def _costly(conversation: Conversation) -> bool:
    """Whether a person answering on this channel costs much more than an article: a call, a long e-mail thread."""
    channel = (conversation.channel or "").lower()
    return channel == "phone" or (channel == "email" and len(conversation.messages) >= LONG_THREAD)


def _bot_answers(conversation: Conversation) -> bool:
    """Whether the customer is talking to a bot: the last reply came from one and no agent has written."""
    replies = [m.role for m in conversation.messages if m.role != "customer"]
    return bool(replies) and replies[-1] == "bot" and "agent" not in replies
