"""Which contact level a case deserves: no_touch, low_touch or high_touch, with the reasons why.

The level is about the case, not the mood of the customer and not the kind of customer: a one-off buyer of an
expensive, complex product is high touch, and an angry customer with a cheap, simple question is not. An
override on the case always wins. Otherwise each known fact adds points (``POINTS``) and the total picks
the level (``HIGH_TOUCH_FROM``, ``NO_TOUCH_UP_TO``). Reasons are sentences from
``prompts/banks/contact_level/<lang>.toml`` naming each fact.

A helpdesk installation may add its own rules (``ContactRules``) on what the helpdesk knows of the customer (plan,
lifetime value, tags) or the case: the first matching rule that sets a level decides; rules that give points bias
the total; ``default_level`` replaces low touch when nothing is known. The override still wins.
"""

from __future__ import annotations

import re
from typing import Any, Required, cast

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator
from typing_extensions import TypedDict  # pydantic reads a TypedDict from here on Python < 3.12

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


_CONDITIONS = ("equals", "one_of", "at_least", "below", "contains")
RULE_FIELD = r"^(customer|case)(\.[A-Za-z_][A-Za-z0-9_]{0,63}){1,2}$"
RuleScalar = str | float | bool


class ContactRuleJson(TypedDict, total=False):
    """A rule as answered: its own keys only."""

    name: str
    field: Required[str]
    equals: RuleScalar
    one_of: list[str | float]
    at_least: float
    below: float
    contains: str
    level: ContactLevel
    points: int


class ContactRule(BaseModel):
    """When the customer's or the case's ``field`` meets one condition, set ``level`` or add ``points``.

    ``customer.<name>`` is read from what the helpdesk sent about the customer (``customer.plan``), else from its
    ``attributes`` or ``custom_attributes`` (Chatwoot's); ``case.<name>`` from the case (``case.purchase_value``).
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="shown in the level's reasons (default: the condition, 'plan = enterprise')")  # fmt: skip
    field: str = Field(max_length=140, pattern=RULE_FIELD, description="customer.<attribute> or case.<attribute>")
    equals: RuleScalar | None = Field(default=None, description="the value equals this (text: ignoring case)")
    one_of: list[str | float] | None = Field(default=None, min_length=1, max_length=50)
    at_least: float | None = Field(default=None, description="a number at least this")
    below: float | None = Field(default=None, description="a number below this")
    contains: str | None = Field(default=None, min_length=1, max_length=100,
                                 description="a list (or comma-separated text) holding this tag, ignoring case")  # fmt: skip
    level: ContactLevel | None = Field(default=None, description="the level it sets (the first matching rule wins)")
    points: int | None = Field(default=None, ge=-10, le=10, description="added to the case's points (bias)")

    @model_validator(mode="after")
    def _one_condition_one_effect(self) -> ContactRule:
        given = [c for c in _CONDITIONS if getattr(self, c) is not None]
        if len(given) != 1:
            raise ValueError(f"a rule has exactly one condition of {list(_CONDITIONS)}, not {given or 'none'}")
        if (self.level is None) == (self.points is None):
            raise ValueError("a rule either sets a level or gives points (one of level, points)")
        return self

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> ContactRuleJson:
        """Only the rule's own keys (a rule reads as it was written, not with every other condition as null)."""
        return cast(ContactRuleJson, {key: value for key, value in handler(self).items() if value is not None})

    @property
    def label(self) -> str:
        """How the reasons name it: its name, or its condition ("plan = enterprise")."""
        if self.name:
            return self.name
        short = self.field.split(".", 1)[1]
        if self.equals is not None:
            return f"{short} = {_shown(self.equals)}"
        if self.one_of is not None:
            return f"{short} in {', '.join(_shown(v) for v in self.one_of)}"
        if self.at_least is not None:
            return f"{short} ≥ {_shown(self.at_least)}"
        if self.below is not None:
            return f"{short} < {_shown(self.below)}"
        return f"{short} contains {self.contains}"

    def matches(self, conversation: Conversation) -> bool:
        value = _lookup(conversation, self.field)
        if value is None:
            return False
        if self.equals is not None:
            return _same(value, self.equals)
        if self.one_of is not None:
            return any(_same(value, v) for v in self.one_of)
        if self.contains is not None:
            return self.contains.strip().lower() in _tag_set(value)
        number = _number(value)
        if number is None:
            return False
        return number >= self.at_least if self.at_least is not None else number < (self.below or 0.0)


