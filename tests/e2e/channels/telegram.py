"""The Telegram harness: JSON updates with the secret-token header, the Bot API on respx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx
from quart import Response

from adapters.channels.telegram.double import make_update
from tests.e2e.conftest import Gateway

TELEGRAM_BASE = "https://api.telegram.test"
BOT_TOKEN = "123456789:AAH" + "x" * 32
CHAT_ID = "987654321"
_PATH = r"/bot(?P<token>[^/]+)/(?P<method>\w+)"


class BotApi:
    """The Bot API as Telegram answers it: one valid token, the webhook it was given, every
    text accepted by sendMessage, and faults for the next sends."""

    def __init__(self, router: respx.MockRouter, token: str = BOT_TOKEN) -> None:
        self.token = token
        self.webhook: dict[str, Any] | None = None
        self.sent: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self.faults: list[httpx.Response] = []
        self.calls: list[str] = []
        self.route = router.post(host="api.telegram.test", path__regex=_PATH).mock(
            side_effect=self._answer
        )

    def _answer(self, request: httpx.Request, token: str, method: str) -> httpx.Response:
        self.calls.append(method)
        if token != self.token:
            return httpx.Response(
                401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        body = json.loads(request.content or b"{}")
        if method == "getMe":
            user = {"id": 123456789, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}
            return httpx.Response(200, json={"ok": True, "result": user})
        if method == "setWebhook":
            self.webhook = body
            return httpx.Response(
                200, json={"ok": True, "result": True, "description": "Webhook was set"}
            )
        if method == "deleteWebhook":
            self.webhook = None
            return httpx.Response(
                200, json={"ok": True, "result": True, "description": "Webhook was deleted"}
            )
        if method == "sendChatAction":
            self.actions.append(body)
            return httpx.Response(200, json={"ok": True, "result": True})
        if method == "sendMessage":
            if self.faults:
                return self.faults.pop(0)
            self.sent.append(body)
            message = {
                "message_id": len(self.sent),
                "from": {"id": 123456789, "is_bot": True, "first_name": "Shop"},
                "chat": {"id": int(body["chat_id"]), "type": "private"},
                "date": 1764633600,
                "text": body["text"],
            }
            return httpx.Response(200, json={"ok": True, "result": message})
        return httpx.Response(
            404, json={"ok": False, "error_code": 404, "description": "Not Found"}
        )

    @property
    def secret(self) -> str:
        assert self.webhook is not None, "no webhook set"
        return str(self.webhook["secret_token"])


class TelegramHarness:
    kind = "telegram"
    contact = CHAT_ID
    env = {"TELEGRAM_API_BASE_URL": TELEGRAM_BASE}

    def __init__(self) -> None:
        self.api: BotApi | None = None

    def install(self, gw: Gateway) -> None:
        self.api = BotApi(gw.router)

    async def connect(self, gw: Gateway, executor: dict[str, Any] | None = None) -> str:
        agent_id = await gw.create_agent(executor)
        body = {"bot_token": BOT_TOKEN, "enabled": True}
        response = await gw.api("PUT", f"/api/agents/{agent_id}/channels/telegram", json=body)
        assert response.status_code == 200, await response.get_json()
        return agent_id

    async def post(
        self, gw: Gateway, agent_id: str, update: dict[str, Any], secret: str
    ) -> Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        return await gw.request(
            "POST", f"/webhooks/telegram/{agent_id}", json=update, headers=headers
        )

    async def inbound(self, gw: Gateway, agent_id: str, text: str, external_id: str) -> Response:
        assert self.api is not None
        secret = self.api.secret if self.api.webhook else "none-set"
        update = make_update(int(external_id), int(CHAT_ID), text, "Ada", "Lovelace")
        return await self.post(gw, agent_id, update, secret)

    async def forged(self, gw: Gateway, agent_id: str, text: str) -> Response:
        update = make_update(1, int(CHAT_ID), text, "Ada", "Lovelace")
        return await self.post(gw, agent_id, update, "forged-secret")

    def sent(self) -> list[str]:
        assert self.api is not None
        return [str(m["text"]) for m in self.api.sent]

    def fail_next(self, *answers: httpx.Response) -> None:
        assert self.api is not None
        for answer in answers:
            status = answer.status_code
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": "injected"}
            if status == 429:
                body["parameters"] = {"retry_after": 0}
            self.api.faults.append(httpx.Response(status, json=body))

    def session_of(self, agent_id: str) -> str:
        return f"telegram_{agent_id}_{self.contact}"


HARNESS = TelegramHarness
