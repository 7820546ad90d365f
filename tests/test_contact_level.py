"""Contact level: override, inference from the case's facts, reasons in the conversation's language."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from assist.contact_level import ContactRules, decide_contact_level, format_number
from assist.models import Conversation
from prompts import load_bank

LANGUAGES = ("en", "it", "es", "pl")
FORMATTED_4800 = {"en": "4,800", "it": "4.800", "es": "4.800", "pl": "4 800"}


def conversation(*, case: dict[str, Any] | None = None, vip: bool = False, text: str = "Hello") -> Conversation:
    return Conversation.model_validate(
        {
            "id": "c-level",
            "customer": {"name": "Ada", "vip": vip},
            "case": case or {},
            "messages": [{"role": "customer", "text": text}],
        }
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_vip_high_value_complex_case_is_high_touch_with_value_reason(language: str) -> None:
    case = {"purchase_value": 4800, "product_complexity": "high"}
    decision = decide_contact_level(conversation(case=case, vip=True), language=language)
    assert decision.level == "high_touch"
    assert decision.source == "inferred"
    value_reasons = [r for r in decision.reasons if FORMATTED_4800[language] in r]
    assert len(value_reasons) == 1
    assert "≥" in value_reasons[0]
    assert any("VIP" in r for r in decision.reasons)


@pytest.mark.parametrize("language", LANGUAGES)
def test_cheap_simple_product_is_no_touch(language: str) -> None:
    decision = decide_contact_level(
        conversation(case={"purchase_value": 19, "product_complexity": "low"}), language=language
    )
    bank = load_bank("contact_level", language)
    assert decision.level == "no_touch"
    assert any("19" in r and "<" in r for r in decision.reasons)
    assert bank["reasons"]["complexity_low"] in decision.reasons
    assert decision.reasons[-1] == bank["summary"]["no_touch"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_override_wins_over_every_fact(language: str) -> None:
    case = {"purchase_value": 9000, "product_complexity": "high", "contact_level": "low_touch"}
    decision = decide_contact_level(conversation(case=case, vip=True), language=language)
    bank = load_bank("contact_level", language)
    assert decision.level == "low_touch"
    assert decision.source == "override"
    assert decision.reasons == [bank["reasons"]["override"].replace("{level}", bank["levels"]["low_touch"])]


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_case_facts_falls_back_to_low_touch_and_says_so(language: str) -> None:
    decision = decide_contact_level(conversation(), language=language)
    assert decision.level == "low_touch"
    assert decision.source == "inferred"
    assert decision.reasons == [load_bank("contact_level", language)["reasons"]["default"]]


def test_one_off_buyer_of_expensive_complex_product_is_high_touch() -> None:
    decision = decide_contact_level(
        conversation(case={"purchase_value": 2500, "product_complexity": "high"}), language="en"
    )
    assert decision.level == "high_touch"
    assert decision.reasons[0] == "Purchase value 2,500 ≥ 1,000: high value."


def test_vip_alone_is_high_touch_even_for_a_cheap_simple_product() -> None:
    case = {"purchase_value": 10, "product_complexity": "low", "strategic_importance": "low"}
    assert decide_contact_level(conversation(case=case, vip=True), language="en").level == "high_touch"


def test_strategic_account_alone_is_high_touch() -> None:
    decision = decide_contact_level(conversation(case={"strategic_importance": "high"}), language="en")
    assert decision.level == "high_touch"
    assert "Strategically important account." in decision.reasons


@pytest.mark.parametrize(
    ("case", "level"),
    [
        ({"purchase_value": 600, "product_complexity": "medium"}, "low_touch"),
        ({"purchase_value": 600, "product_complexity": "high"}, "high_touch"),
        ({"purchase_value": 120, "product_complexity": "medium"}, "low_touch"),
        ({"purchase_value": 120, "product_complexity": "low"}, "no_touch"),
        ({"purchase_value": 19}, "no_touch"),
        ({"purchase_value": 999.99}, "low_touch"),
        ({"purchase_value": 1000}, "high_touch"),
    ],
)
def test_levels_follow_the_facts(case: dict[str, Any], level: str) -> None:
    assert decide_contact_level(conversation(case=case), language="en").level == level


def test_the_customers_mood_does_not_change_the_level() -> None:
    case = {"purchase_value": 35, "product_complexity": "low"}
    calm = decide_contact_level(conversation(case=case, text="Thanks, quick question."), language="en")
    angry = decide_contact_level(
        conversation(case=case, text="THIRD TIME I WRITE!!! Unacceptable, I will call my lawyer."), language="en"
    )
    assert calm == angry
    assert angry.level == "no_touch"


def test_decimal_values_are_formatted_for_the_language() -> None:
    decision = decide_contact_level(conversation(case={"purchase_value": 1234.5}), language="it")
    assert decision.reasons[0].startswith("Valore dell'acquisto 1.234,50 ≥ 1.000")


def test_unsupported_language_falls_back_to_english() -> None:
    decision = decide_contact_level(conversation(case={"purchase_value": 4800}), language="fr")
    assert decision.reasons[0] == "Purchase value 4,800 ≥ 1,000: high value."


@pytest.mark.parametrize(
    ("value", "thousands", "decimal", "expected"),
    [(4800, ",", ".", "4,800"), (1234567.891, ".", ",", "1.234.567,89"), (19, " ", ",", "19"), (0.5, ",", ".", "0.50")],
)
def test_format_number(value: float, thousands: str, decimal: str, expected: str) -> None:
    assert format_number(value, thousands=thousands, decimal=decimal) == expected


# --- an installation's rules --------------------------------------------------------------------------------------


def rules(*items: dict[str, Any], default: str | None = None) -> ContactRules:
    return ContactRules.model_validate({"default_level": default, "rules": list(items)})


def with_customer(customer: dict[str, Any], case: dict[str, Any] | None = None) -> Conversation:
    return Conversation.model_validate(
        {"id": "c-rules", "customer": customer, "case": case or {}, "messages": [{"role": "customer", "text": "Hi"}]}
    )


def test_the_first_matching_rule_that_sets_a_level_decides_in_order() -> None:
    ordered = rules(
        {"field": "customer.plan", "one_of": ["free", "trial"], "level": "no_touch"},
        {"field": "customer.tags", "contains": "VIP", "level": "high_touch"},
    )
    both = with_customer({"plan": "Free", "tags": "gold, vip"})
    assert decide_contact_level(both, language="en", rules=ordered).level == "no_touch"
    reversed_rules = ContactRules(rules=list(reversed(ordered.rules)))
    decision = decide_contact_level(both, language="en", rules=reversed_rules)
    assert decision.level == "high_touch" and decision.rules == ["tags contains VIP"]


def test_rules_on_missing_or_mistyped_attributes_never_match() -> None:
    numeric = rules({"field": "customer.lifetime_value", "below": 100, "level": "no_touch"}, default="high_touch")
    for customer in ({}, {"lifetime_value": "lots"}, {"lifetime_value": True}, {"lifetime_value": [1]}):
        decision = decide_contact_level(with_customer(customer), language="en", rules=numeric)
        assert decision.level == "high_touch" and decision.rules == [], customer
    assert decide_contact_level(with_customer({"lifetime_value": "99.5"}), language="en", rules=numeric).level == (
        "no_touch"
    )


def test_equals_compares_text_ignoring_case_numbers_as_numbers_and_booleans_strictly() -> None:
    def level(rule_value: object, customer_value: object) -> str:
        rule = rules({"field": "customer.x", "equals": rule_value, "level": "high_touch"})
        return decide_contact_level(with_customer({"x": customer_value}), language="en", rules=rule).level

    assert level("Gold", " gold ") == "high_touch" and level(5, "5.0") == "high_touch"
    assert (
        level(True, True) == "high_touch" and level(True, 1) == "low_touch" and level("gold", "golden") == "low_touch"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_points_bias_the_case_s_facts_and_every_language_names_the_rule(language: str) -> None:
    bias = rules({"field": "case.purchase_value", "at_least": 500, "points": 2, "name": "big basket"})
    decision = decide_contact_level(with_customer({}, {"purchase_value": 600}), language=language, rules=bias)
    assert decision.level == "high_touch"  # 1 (a sizeable purchase) + 2: high touch from 3
    assert decision.rules == ["big basket"] and any("big basket" in r and "+2" in r for r in decision.reasons)
    default = decide_contact_level(with_customer({}), language=language, rules=rules(default="no_touch"))
    assert (
        default.level == "no_touch" and load_bank("contact_level", language)["levels"]["no_touch"] in default.reasons[0]
    )


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "customer.plan", "level": "high_touch"},
        {"field": "customer.plan", "equals": "a", "below": 3, "level": "high_touch"},
        {"field": "customer.plan", "equals": "a"},
        {"field": "customer.plan", "equals": "a", "level": "high_touch", "points": 1},
        {"field": "plan", "equals": "a", "level": "high_touch"},
        {"field": "customer.plan", "equals": "a", "level": "high_touch", "unknown": 1},
    ],
)
def test_a_malformed_rule_is_refused(rule: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rules(rule)
