"""Each language's tone bank (``prompts/banks/tone/<lang>.toml``) compiled once: rules, cues, models and words.

Everything language-specific in the tone check is data in the banks; this module compiles it, once per language,
and nothing else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from prompts import FALLBACK_LANGUAGE, SUPPORTED_LANGUAGES, load_bank

BANK = "tone"
FLAGS = re.IGNORECASE | re.MULTILINE
_ESCAPED = re.compile(r"\\.")
WORDS = re.compile(r"\w+(?:['’-]\w+)*")
# What <START> stands for in a feature lexicon: the start of the text or of a sentence (opening marks skipped).
OPENING = r"[\s¡¿\"“„«(]*"
START = r"(?:^|(?<=[.!?…])\s+)" + OPENING


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    replacement: str
    needle: str = ""  # lower-case text every match contains: a fast pre-check ("" = always search)


@dataclass(frozen=True)
class Rule:
    kind: str
    dimension: str
    weight: float
    message: str
    alt_message: str
    patterns: tuple[Pattern, ...]
    suggestion: str = ""  # shown when the fix removes the span and leaves no sentence to show
    confirm: re.Pattern[str] | None = None  # ambiguous words: a finding of them needs the learned scorer's support
    why: Mapping[str, str] = field(default_factory=dict)  # reasons by move, filled into the message's {why}


@dataclass(frozen=True)
class Cue:
    """A feature lexicon compiled; ``at_start`` when every pattern is a sentence opening (matched per sentence)."""

    regex: re.Pattern[str]
    at_start: bool


@dataclass(frozen=True)
class Model:
    """A dimension's fitted logistic model: ``cap`` times the chance the text is *not* good comes off the dimension."""

    cap: float
    bias: float
    weights: Mapping[str, float]

    def penalty(self, values: Mapping[str, float]) -> float:
        """How much the features ``values`` take off the dimension: 0 (surely good) .. ``cap``."""
        z = self.bias + sum(weight * values.get(name, 0.0) for name, weight in self.weights.items())
        return self.cap / (1.0 + math.exp(min(50.0, z)))


@dataclass(frozen=True)
class ToneBank:
    language: str
    rules: Mapping[str, Rule]
    greeting: re.Pattern[str]
    default_greeting: str
    greet_with_name: str
    address: tuple[tuple[re.Pattern[str], str, str], ...]
    greeting_punct: str
    acknowledgement: str
    self_service: str
    acknowledgements: re.Pattern[str]
    negations: re.Pattern[str]
    honorifics: frozenset[str]
    caps_allowlist: frozenset[str]
    caps_emphasis: frozenset[str]
    scoring: Mapping[str, Any]
    limits: Mapping[str, int]
    features: Mapping[str, Cue]
    models: Mapping[str, Model]
    weighed: frozenset[str]  # the features some model gives a weight: the only ones a check computes


def bank_language(language: str) -> str:
    """The language whose bank serves ``language`` (English when there is none)."""
    code = language.strip().lower()
    return code if code in SUPPORTED_LANGUAGES else FALLBACK_LANGUAGE


@cache
def tone_bank(language: str) -> ToneBank:
    """The compiled tone bank for ``language`` (cached: the regexes are compiled once per language)."""
    lang = bank_language(language)
    raw = load_bank(BANK, lang)
    text = raw["text"]
    return ToneBank(
        language=lang,
        rules={kind: _rule(kind, spec) for kind, spec in raw["rules"].items()},
        greeting=re.compile(text["greeting"], re.IGNORECASE),
        default_greeting=text["default_greeting"],
        greet_with_name=text["greet_with_name"],
        address=tuple((re.compile(regex), replacement, template) for regex, replacement, template in text["address"]),
        greeting_punct=text["greeting_punct"],
        acknowledgement=text["acknowledgement"],
        self_service=text["self_service"],
        acknowledgements=re.compile("|".join(f"(?:{p})" for p in text["acknowledgements"]), FLAGS),
        negations=re.compile(text["negations"], FLAGS),
        honorifics=frozenset(h.casefold() for h in text["honorifics"]),
        caps_allowlist=frozenset(text["caps_allowlist"]),
        caps_emphasis=frozenset(text["caps_emphasis"]),
        scoring=raw["scoring"],
        limits=raw["limits"],
        features={name: _compile_cue(patterns) for name, patterns in raw["features"].items()},
        models=(models := _models(raw["scoring"])),
        weighed=frozenset(name for model in models.values() for name, weight in model.weights.items() if weight),
    )


def _compile_cue(patterns: Sequence[str]) -> Cue:
    # Lexicons are lower case and searched in the lower-cased draft: three times faster than IGNORECASE.
    # Sentence openings are matched at each sentence start rather than searched for everywhere.
    if all(p.startswith("<START>") for p in patterns):
        alternatives = "|".join(f"(?:{p.removeprefix('<START>')})" for p in patterns)
        return Cue(re.compile(f"{OPENING}(?:{alternatives})", re.MULTILINE), at_start=True)
    alternatives = "|".join(f"(?:{p.replace('<START>', START)})" for p in patterns)
    return Cue(re.compile(alternatives, re.MULTILINE), at_start=False)


def _models(scoring: Mapping[str, Any]) -> dict[str, Model]:
    caps, fitted = scoring["model_caps"], scoring["models"]
    return {
        dimension: Model(float(caps[dimension]), float(spec["bias"]), {k: float(v) for k, v in spec["weights"].items()})
        for dimension, spec in fitted.items()
    }


def _rule(kind: str, spec: Mapping[str, Any]) -> Rule:
    patterns = tuple(
        Pattern(re.compile(regex, FLAGS), replacement, needle(regex)) for regex, replacement in spec["patterns"]
    )
    return Rule(
        kind, spec["dimension"], float(spec["weight"]), spec["message"], spec["alt_message"], patterns,
        suggestion=spec.get("suggestion", ""), why=dict(spec.get("why", {})),
        confirm=re.compile("|".join(spec["confirm"]), FLAGS) if spec.get("confirm") else None,
    )  # fmt: skip


def needle(regex: str) -> str:
    """The longest literal (lower case, 3+ characters) that every match of ``regex`` contains, or "".

    Only literals outside groups and classes count, and none when the pattern has a top-level "|": this keeps
    the answer safe while letting most patterns be skipped with a substring test instead of a regex scan.
    """
    runs, run, depth, in_class = [], "", 0, False
    for c in _ESCAPED.sub("\0", regex):
        if in_class:
            in_class = c != "]"
            continue
        if c == "|" and depth == 0:
            return ""
        if depth == 0 and (c.isalpha() or c in " '"):
            run += c
            continue
        runs.append(run[:-1] if c in "?*{" else run)
        run, depth, in_class = "", depth + (c == "(") - (c == ")"), c == "["
    literal = max((r.strip() for r in [*runs, run]), key=len, default="")
    return literal.lower() if len(literal) >= 3 else ""
