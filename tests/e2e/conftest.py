"""The real Quart app on a fresh SQLite file per test; Twilio's REST API mocked with respx."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from quart import Response
from quart.typing import TestClientProtocol

from app import create_app
from config.container import Container, build_container
from config.settings import Settings
from tests.conftest import SettingsFactory, twilio_signature

TWILIO_BASE = "https://api.twilio.test"
ACCOUNT_SID = "AC" + "5a1d" * 8
AUTH_TOKEN = "Tok3nNeverLeaves" + "9f8e7d6c5b4a3f2e"  # as the Twilio console shows it
OTHER_TOKEN = "0therTokenValue0" + "1234567890abcdef"
CHANNEL_NUMBER = "+14155238886"
PHONE = "+5511987654321"
MESSAGES_PATH = r"/2010-04-01/Accounts/(?P<account_sid>AC\w+)/Messages\.json"


@dataclass
class SentMessage:
    """One message Twilio's API accepted (what the real one would deliver)."""

    sid: str
    account_sid: str
    basic_auth: str
    form: dict[str, str]
    date_created: datetime

    @property
    def body(self) -> str:
        return self.form["Body"]

    def as_twilio(self) -> dict[str, Any]:
        date = format_datetime(self.date_created)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.form.get("To"),
            "from": self.form.get("From"),
            "body": self.form.get("Body"),
            "status": "queued",
            "date_created": date,
            "date_updated": date,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "num_segments": "1",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}.json",
        }


def twilio_error(status: int, code: int) -> httpx.Response:
    body = {"code": code, "message": "injected", "more_info": "", "status": status}
    return httpx.Response(status, json=body)


