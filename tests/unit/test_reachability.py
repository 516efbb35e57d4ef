"""core.reachability: stop and start words, the reply window, and what refuses a send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.reachability import (
    OPTED_OUT,
    OUTSIDE_WINDOW,
    REPEAT,
    START,
    START_CONFIRMATION,
    STOP,
    STOP_CONFIRMATION,
    STOP_WORDS,
    confirmation,
    control_of,
    opt_out_change,
    refusal,
    window_open,
)
from ports.values import OPT_OUT_GATEWAY, OPT_OUT_NONE, OPT_OUT_PROVIDER, ChannelTraits, Reach

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WHATSAPP = ChannelTraits("whatsapp", "twilio", 1500, True, 86400, OPT_OUT_GATEWAY, True)
SMS = ChannelTraits("sms", "sms", 1500, True, None, OPT_OUT_PROVIDER)
TELEGRAM = ChannelTraits("telegram", "telegram", 4096, False)


@pytest.mark.parametrize(
    "text", ["STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "Cancel", "END", "quit\n"]
)
def test_the_contracts_stop_words_in_any_case_opt_out(text: str) -> None:
    assert opt_out_change(WHATSAPP, text) is True
    assert opt_out_change(SMS, text) is True


@pytest.mark.parametrize("text", ["please stop", "stop.", "STOP STOP", "ending", "", "stöp"])
def test_a_message_that_is_not_exactly_a_stop_word_is_ordinary(text: str) -> None:
    assert opt_out_change(WHATSAPP, text) is None


def test_start_opts_back_in_and_channels_without_opt_out_ignore_both() -> None:
    assert opt_out_change(WHATSAPP, " start ") is False
    assert opt_out_change(TELEGRAM, "STOP") is None
    assert opt_out_change(TELEGRAM, "START") is None
    assert STOP_WORDS == {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}


def test_what_a_stop_or_start_word_does_depends_on_whether_the_contact_is_out() -> None:
    assert control_of(WHATSAPP, "STOP", opted_out=False) == (STOP, True)
    assert control_of(WHATSAPP, "stop", opted_out=True) == (REPEAT, None)  # nothing again
    assert control_of(WHATSAPP, "START", opted_out=True) == (START, False)
    # "Start" from someone who never opted out is a greeting: the agent answers it.
    assert control_of(WHATSAPP, "Start", opted_out=False) == (None, None)
    assert control_of(WHATSAPP, "hello", opted_out=True) == (None, None)
    assert control_of(SMS, "STOP", opted_out=False) == (STOP, True)
    assert control_of(TELEGRAM, "STOP", opted_out=False) == (None, None)


def test_the_gateway_confirms_where_the_provider_does_not() -> None:
    assert confirmation(WHATSAPP, STOP) == STOP_CONFIRMATION
    assert confirmation(WHATSAPP, START) == START_CONFIRMATION
    assert confirmation(WHATSAPP, REPEAT) is None
    assert confirmation(SMS, STOP) is None  # Twilio's Advanced Opt-Out answers on SMS
    assert TELEGRAM.opt_out == OPT_OUT_NONE


def test_the_window_is_open_until_exactly_its_length_after_the_last_user_message() -> None:
    assert window_open(WHATSAPP, T0, T0 + timedelta(seconds=86399))
    assert not window_open(WHATSAPP, T0, T0 + timedelta(seconds=86400))
    assert not window_open(WHATSAPP, None, T0)  # the person never wrote
    assert window_open(SMS, None, T0) and window_open(SMS, T0, T0 + timedelta(days=30))


def test_what_refuses_a_send() -> None:
    late = T0 + timedelta(days=2)
    fresh, stale = Reach(False, T0), Reach(False, T0 - timedelta(days=2))
    stopped = Reach(True, T0)
    assert refusal(WHATSAPP, fresh, T0, "hi") is None
    assert refusal(WHATSAPP, fresh, late, "hi") == OUTSIDE_WINDOW
    assert refusal(WHATSAPP, stale, T0, "[template HX1]", template=True) is None
    assert refusal(WHATSAPP, stopped, T0, "hi") == OPTED_OUT
    assert refusal(WHATSAPP, stopped, T0, "[template HX1]", template=True) == OPTED_OUT
    # The confirmation of the stop word itself is the one message an opted-out contact gets.
    assert refusal(WHATSAPP, stopped, T0, STOP_CONFIRMATION) is None
    assert refusal(WHATSAPP, stopped, T0, START_CONFIRMATION) == OPTED_OUT
    assert refusal(SMS, Reach(False, T0 - timedelta(days=9)), T0, "hi") is None
