"""Suggestions shaped for the channel: e-mail greets and signs off, chat and SMS stay short, the phone is said aloud,
a social reply is public; an unknown channel is chat and the Assistance says so."""

from __future__ import annotations

from typing import Any

import pytest

from assist.channel import SMS_CHARS, channel_of, shape_empathy, spell_numbers
from assist.models import Conversation, EmpathySuggestion
from prompts import SUPPORTED_LANGUAGES, load_bank
from tests.factories import conversation, rules

LONG = EmpathySuggestion(
    text="I'm really sorry your parcel LM-5520318 is late. I know how frustrating waiting is. "
    "I'm looking at it right now. Details: https://lumora.example/track/LM-5520318 " + "More words. " * 40,
    trigger="delay",
)


def _conv(**fields: Any) -> Conversation:
    return Conversation.model_validate(conversation(**fields))


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_email_greets_by_name_and_signs_off(language: str) -> None:
    bank = load_bank("channel", language)
    [item] = shape_empathy([LONG], _conv(customer={"name": "ada lovelace"}), channel="email", language=language)
    assert item.text.startswith(bank["greeting"].format(name="Ada")) and item.text.endswith(bank["sign_off"])
    assert item.channel == "email"


def test_sms_is_one_sentence_within_320_characters_and_chat_two_sentences() -> None:
    [sms] = shape_empathy([LONG], _conv(), channel="sms", language="en")
    assert len(sms.text) <= SMS_CHARS and sms.text == "I'm really sorry your parcel LM-5520318 is late."
    [chat] = shape_empathy([LONG], _conv(), channel="chat", language="en")
    assert chat.text.endswith("how frustrating waiting is.") and chat.channel == "chat"
    huge = EmpathySuggestion(text="word " * 200)
    assert len(shape_empathy([huge], _conv(), channel="sms", language="en")[0].text) <= SMS_CHARS


def test_the_phone_reads_numbers_aloud_has_no_links_and_reminds_to_stay_calm() -> None:
    items = shape_empathy([LONG], _conv(), channel="phone", language="it")
    assert "https://" not in items[0].text and "5 5 2 0 3 1 8" in items[0].text
    assert items[-1].text == load_bank("channel", "it")["phone_reminder"] and items[-1].channel == "phone"
    assert spell_numbers("Order LM-5520318, ok") == "Order L M, 5 5 2 0 3 1 8, ok"


def test_a_social_reply_reminds_it_is_public_and_offers_a_private_channel() -> None:
    bank = load_bank("channel", "es")
    items = shape_empathy([LONG], _conv(), channel="social", language="es")
    assert items[0].text == bank["social_reminder"] and items[-1].text == bank["social_offer"]
    assert all(item.channel == "social" for item in items)


def test_an_unknown_channel_is_chat_and_the_assistance_says_so() -> None:
    assert channel_of(_conv(channel="Email"), language="en").channel == "email"
    decision = channel_of(_conv(channel="whatsapp"), language="pl")
    assert decision.channel == "chat" and "whatsapp" in decision.note
    result, _, _ = rules(conversation(channel="whatsapp"))
    assert result.channel == "chat" and "whatsapp" in result.channel_note
    assert all(step.channel == "chat" for step in result.next_steps)
    assert all(item.channel == "chat" for item in result.empathy)
    result, _, _ = rules(conversation(channel="email"))
    assert (result.channel, result.channel_note) == ("email", "")


def test_every_language_has_every_channel_phrase() -> None:
    keys = set(load_bank("channel", "en"))
    for language in SUPPORTED_LANGUAGES:
        assert set(load_bank("channel", language)) == keys, language