class TwilioApi:
    """Twilio's Messages API on respx: records every accepted message, lists them newest
    first like Twilio, and answers the next creations from `faults` when there are any
    (an httpx.Response to return, or an exception to raise as if the network failed)."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.sent: list[SentMessage] = []
        self.faults: list[httpx.Response | Exception] = []
        self.lost_answers = 0  # creations recorded whose answer never comes back
        self.create = router.post(host="api.twilio.test", path__regex=MESSAGES_PATH).mock(
            side_effect=self._create
        )
        self.list = router.get(host="api.twilio.test", path__regex=MESSAGES_PATH).mock(
            side_effect=self._list
        )
        # The typing indicator (Messaging v2): recorded; `typing_fails` makes it answer 500.
        self.typing: list[dict[str, str]] = []
        self.typing_fails = False
        self.typing_route = router.post(
            host="messaging.twilio.test", path="/v2/Indicators/Typing.json"
        ).mock(side_effect=self._typing)

    def _typing(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.typing.append({**form, "auth": request.headers.get("Authorization", "")})
        if self.typing_fails:
            return httpx.Response(500, json={"code": 20500, "message": "Internal Server Error"})
        return httpx.Response(200, json={"success": True})

    def _create(self, request: httpx.Request, account_sid: str) -> httpx.Response:
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            return fault
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        message = SentMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=account_sid,
            basic_auth=request.headers.get("Authorization", ""),
            form=form,
            date_created=datetime.now(UTC).replace(microsecond=0),
        )
        self.sent.append(message)
        if self.lost_answers:
            self.lost_answers -= 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(201, json=message.as_twilio())

    def _list(self, request: httpx.Request, account_sid: str) -> httpx.Response:
        to, from_ = request.url.params.get("To"), request.url.params.get("From")
        found = [
            m.as_twilio()
            for m in reversed(self.sent)
            if m.account_sid == account_sid
            and (not to or m.form.get("To") == to)
            and (not from_ or m.form.get("From") == from_)
        ]
        path = request.url.path
        return httpx.Response(
            200,
            json={
                "messages": found,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": max(len(found) - 1, 0),
                "uri": path,
                "first_page_uri": path,
                "previous_page_uri": None,
                "next_page_uri": None,
            },
        )

    def bodies(self) -> list[str]:
        return [m.body for m in self.sent]


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Gateway:
    """One running app (after `before_serving`) with an admin key for workspace `ws`."""

    client: TestClientProtocol
    container: Container
    settings: Settings
    twilio: TwilioApi
    router: respx.MockRouter
    key: str
    bodies: list[bytes] = field(default_factory=list)  # every response body seen

    # -- plain HTTP, every response body remembered --------------------------------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        response = await self.client.open(path, method=method, **kwargs)
        self.bodies.append(await response.get_data(as_text=False))
        return response

    async def api(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> Response:
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("Authorization", f"Bearer {key or self.key}")
        return await self.request(method, path, headers=headers, **kwargs)

    async def api_json(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.api(method, path, **kwargs)
        body = await response.get_json()
        assert response.status_code == status, (response.status_code, body)
        return body

    # -- set-up through the admin API ----------------------------------------------------------

    async def create_agent(
        self, executor: dict[str, Any] | None = None, key: str | None = None
    ) -> str:
        body = {"name": "Support bot", "executor": executor or {"kind": "demo"}}
        agent = await self.api_json("POST", "/api/agents", 201, json=body, key=key)
        return str(agent["id"])

    def channel_body(self, **fields: Any) -> dict[str, Any]:
        body = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "phone_number": CHANNEL_NUMBER,
            "enabled": True,
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not ...}

    async def configure(self, agent_id: str, key: str | None = None, **fields: Any) -> Response:
        path = f"/api/agents/{agent_id}/channels/whatsapp"
        return await self.api("PUT", path, json=self.channel_body(**fields), key=key)

    async def whatsapp_agent(
        self, executor: dict[str, Any] | None = None, key: str | None = None, **fields: Any
    ) -> str:
        agent_id = await self.create_agent(executor, key=key)
        response = await self.configure(agent_id, key=key, **fields)
        assert response.status_code == 200, await response.get_json()
        return agent_id

    # -- Twilio's side -------------------------------------------------------------------------

    @staticmethod
    def inbound(
        body: str = "Hello", sid: str | None = None, phone: str = PHONE, name: str = "Ana"
    ) -> dict[str, str]:
        """The form Twilio posts for a WhatsApp message."""
        sid = sid or "SM" + secrets.token_hex(16)
        return {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": name,
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": phone.lstrip("+"),
            "SmsStatus": "received",
            "Body": body,
            "To": f"whatsapp:{CHANNEL_NUMBER}",
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{phone}",
            "ApiVersion": "2010-04-01",
        }

    async def webhook(
        self,
        agent_id: str,
        params: dict[str, str] | None = None,
        *,
        token: str = AUTH_TOKEN,
        signed_url: str | None = None,
        query: str = "",
        suffix: str = "",
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        scope_base: dict[str, Any] | None = None,
    ) -> Response:
        """POST a form to the webhook, signed like Twilio over `signed_url` (default: the URL
        the test client requests, http://localhost/...)."""
        params = self.inbound() if params is None else params
        path = f"/webhooks/twilio/{agent_id}{suffix}" + (f"?{query}" if query else "")
        url = signed_url if signed_url is not None else f"http://localhost{path}"
        all_headers = dict(headers or {})
        if signature is None:
            signature = twilio_signature(url, params, token)
        if signature:
            all_headers["X-Twilio-Signature"] = signature
        return await self.request(
            "POST", path, form=params, headers=all_headers, scope_base=scope_base
        )

    async def status_callback(
        self,
        agent_id: str,
        sid: str,
        status: str,
        account_sid: str = ACCOUNT_SID,
        token: str = AUTH_TOKEN,
        error_code: str | None = None,
    ) -> Response:
        params = {
            **({"ErrorCode": error_code} if error_code else {}),
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": account_sid,
            "From": f"whatsapp:{CHANNEL_NUMBER}",
            "To": f"whatsapp:{PHONE}",
            "ApiVersion": "2010-04-01",
        }
        return await self.webhook(agent_id, params, token=token, suffix="/status")

    # -- reading the outcome -------------------------------------------------------------------

    @staticmethod
    def session_of(agent_id: str, phone: str = PHONE) -> str:
        return f"twilio_{agent_id}_{phone}"

    async def messages(self, session_id: str) -> list[dict[str, Any]]:
        body = await self.api_json("GET", f"/api/sessions/{session_id}/messages")
        return list(body["items"])

    async def wait_for(
        self,
        session_id: str,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 15.0,
    ) -> list[dict[str, Any]]:
        """Poll the session until `done(messages)`; fail with the last state at the deadline."""
        deadline = time.monotonic() + timeout
        items: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            response = await self.api("GET", f"/api/sessions/{session_id}/messages")
            if response.status_code == 200:
                items = list((await response.get_json())["items"])
                if done(items):
                    return items
            await asyncio.sleep(0.02)
        pytest.fail(f"session {session_id} did not settle: {items}")

    async def wait_answered(
        self, session_id: str, users: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Until `users` user messages each have a reply that is no longer queued/sending."""

        def settled(items: list[dict[str, Any]]) -> bool:
            mine = [m for m in items if m["role"] == "user"]
            replies = [m for m in items if m["role"] == "assistant"]
            return (
                len(mine) == users
                and len(replies) == users
                and all(m["status"] not in ("queued", "sending") for m in replies)
            )

        return await self.wait_for(session_id, settled, timeout)

    async def leads(self, **query: str) -> list[dict[str, Any]]:
        body = await self.api_json("GET", "/api/leads", query_string=query or None)
        return list(body["items"])


GatewayFactory = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """Only Twilio's test host (and agent hosts a test adds) is mocked; nothing else may go
    out: respx refuses unmatched requests."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def open_gateway(make_settings: SettingsFactory, router: respx.MockRouter) -> GatewayFactory:
    """`async with open_gateway(PUBLIC_BASE_URL=...) as gw:` a started app with those settings."""

    @asynccontextmanager
    async def open_(**env: str) -> AsyncIterator[Gateway]:
        values = {
            "TWILIO_API_BASE_URL": TWILIO_BASE,
            "TWILIO_MESSAGING_API_BASE_URL": "https://messaging.twilio.test",
            "SEND_BASE_DELAY_S": "0.001",
            "SHUTDOWN_DEADLINE_S": "5",
        }
        values.update(env)
        settings = make_settings(**values)
        container = build_container(settings)
        app = create_app(container)
        twilio = TwilioApi(router)
        async with app.test_app() as test_app:
            key = await container.admin().create_api_key("ws")
            yield Gateway(test_app.test_client(), container, settings, twilio, router, key)

    return open_


@pytest.fixture
async def gateway(open_gateway: GatewayFactory) -> AsyncIterator[Gateway]:
    async with open_gateway() as gw:
        yield gw
