"""Suggestions shaped for the channel the customer uses: chat, e-mail, phone, SMS or a public social network.

E-mail gets a greeting and a sign-off; chat and SMS stay short (an SMS at most 320 characters); a phone call gets
phrasing to say aloud (no links, numbers spelled digit by digit) and a calm-speech reminder; a public social reply
gets a reminder that it is public and an offer to move to a private channel. Any other channel is treated as chat,
and the Assistance says so. The words live in ``prompts/banks/channel/<lang>.toml``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from assist.empathy import first_name
from assist.models import Conversation, EmpathySuggestion, NextStep
from assist.text import sentence_spans
from prompts import load_bank

BANK = "channel"
Channel = Literal["chat", "email", "phone", "sms", "social"]
CHANNELS: tuple[Channel, ...] = ("chat", "email", "phone", "sms", "social")
SMS_CHARS = 320
CHAT_SENTENCES = 2  # a chat phrasing longer than this is cut to its first sentences
_LINK = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_NUMBER = re.compile(r"\b[A-Z]{0,4}-?\d{4,}\b")


@dataclass(frozen=True)
class ChannelDecision:
    channel: Channel
    note: str  # why the channel was not the one given ("" when it was)


def channel_of(conversation: Conversation, *, language: str) -> ChannelDecision:
    """The conversation's channel; an unknown one is chat, with a note in ``language`` saying so."""
    raw = (conversation.channel or "chat").strip().lower()
    if raw in CHANNELS:
        return ChannelDecision(raw, "")
    return ChannelDecision("chat", load_bank(BANK, language)["unknown"].format(channel=raw[:40]))


def spell_numbers(text: str) -> str:
    """Order numbers and other long numbers spelled for reading aloud: "LM-5520318" → "L M, 5 5 2 0 3 1 8"."""

    def spelled(m: re.Match[str]) -> str:
        letters, _, digits = m[0].rpartition("-") if "-" in m[0] else ("", "", m[0])
        head = " ".join(letters) + ", " if letters else ""
        return head + " ".join(digits)

    return _NUMBER.sub(spelled, text)


def _short(text: str, *, sentences: int, limit: int | None = None) -> str:
    spans = sentence_spans(text)
    if len(spans) > sentences:
        text = text[: spans[sentences - 1][1]]
    if limit is not None and len(text) > limit:
        cut = text[: limit - 1].rsplit(" ", 1)[0]
        text = cut + "…"
    return text


def shape_empathy(
    items: Sequence[EmpathySuggestion], conversation: Conversation, *, channel: Channel, language: str
) -> list[EmpathySuggestion]:
    """The empathy phrasings written for ``channel``, each saying which channel it is for."""
    bank = load_bank(BANK, language)
    name = first_name(conversation.customer.name)
    out: list[EmpathySuggestion] = []
    for item in items:
        text = item.text
        if channel in ("chat", "social"):
            text = _short(text, sentences=CHAT_SENTENCES)
        elif channel == "sms":
            text = _short(text, sentences=1, limit=SMS_CHARS)
        elif channel == "phone":
            text = spell_numbers(_LINK.sub(bank["link"], text))
        elif channel == "email":
            greeting = bank["greeting"].format(name=name) if name else bank["greeting_plain"]
            text = f"{greeting}\n\n{text}\n\n{bank['sign_off']}"
        out.append(item.model_copy(update={"text": text, "channel": channel}))
    if channel == "phone":
        out.append(EmpathySuggestion(text=bank["phone_reminder"], trigger="phone", channel=channel))
    elif channel == "social":
        out.insert(0, EmpathySuggestion(text=bank["social_reminder"], trigger="public", channel=channel))
        out.append(EmpathySuggestion(text=bank["social_offer"], trigger="go_private", channel=channel))
    return out


def shape_steps(steps: Sequence[NextStep], *, channel: Channel) -> list[NextStep]:
    """The steps, each saying which channel it was written for (on the phone, no link to read out)."""
    return [step.model_copy(update={"channel": channel}) for step in steps]
