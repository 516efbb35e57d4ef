"""Sessions: one conversation per agent, channel and contact."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionId:
    """`{channel}_{agent_id}_{contact}`, e.g. `twilio_<agent>_+14155550100`."""

    channel: str
    agent_id: str
    contact: str

    def __post_init__(self) -> None:
        for name in ("channel", "agent_id", "contact"):
            if not getattr(self, name):
                raise ValueError(f"session {name} is empty")
        if "_" in self.channel:
            raise ValueError("a channel name cannot contain '_'")

    def __str__(self) -> str:
        return f"{self.channel}_{self.agent_id}_{self.contact}"


@dataclass(frozen=True, slots=True)
class LeadIdentity:
    """What makes a lead unique: one per agent, platform and contact."""

    agent_id: str
    platform: str
    contact: str
