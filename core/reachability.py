"""Whether the gateway may send to a contact now: opt-out (STOP/START) and reply windows.

The rules are written once, here; the stores keep the facts they need (the lead's
`opted_out` flag, and its `last_seen_at`: the person's last message) in the same
transactions as the messages, and hand them back with the step that starts a send
(`MessageStore.mark_sending`), so the check and the send see the same state with no extra
read.

- A message whose whole text is a stop word (any case, surrounding spaces ignored) opts the
  contact out on a channel whose traits say `opt_out` is `gateway` (the gateway confirms
  once and refuses sends) or `provider` (the provider confirms and refuses sends itself);
  `START` opts an opted-out contact back in. The agent is not called for these; a stop word
  from a contact already out gets nothing; `START` from anyone else is an ordinary message
  (a click-to-chat "Start" is a greeting, and the agent answers it).
- While a contact is opted out nothing is sent to it: no agent reply, no human reply, no
  template; only the confirmation of the stop word itself.
- On a channel with a reply window (its traits' `reply_window_s`), a free-form message is
  sent only within the window after the person's last message (not the last message of the
  session); a template may be sent at any time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ports.values import (
    OPT_OUT_GATEWAY,
    OPT_OUT_NONE,
    ChannelTraits,
    Reach,
)
from ports.values import OPTED_OUT as OPTED_OUT  # the reasons a refused send is failed with
from ports.values import OUTSIDE_WINDOW as OUTSIDE_WINDOW

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START"})


# What a user message the gateway answers itself is (its `control`, decided on arrival).
STOP = "stop"  # opted out now: confirm
START = "start"  # opted back in: confirm
REPEAT = "repeat"  # a stop word from a contact already out: nothing is sent

STOP_CONFIRMATION = (
    "You have been unsubscribed and will receive no more messages. Reply START to resubscribe."
)
START_CONFIRMATION = "You have been resubscribed. Reply STOP to unsubscribe."


def opt_out_change(traits: ChannelTraits, text: str) -> bool | None:
    """True when `text` opts its sender out on this channel, False when it opts back in,
    None when it is an ordinary message (or the channel has no opt-out)."""
    if traits.opt_out == OPT_OUT_NONE:
        return None
    word = text.strip().upper()
    if word in STOP_WORDS:
        return True
    if word in START_WORDS:
        return False
    return None


def control_of(traits: ChannelTraits, text: str, opted_out: bool) -> tuple[str | None, bool | None]:
    """A message's control (STOP, START, REPEAT, or None: the agent answers it) and the
    lead's new opt-out flag (None: unchanged), given whether the contact is out now."""
    change = opt_out_change(traits, text)
    if change is None or (change is False and not opted_out):
        return None, None
    if change is opted_out:
        return REPEAT, None
    return (STOP if change else START), change


def confirmation(traits: ChannelTraits, control: str) -> str | None:
    """What the gateway answers a control message with; None for a repeated stop word, and
    where the provider answers it itself (`opt_out` is `provider`)."""
    if traits.opt_out != OPT_OUT_GATEWAY or control == REPEAT:
        return None
    return STOP_CONFIRMATION if control == STOP else START_CONFIRMATION


def window_open(traits: ChannelTraits, last_user_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may go out now: always on a channel without a window;
    within `reply_window_s` of the person's last message on one with it."""
    if traits.reply_window_s is None:
        return True
    if last_user_at is None:
        return False
    return now - last_user_at < timedelta(seconds=traits.reply_window_s)


def refusal(
    traits: ChannelTraits,
    reach: Reach,
    now: datetime,
    content: str,
    template: bool = False,
) -> str | None:
    """Why a message may not be sent to the contact now (OPTED_OUT, OUTSIDE_WINDOW), or None.

    `content` is the message's text: the confirmation of a stop word goes out to the contact
    who has just opted out (and to no one else: the agent is not called for an opted-out
    contact, so no reply of its can carry that text)."""
    if reach.opted_out and (template or content != STOP_CONFIRMATION):
        return OPTED_OUT
    if not template and not window_open(traits, reach.last_user_at, now):
        return OUTSIDE_WINDOW
    return None
