"""Web chat as a channel: turns what a browser visitor types into an InboundMessage."""

from __future__ import annotations

import re
import secrets
import uuid

from ports.driving import MessageIntake
from ports.values import AcceptResult, InboundMessage

CHANNEL = "web"  # prefixes session ids: web_{agent_id}_{visitor_id}
PLATFORM = "web"  # the leads' platform
MAX_MESSAGE = 4096
MAX_NAME = 100
_VISITOR = re.compile(r"^[0-9a-f]{16,64}$")


def new_visitor_id() -> str:
    """A random, unguessable id for one browser (hex: no `_`, safe inside a session id)."""
    return secrets.token_hex(12)


def is_visitor_id(value: object) -> bool:
    return isinstance(value, str) and bool(_VISITOR.match(value))


def session_id(agent_id: str, visitor_id: str) -> str:
    """The session the core keeps for this visitor (the `{channel}_{agent}_{contact}` rule)."""
    return f"{CHANNEL}_{agent_id}_{visitor_id}"


class WebChat:
    """Hands a visitor's message to the same intake WhatsApp uses; replies come back through
    the outbound `web` sender and the browser reads them from the transcript."""

    def __init__(self, intake: MessageIntake) -> None:
        self.intake = intake

    async def say(
        self, agent_id: str, visitor_id: str, text: str, name: str | None = None
    ) -> AcceptResult:
        """Store the message and queue it for an answer. Raises ValueError for a bad visitor
        id or message, StoreUnavailable when it could not be stored."""
        if not is_visitor_id(visitor_id):
            raise ValueError("not a visitor id")
        body = text.strip()
        if not body or len(body) > MAX_MESSAGE:
            raise ValueError(f"a message is 1 to {MAX_MESSAGE} characters")
        return await self.intake.accept(
            InboundMessage(
                agent_id=agent_id,
                channel=CHANNEL,
                platform=PLATFORM,
                contact=visitor_id,
                external_id="web:" + uuid.uuid4().hex,
                body=body,
                sender_name=(name or "").strip()[:MAX_NAME] or None,
            )
        )