class ContactRules(BaseModel):
    """An installation's contact-level rules: its default level and its rules, in order."""

    model_config = ConfigDict(extra="forbid")

    default_level: ContactLevel | None = Field(default=None, description="instead of low touch when nothing is known")
    rules: list[ContactRule] = Field(default_factory=list, max_length=50)


def _shown(value: RuleScalar) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _lookup(conversation: Conversation, path: str) -> object:
    root, _sep, rest = path.partition(".")
    data = (conversation.customer if root == "customer" else conversation.case).model_dump()
    value = _walk(data, rest)
    if value is None and root == "customer":
        value = next(
            (v for bag in ("attributes", "custom_attributes") if (v := _walk(data.get(bag), rest)) is not None), None
        )
    return value


def _walk(data: object, path: str) -> object:
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _same(value: object, wanted: RuleScalar) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted or (isinstance(value, str) and value.strip().lower() == str(wanted).lower())
    if isinstance(wanted, int | float):
        number = _number(value)
        return number is not None and number == float(wanted)
    return isinstance(value, str | int | float) and str(value).strip().lower() == wanted.strip().lower()


def _tag_set(value: object) -> set[str]:
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else value if isinstance(value, list | tuple) else []
    return {str(v).strip().lower() for v in items if str(v).strip()}


def decide_contact_level(
    conversation: Conversation, *, language: str, rules: ContactRules | None = None
) -> ContactLevelDecision:
    """The case's contact level and the reasons for it, written in ``language``.

    An override on the case wins (source "override"); otherwise the first of the installation's ``rules`` that
    matches and sets a level decides, else the level is inferred from purchase value, product complexity, strategic
    importance, the customer's VIP flag and the points of matching rules, with the installation's default (else low
    touch) when none is known.
    """
    bank = load_bank(BANK, language)
    case = conversation.case
    if case.contact_level is not None:
        label = bank["levels"][case.contact_level]
        return ContactLevelDecision(
            level=case.contact_level, source="override", reasons=[bank["reasons"]["override"].replace("{level}", label)]
        )
    matched = [r for r in (rules.rules if rules else []) if r.matches(conversation)]
    setter = next((r for r in matched if r.level is not None), None)
    if setter is not None and setter.level is not None:
        reason = bank["reasons"]["rule_level"].replace("{rule}", setter.label)
        reason = reason.replace("{level}", bank["levels"][setter.level])
        return ContactLevelDecision(
            level=setter.level, source="inferred", reasons=[reason, bank["summary"][setter.level]], rules=[setter.label]
        )
    biases = [r for r in matched if r.points is not None]
    facts = _case_facts(case, vip=conversation.customer.vip)
    if not facts and not biases:
        return _default(rules.default_level if rules else None, bank)
    level = _level_for(sum(POINTS[f] for f in facts) + sum(r.points or 0 for r in biases))
    reasons = [_reason(f, case, bank) for f in facts] + [_points_reason(r, bank) for r in biases]
    return ContactLevelDecision(
        level=level, source="inferred", reasons=[*reasons, bank["summary"][level]], rules=[r.label for r in biases]
    )


def _default(level: ContactLevel | None, bank: dict[str, Any]) -> ContactLevelDecision:
    if level is None:
        return ContactLevelDecision(level=DEFAULT_LEVEL, source="inferred", reasons=[bank["reasons"]["default"]])
    reason = bank["reasons"]["installation_default"].replace("{level}", bank["levels"][level])
    return ContactLevelDecision(level=level, source="inferred", reasons=[reason])


def _points_reason(rule: ContactRule, bank: dict[str, Any]) -> str:
    points = f"{rule.points:+d}"
    return str(bank["reasons"]["rule_points"]).replace("{rule}", rule.label).replace("{points}", points)
