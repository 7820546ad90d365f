"""How a refinement runs: its deadline, privacy, answer length and how much of the case goes into a prompt."""

from __future__ import annotations

from dataclasses import dataclass, field

from assist.grounding import Grounding

__all__ = ["RefineConfig"]


@dataclass(frozen=True)
class RefineConfig:
    timeout_s: float = 8.0
    privacy: bool = True
    max_tokens: int = 600
    passages: int = 5
    alternatives: int = 2  # passages of other topics in the steps prompt, at most
    # When the LLM finds no passage about the customer's problem: the best passage of this many more topics, searched
    # with the LLM's own search line, in a second steps prompt (0: none; the first answer stands).
    research_topics: int = 3
    passage_chars: int = 900
    messages: int = 8
    message_chars: int = 1200
    grounding: Grounding = field(default_factory=Grounding)
