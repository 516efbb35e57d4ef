"""The WhatsApp harness: Twilio's form webhooks and Messages API (respx)."""

from __future__ import annotations

from typing import Any

import httpx
from quart import Response

from tests.conftest import twilio_signature
from tests.e2e.conftest import AUTH_TOKEN, OTHER_TOKEN, PHONE, Gateway


class WhatsAppHarness:
    kind = "whatsapp"
    contact = PHONE
    env: dict[str, str] = {}
    route = "twilio"

    def __init__(self) -> None:
        self.gw: Gateway | None = None

    def install(self, gw: Gateway) -> None:
        self.gw = gw  # the gateway fixture already mocks Twilio's API

    async def connect(self, gw: Gateway, executor: dict[str, Any] | None = None) -> str:
        agent_id = await gw.create_agent(executor)
        body = gw.channel_body()
        response = await gw.api("PUT", f"/api/agents/{agent_id}/channels/{self.kind}", json=body)
        assert response.status_code == 200, await response.get_json()
        return agent_id

    def form(self, gw: Gateway, text: str, external_id: str) -> dict[str, str]:
        return gw.inbound(body=text, sid=external_id)

    async def post(self, gw: Gateway, agent_id: str, form: dict[str, str], token: str) -> Response:
        path = f"/webhooks/{self.route}/{agent_id}"
        signature = twilio_signature(f"http://localhost{path}", form, token)
        return await gw.request("POST", path, form=form, headers={"X-Twilio-Signature": signature})

    async def inbound(self, gw: Gateway, agent_id: str, text: str, external_id: str) -> Response:
        return await self.post(gw, agent_id, self.form(gw, text, external_id), AUTH_TOKEN)

    async def forged(self, gw: Gateway, agent_id: str, text: str) -> Response:
        return await self.post(gw, agent_id, self.form(gw, text, "SM" + "f" * 32), OTHER_TOKEN)

    def sent(self) -> list[str]:
        assert self.gw is not None
        return self.gw.twilio.bodies()

    def fail_next(self, *answers: httpx.Response) -> None:
        assert self.gw is not None
        self.gw.twilio.faults.extend(answers)

    def session_of(self, agent_id: str) -> str:
        return f"twilio_{agent_id}_{self.contact}"


HARNESS = WhatsAppHarness
