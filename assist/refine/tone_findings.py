"""Which of the LLM's tone findings reach the agent, decided without the LLM: the same answer always gives the same
findings.

A finding stands when its kind is one the LLM is asked for, its quote is words of the draft (its span is where they
occur: the first occurrence no rules issue and no earlier finding marks), and at most ``MAX_TONE_FINDINGS`` stood
before it. The LLM may only add what the rules missed, so a finding whose words overlap a rules issue goes, whatever
the issue's kind: words the rules marked are already in front of the agent with a fix, and the kinds overlap
across the two (our ``irony``, ``eye_roll`` and ``scare_quotes`` are the LLM's ``sarcasm``; ``order`` may be its
``condescension``), so "same kind only" would show the agent the same words twice. The exception is the kinds that
say what the draft lacks or how long it is (``PLACEMENT_KINDS``): their spans mark where a fix goes (the greeting,
the first sentence) or the whole draft, not words judged wrong, and would hide every finding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast, get_args

from assist.models import LLMToneFinding, LLMToneKind, ToneIssue

__all__ = [
    "LLM_TONE_KINDS",
    "MAX_TONE_FINDINGS",
    "PLACEMENT_KINDS",
    "Located",
    "Proposed",
    "locate_findings",
    "overlaps",
]

MAX_TONE_FINDINGS = 3
LLM_TONE_KINDS: tuple[str, ...] = get_args(LLMToneKind)
PLACEMENT_KINDS = frozenset({"missing_name", "missing_acknowledgement", "too_curt", "too_long"})
MIN_QUOTE_CHARS = 3
_QUOTE_MARKS = "\"'“”‘’«»„"


@dataclass(frozen=True)
class Proposed:
    """One finding as the LLM wrote it (personal data already restored)."""

    quote: str
    kind: str
    reason: str
    suggestion: str = ""


@dataclass
class Located:
    """The findings that stand, in the order proposed, and how many were dropped, by reason."""

    findings: list[LLMToneFinding] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def locate_findings(
    proposed: Sequence[Proposed], draft: str, issues: Sequence[ToneIssue], *, limit: int = MAX_TONE_FINDINGS
) -> Located:
    """The proposed findings that stand against ``draft`` and the rules' ``issues`` of it (see the module)."""
    taken = [(i.start, i.end) for i in issues if i.kind not in PLACEMENT_KINDS]
    located = Located()
    for finding in proposed:
        reason = _refusal(finding, draft, taken, limit=limit - len(located.findings))
        if reason:
            located.drop(reason)
            continue
        span = _free_span(finding.quote, draft, taken)
        assert span is not None  # _refusal said so
        start, end = span
        located.findings.append(
            LLMToneFinding(
                kind=cast(LLMToneKind, _kind(finding.kind)),
                start=start,
                end=end,
                quote=draft[start:end],
                message=finding.reason.strip(),
                suggestion=finding.suggestion.strip(),
            )
        )
        taken.append(span)
    return located


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two ``[start, end)`` spans share a character."""
    return a[0] < b[1] and b[0] < a[1]


def _refusal(finding: Proposed, draft: str, taken: list[tuple[int, int]], *, limit: int) -> str | None:
    if _kind(finding.kind) not in LLM_TONE_KINDS:
        return "kind"
    if len(_quote(finding.quote, draft).strip()) < MIN_QUOTE_CHARS:
        return "too_short"
    if not any(True for _ in _occurrences(finding.quote, draft)):
        return "not_in_draft"
    if _free_span(finding.quote, draft, taken) is None:
        return "overlap"
    if limit <= 0:
        return "cap"
    return None


def _kind(kind: str) -> str:
    """``"Unkeepable promise"`` → ``unkeepable_promise``."""
    return "_".join(kind.strip().lower().replace("-", " ").split())


def _quote(quote: str, draft: str) -> str:
    """The quote as the draft has it: a model may wrap it in quotation marks or spaces the draft does not have."""
    bare = quote.strip()
    return bare if bare in draft else bare.strip(_QUOTE_MARKS).strip()


def _occurrences(quote: str, draft: str) -> Iterator[tuple[int, int]]:
    text = _quote(quote, draft)
    if not text:
        return
    at = draft.find(text)
    while at >= 0:
        yield at, at + len(text)
        at = draft.find(text, at + 1)


def _free_span(quote: str, draft: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first occurrence of ``quote`` in ``draft`` that no taken span overlaps."""
    return next((span for span in _occurrences(quote, draft) if not any(overlaps(span, t) for t in taken)), None)
