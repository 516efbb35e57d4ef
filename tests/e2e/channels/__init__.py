"""One harness per channel kind: how its provider signs a webhook and receives replies.

`tests/e2e/test_channel_contract.py` runs the same contract against every registered kind
that has an inbound webhook; a new kind adds its harness here as `<kind>.py`."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from quart import Response

from tests.e2e.conftest import Gateway


class ChannelHarness(Protocol):
    kind: str
    contact: str
    env: dict[str, str]  # settings the gateway needs to reach this kind's provider double

    def install(self, gw: Gateway) -> None:
        """Put the provider's API on the gateway's respx router."""

    async def connect(self, gw: Gateway, executor: dict[str, Any] | None = None) -> str:
        """A new agent with this channel configured and enabled; its id."""

    async def inbound(self, gw: Gateway, agent_id: str, text: str, external_id: str) -> Response:
        """A webhook exactly as the provider sends it (signed)."""

    async def forged(self, gw: Gateway, agent_id: str, text: str) -> Response:
        """The same webhook with a wrong signature or secret."""

    def sent(self) -> list[str]:
        """The texts the provider accepted, in order."""

    def fail_next(self, *answers: httpx.Response) -> None:
        """The provider answers the next sends with these."""

    def session_of(self, agent_id: str) -> str: ...
