"""Which contact level a case deserves: no_touch, low_touch or high_touch, with the reasons why.

The level is about the case, not the mood of the customer and not the kind of customer: a one-off buyer of an
expensive, complex product is high touch, and an angry customer with a cheap, simple question is not. An
override on the case always wins. Otherwise each known fact adds points (``POINTS``) and the total picks
the level (``HIGH_TOUCH_FROM``, ``NO_TOUCH_UP_TO``). Reasons are sentences from
``prompts/banks/contact_level/<lang>.toml`` naming each fact.
"""

from __future__ import annotations

from typing import Any

from assist.models import Case, ContactLevel, ContactLevelDecision, Conversation, Grade
from prompts import load_bank

BANK = "contact_level"
HIGH_VALUE = 1_000.0
MEDIUM_VALUE = 300.0
LOW_VALUE = 50.0
# Points per fact; the total decides. A VIP alone is enough for high touch, and so is a purchase of
# HIGH_VALUE or more or a strategically important account; a cheap or simple product leans to self-service.
POINTS: dict[str, int] = {
    "vip": 6,
    "value_high": 4,
    "value_medium": 1,
    "value_moderate": 0,
    "value_low": -1,
    "complexity_high": 2,
    "complexity_medium": 1,
    "complexity_low": -1,
    "strategic_high": 3,
    "strategic_medium": 1,
    "strategic_low": -1,
}
HIGH_TOUCH_FROM = 3
NO_TOUCH_UP_TO = -1
DEFAULT_LEVEL: ContactLevel = "low_touch"


def _value_fact(value: float) -> str:
    if value >= HIGH_VALUE:
        return "value_high"
    if value >= MEDIUM_VALUE:
        return "value_medium"
    return "value_moderate" if value >= LOW_VALUE else "value_low"


def _case_facts(case: Case, *, vip: bool) -> list[str]:
    """The facts that count, as ``POINTS`` keys, in the order they are explained."""
    facts = ["vip"] if vip else []
    if case.purchase_value is not None:
        facts.append(_value_fact(case.purchase_value))
    grades: tuple[tuple[str, Grade | None], ...] = (
        ("complexity", case.product_complexity),
        ("strategic", case.strategic_importance),
    )
    facts += [f"{name}_{grade}" for name, grade in grades if grade is not None]
    return facts


def _level_for(score: int) -> ContactLevel:
    if score >= HIGH_TOUCH_FROM:
        return "high_touch"
    return "no_touch" if score <= NO_TOUCH_UP_TO else "low_touch"


def format_number(value: float, *, thousands: str, decimal: str) -> str:
    """``value`` with the bank's separators: whole numbers without decimals, others with two."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def _threshold(fact: str) -> float:
    return HIGH_VALUE if fact == "value_high" else LOW_VALUE


def _reason(fact: str, case: Case, bank: dict[str, Any]) -> str:
    template: str = bank["reasons"][fact]
    if not fact.startswith("value_") or case.purchase_value is None:
        return template
    numbers = bank["numbers"]
    value = format_number(case.purchase_value, thousands=numbers["thousands"], decimal=numbers["decimal"])
    threshold = format_number(_threshold(fact), thousands=numbers["thousands"], decimal=numbers["decimal"])
    return template.replace("{value}", value).replace("{threshold}", threshold)


def decide_contact_level(conversation: Conversation, *, language: str) -> ContactLevelDecision:
    """The case's contact level and the reasons for it, written in ``language``.

    An override on the case wins (source "override"); otherwise the level is inferred from purchase value,
    product complexity, strategic importance and the customer's VIP flag, with low touch when none is known.
    """
    bank = load_bank(BANK, language)
    case = conversation.case
    if case.contact_level is not None:
        label = bank["levels"][case.contact_level]
        return ContactLevelDecision(
            level=case.contact_level, source="override", reasons=[bank["reasons"]["override"].replace("{level}", label)]
        )
    facts = _case_facts(case, vip=conversation.customer.vip)
    if not facts:
        return ContactLevelDecision(level=DEFAULT_LEVEL, source="inferred", reasons=[bank["reasons"]["default"]])
    level = _level_for(sum(POINTS[f] for f in facts))
    reasons = [_reason(f, case, bank) for f in facts] + [bank["summary"][level]]
    return ContactLevelDecision(level=level, source="inferred", reasons=reasons)
