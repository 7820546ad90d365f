"""Personal data out before any text leaves the process, back in what the agent sees.

A ``Pseudonymizer`` replaces emails, phone numbers, payment card numbers (Luhn-checked), IBANs (mod-97
checked), street addresses where their shape is recognisable, order and tracking numbers, and the names of the customer and the agent
by placeholders (``[EMAIL_1]``, ``[CUSTOMER_1]``…), the same value always by the same placeholder within
one pseudonymizer. ``restore`` puts the exact original text back. National phone shapes, street words and
how names decline are data in ``prompts/banks/privacy/<lang>.toml``; the shapes that are the same in every
country (emails, cards, IBANs, international numbers) and their checksums are here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from prompts import load_bank

__all__ = ["KINDS", "Pseudonymizer", "iban_valid", "luhn_valid"]

KINDS = ("EMAIL", "IBAN", "CARD", "PHONE", "ADDRESS", "ORDER", "CUSTOMER", "AGENT")
MIN_NAME_PART = 2
MIN_STEM = 3
PHONE_DIGITS = (7, 15)
IBAN_LENGTH = (15, 34)

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?!\w)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![a-z0-9])")
_CARD = re.compile(
    r"(?<![\d-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}[ -]?\d{6}[ -]?\d{4,5}|\d{13,19})(?![\d-])"
)
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?!\w)")
# Order, tracking and case numbers: they identify a customer as surely as a name does. Five digits or more in a
# row (optionally after a short letter prefix), or "#" and three digits; dates, amounts and times have fewer.
_ORDER = re.compile(r"(?<![\w#/.,:-])(?:#\d{3,}|[A-Z]{0,4}-?\d{5,}(?:-\d+)*)(?![\w/]|[.,:]\d)")
_PLACEHOLDER = re.compile(r"\[(" + "|".join(KINDS) + r")_(\d{1,4})\]", re.IGNORECASE)
_NAME_SPLIT = re.compile(r"[\s,]+")


def luhn_valid(digits: str) -> bool:
    """Whether the digit string passes the Luhn checksum every payment card number carries."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """Whether ``iban`` (spaces allowed) has a valid ISO 13616 mod-97 checksum."""
    compact = iban.replace(" ", "").upper()
    if not (IBAN_LENGTH[0] <= len(compact) <= IBAN_LENGTH[1]) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


@dataclass(frozen=True)
class _Rules:
    phones: tuple[re.Pattern[str], ...]
    addresses: tuple[re.Pattern[str], ...]
    endings: str
    stems: tuple[tuple[str, str], ...]


@cache
def _rules(language: str) -> _Rules:
    bank = load_bank("privacy", language)
    names = bank.get("names", {})
    return _Rules(
        phones=tuple(re.compile(p) for p in bank.get("phones", [])),
        addresses=tuple(re.compile(p) for p in bank.get("addresses", [])),
        endings=names.get("endings", ""),
        stems=tuple((str(a), str(b)) for a, b in names.get("stems", [])),
    )


class Pseudonymizer:
    """Replaces personal data by placeholders and restores them; one instance per request, shared by its texts."""

    def __init__(
        self,
        *,
        language: str = "en",
        customer_names: Sequence[str | None] = (),
        agent_names: Sequence[str | None] = (),
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._rules = _rules(language)
        self._names = [
            (kind, regex)
            for kind, names in (("CUSTOMER", customer_names), ("AGENT", agent_names))
            if (regex := self._name_pattern(names)) is not None
        ]
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self.mapping: dict[str, str] = {}

    def redact(self, text: str) -> str:
        """``text`` with every piece of personal data replaced by its placeholder."""
        if not self.enabled or not text:
            return text
        # Text that already looks like a placeholder is data, not one of ours: defuse it so restore leaves it.
        out = _PLACEHOLDER.sub(lambda m: f"({m[1]}_{m[2]})", text)
        out = self._sub(_EMAIL, "EMAIL", out)
        out = self._sub(_IBAN, "IBAN", out, check=_iban_span)
        out = self._sub(_CARD, "CARD", out, check=_card_span)
        for regex in (_PHONE_INTL, *self._rules.phones):
            out = self._sub(regex, "PHONE", out, check=_phone_span)
        for regex in self._rules.addresses:
            out = self._sub(regex, "ADDRESS", out)
        out = self._sub(_ORDER, "ORDER", out)
        for kind, regex in self._names:
            out = self._sub(regex, kind, out)
        return out

    def placeholder_for(self, value: str | None) -> str | None:
        """The placeholder that stands for ``value`` in redacted text (the value itself when nothing replaced it)."""
        if value is None:
            return None
        return self.redact(value)

    def restore(self, text: str) -> str:
        """``text`` with every placeholder this pseudonymizer made replaced by the original value."""
        if not self.enabled:
            return text
        return _PLACEHOLDER.sub(lambda m: self.mapping.get(_key(m), m[0]), text)

    def unknown_placeholders(self, text: str) -> list[str]:
        """Placeholders in ``text`` that this pseudonymizer never made (an LLM invented them)."""
        return [m[0] for m in _PLACEHOLDER.finditer(text) if _key(m) not in self.mapping]

    def _sub(
        self,
        regex: re.Pattern[str],
        kind: str,
        text: str,
        *,
        check: Callable[[str], tuple[int, int] | None] | None = None,
    ) -> str:
        def replace(m: re.Match[str]) -> str:
            if _PLACEHOLDER.fullmatch(m[0]):
                return m[0]
            span = (0, len(m[0])) if check is None else check(m[0])
            if span is None:
                return m[0]
            head, value, tail = m[0][: span[0]], m[0][span[0] : span[1]], m[0][span[1] :]
            return head + self._placeholder(kind, value) + tail

        return regex.sub(replace, text)

    def _placeholder(self, kind: str, value: str) -> str:
        found = self._by_value.get((kind, value))
        if found:
            return found
        self._counts[kind] = self._counts.get(kind, 0) + 1
        placeholder = f"[{kind}_{self._counts[kind]}]"
        self._by_value[(kind, value)] = placeholder
        self.mapping[placeholder] = value
        return placeholder

    def _name_pattern(self, names: Iterable[str | None]) -> re.Pattern[str] | None:
        full = [n.strip() for n in names if n and n.strip()]
        parts = {p for name in full for p in _NAME_SPLIT.split(name) if len(p) >= MIN_NAME_PART}
        if not full:
            return None
        # Full names first, then their parts longest first, so that "Ada Lovelace" wins over "Ada".
        forms = [re.escape(n) for n in sorted(full, key=len, reverse=True)]
        forms += [re.escape(p) + self._declined(p) for p in sorted(parts, key=len, reverse=True)]
        return re.compile(r"(?<!\w)(?:" + "|".join(forms) + r")(?!\w)", re.IGNORECASE)

    def _declined(self, part: str) -> str:
        """A regex tail that also matches the declined forms of ``part`` (empty for languages without cases)."""
        if not self._rules.endings or len(part) <= MIN_STEM:
            return ""
        for suffix, replacement in self._rules.stems:
            if part.lower().endswith(suffix) and len(part) - len(suffix) + len(replacement) >= MIN_STEM:
                stem = part[: len(part) - len(suffix)] + replacement
                return f"|{re.escape(stem)}{self._rules.endings}"
        return f"|{re.escape(part)}{self._rules.endings}"


def _key(m: re.Match[str]) -> str:
    return f"[{m[1].upper()}_{m[2]}]"


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card_span(match: str) -> tuple[int, int] | None:
    return (0, len(match)) if luhn_valid(_digits(match)) else None


def _phone_span(match: str) -> tuple[int, int] | None:
    low, high = PHONE_DIGITS
    return (0, len(match)) if low <= len(_digits(match)) <= high else None


def _iban_span(match: str) -> tuple[int, int] | None:
    """The longest prefix of ``match`` that is a valid IBAN: the greedy pattern may have taken a word after it."""
    ends = [i + 1 for i, ch in enumerate(match) if ch != " "]
    for end in reversed(ends):
        if iban_valid(match[:end]):
            return (0, end)
    return None
