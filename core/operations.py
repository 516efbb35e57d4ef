"""Operating conversations: when a session needs a person's attention.

The rule is written once, here. The stores keep the flag the core decides on each step that
changes a session's messages (in that step's own transaction), so the inbox filters on an
indexed column and never scans messages. A session needs attention when
- its last user message failed (the agent could not answer it),
- a reply of it is `undelivered`, `failed` or `unknown`, or
- it is paused and a user message waits unanswered (the agent will not answer it).
A new user message, or a new answer, starts the judgement afresh.

Human takeover lives here too: how a person's turn is shown to agents, and how the author of
an operation is recorded.
"""

from __future__ import annotations

from core.reachability import OPTED_OUT
from ports.values import ASSISTANT, FAILED, HUMAN, UNDELIVERED, UNKNOWN, Actor, HistoryEntry

# Reply statuses that mean the person may not have got it.
TROUBLE = frozenset({UNDELIVERED, FAILED, UNKNOWN})


def on_user_message(paused: bool) -> bool:
    """A user message was stored: a paused session now has one unanswered."""
    return paused


def on_answer(user_status: str) -> bool:
    """A user message got its final status and its reply was stored."""
    return user_status == FAILED


def on_reply_status(status: str) -> bool | None:
    """A reply's status changed (a send's outcome, a delivery report): trouble raises the
    flag; good news leaves it as it is (it may stand for a failed user message)."""
    return True if status in TROUBLE else None


def on_pause(paused: bool) -> bool | None:
    """Pausing changes nothing yet (messages held from now on raise the flag); handing the
    session back clears it: the person who resumes it has seen the conversation."""
    return None if paused else False


def on_human_reply() -> bool:
    """A person answered: nothing waits unanswered any more."""
    return False


def on_refused(reason: str) -> bool:
    """A send was refused before it left (core.reachability): a closed window needs a person
    (a template, or nothing); an opted-out contact needs no one."""
    return reason != OPTED_OUT


def actor_name(actor: Actor) -> str:
    """How an operation's author is recorded: the key's label and its workspace."""
    return f"{actor.name} ({actor.workspace_id})"


def for_agent(entry: HistoryEntry) -> HistoryEntry:
    """A human's turn as executors see it: an assistant turn, tagged `by: human`."""
    if entry.role == HUMAN:
        return HistoryEntry(ASSISTANT, entry.content, by=HUMAN)
    return entry
