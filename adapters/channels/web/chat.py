"""Web chat as a channel: what a browser visitor types goes to the intake, and the visitor
reads the replies back through the same driving port."""

from __future__ import annotations

import re
import secrets
import uuid

from ports.driving import MessageIntake
from ports.values import AcceptResult, InboundMessage, StoredMessage

KIND = "web"
MAX_MESSAGE = 4096
MAX_NAME = 100
_VISITOR = re.compile(r"^[0-9a-f]{16,64}$")


def new_visitor_id() -> str:
    """A random, unguessable id for one browser (hex: no `_`, safe inside a session id)."""
    return secrets.token_hex(12)


def is_visitor_id(value: object) -> bool:
    return isinstance(value, str) and bool(_VISITOR.match(value))


class WebChat:
    """Hands a visitor's message to the same intake every channel uses; replies come back
    through the `web` sender and the browser reads them with `transcript`."""

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
                kind=KIND,
                contact=visitor_id,
                external_id="web:" + uuid.uuid4().hex,
                body=body,
                sender_name=(name or "").strip()[:MAX_NAME] or None,
            )
        )

    async def transcript(self, agent_id: str, visitor_id: str) -> list[StoredMessage]:
        """What this visitor and the agent said, oldest first."""
        if not is_visitor_id(visitor_id):
            return []
        return await self.intake.conversation(agent_id, KIND, visitor_id)
