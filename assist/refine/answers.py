"""What the LLM is asked to answer, per part: the schemas its answers are validated against, and the JSON in them."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from assist.models import MAX_TEXT_CHARS

__all__ = [
    "SCHEMAS",
    "CitationOut",
    "EmpathyOut",
    "FollowUpOut",
    "Part",
    "RewriteOut",
    "StepOut",
    "StepsOut",
    "ToneFindingOut",
    "ToneJudgementOut",
    "parse_json",
    "wire_schema",
]

Part = Literal["empathy", "next_steps", "rewrite", "follow_up", "tone_llm"]
MAX_LLM_STEPS = 5
MAX_SEARCH_CHARS = 300
# More findings than are ever shown may come back (the extra ones are dropped, counted): one too many must not
# make the whole answer malformed.
MAX_PROPOSED_FINDINGS = 12
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
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
    # With no step: whether a passage is about the customer's problem (all its steps already done) or none is.
    # Left out, no step means none is, as the prompt said before these fields existed.
    covered: bool | None = None
    # With no passage about the problem: the problem as a short help-centre search, in the customer's language.
    search: str = ""

    @field_validator("search")
    @classmethod
    def _short(cls, value: str) -> str:  # a long search line is cut, not a reason to refuse the whole answer
        return " ".join(value.split())[:MAX_SEARCH_CHARS]

    @property
    def uncovered(self) -> bool:
        """No step, and no passage about the customer's problem."""
        return not self.steps and self.covered is not True


class RewriteOut(_Out):
    rewrite: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class FollowUpOut(_Out):
    message: str = Field(min_length=1, max_length=2000)


class ToneFindingOut(_Out):
    """One tone problem the LLM sees: the exact words of the draft, what kind, why, and a better wording. The
    kind is checked per finding (``assist.refine.tone_findings``), not here: one odd kind drops one finding."""

    quote: str = Field(min_length=1, max_length=600)
    kind: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=600)
    suggestion: str = Field(default="", max_length=600)


class ToneJudgementOut(_Out):
    findings: list[ToneFindingOut] = Field(max_length=MAX_PROPOSED_FINDINGS)


SCHEMAS: dict[Part, type[_Out]] = {
    "empathy": EmpathyOut,
    "next_steps": StepsOut,
    "rewrite": RewriteOut,
    "follow_up": FollowUpOut,
    "tone_llm": ToneJudgementOut,
}


@cache
def wire_schema(part: Part) -> dict[str, Any]:
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


def parse_json(text: str) -> object:
    """The JSON object in a model's answer (some wrap it in a Markdown fence)."""
    body = _FENCE.sub("", text.strip())
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("no JSON object in the answer")
        body = body[start : end + 1]
    return json.loads(body)
