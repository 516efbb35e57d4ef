"""Sessions: one conversation per agent, channel kind and contact."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionId:
    """`{prefix}_{agent_id}_{contact}`, e.g. `twilio_<agent>_+14155550100`; the prefix is the
    channel kind's session prefix (its name, unless the kind keeps an older format)."""

    prefix: str
    agent_id: str
    contact: str

    def __post_init__(self) -> None:
        for name in ("prefix", "agent_id", "contact"):
            if not getattr(self, name):
                raise ValueError(f"session {name} is empty")
        if "_" in self.prefix:
            raise ValueError("a session prefix cannot contain '_'")

    def __str__(self) -> str:
        return f"{self.prefix}_{self.agent_id}_{self.contact}"


@dataclass(frozen=True, slots=True)
class LeadIdentity:
    """What makes a lead unique: one per agent, platform (the channel kind) and contact."""

    agent_id: str
    platform: str
    contact: str
