"""A started app with a signed-in browser-like client (cookies, CSRF tokens from the pages)."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from dependency_injector import providers
from quart import Response
from quart.typing import TestClientProtocol

from adapters.channels.base import ChannelPlugin
from adapters.channels.registry import ChannelRegistry
from app import create_app
from config.container import Container, build_container
from config.settings import Settings
from tests.conftest import SettingsFactory, twilio_signature

TWILIO_BASE = "https://api.twilio.test"
ACCOUNT_SID = "AC" + "7e2b" * 8
AUTH_TOKEN = "UiTok3nNeverShown" + "0a1b2c3d4e5f6a7b"
CHANNEL_NUMBER = "+14155238886"
PHONE = "+5511912345678"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Page:
    status: int
    text: str
    headers: Any

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))


@dataclass
class Ui:
    """One browser: a cookie jar, the last CSRF token seen, and every body it was sent."""

    client: TestClientProtocol
    container: Container
    settings: Settings
    key: str
    sent: list[dict[str, str]]  # what the mocked Twilio API received
    router: respx.MockRouter
    bodies: list[str] = field(default_factory=list)
    csrf: str = ""

    async def _page(self, response: Response) -> Page:
        text = await response.get_data(as_text=True)
        self.bodies.append(text)
        found = _CSRF.search(text)
        if found:
            self.csrf = html.unescape(found.group(1))
        return Page(response.status_code, text, response.headers)

    async def get(self, path: str, **kwargs: Any) -> Page:
        return await self._page(await self.client.get(path, **kwargs))

    async def post(
        self, path: str, form: dict[str, str] | None = None, csrf: bool = True, **kwargs: Any
    ) -> Page:
        data = dict(form or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        return await self._page(await self.client.post(path, form=data, **kwargs))

    async def login(self) -> None:
        await self.get("/ui/login")
        page = await self.post("/ui/login", {"api_key": self.key})
        assert page.status == 303, page.text
        await self.get("/ui/agents")

    async def create_agent(self, name: str = "Support bot", **fields: str) -> str:
        await self.get("/ui/agents")
        form = {"name": name, "kind": "demo", **fields}
        page = await self.post("/ui/agents", form)
        assert page.status == 303, page.text
        match = re.search(r"/ui/agents/([0-9a-f-]+)/deploy", page.location)
        assert match, page.location
        return match.group(1)

    async def enable_whatsapp(self, agent_id: str) -> Page:
        await self.get(f"/ui/agents/{agent_id}/deploy/whatsapp")
        form = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "phone_number": CHANNEL_NUMBER,
            "action": "enable",
        }
        return await self.post(f"/ui/agents/{agent_id}/deploy/whatsapp", form)

    async def whatsapp_message(self, agent_id: str, body: str = "Hi", name: str = "Ana") -> int:
        path = f"/webhooks/twilio/{agent_id}"
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{PHONE}",
            "To": f"whatsapp:{CHANNEL_NUMBER}",
            "Body": body,
            "ProfileName": name,
            "NumMedia": "0",
        }
        signature = twilio_signature(f"http://localhost{path}", params, AUTH_TOKEN)
        response = await self.client.post(
            path, form=params, headers={"X-Twilio-Signature": signature}
        )
        return response.status_code

    async def wait_until(
        self, path: str, done: Callable[[Page], bool], timeout: float = 10.0, **kwargs: Any
    ) -> Page:
        deadline = time.monotonic() + timeout
        while True:
            page = await self.get(path, **kwargs)
            if done(page):
                return page
            if time.monotonic() > deadline:
                pytest.fail(f"{path} never got there: {page.status} {page.text[-800:]}")
            await asyncio.sleep(0.03)


UiFactory = Callable[..., AbstractAsyncContextManager[Ui]]


@pytest.fixture
def open_ui(make_settings: SettingsFactory) -> UiFactory:
    """`async with open_ui(**env) as ui:` a started app (fresh SQLite in tmp_path) and a
    client that is not signed in yet; Twilio's REST API is a respx mock. `plugins` are
    registered after the configured channel kinds (a kind the UI has never heard of)."""

    @asynccontextmanager
    async def open_(plugins: Sequence[ChannelPlugin] = (), **env: str) -> AsyncIterator[Ui]:
        values = {"TWILIO_API_BASE_URL": TWILIO_BASE, "SHUTDOWN_DEADLINE_S": "5", **env}
        settings = make_settings(**values)
        container = build_container(settings)
        if plugins:
            registry = ChannelRegistry([*container.channels(), *plugins])
            container.channels.override(providers.Object(registry))
        app = create_app(container)
        sent: list[dict[str, str]] = []

        def accept(request: httpx.Request) -> httpx.Response:
            form = dict(httpx.QueryParams(request.content.decode()))
            sent.append(form)
            sid = "SM" + secrets.token_hex(16)
            return httpx.Response(201, json={"sid": sid, "status": "queued", **form})

        with respx.mock(assert_all_called=False) as router:
            router.post(host="api.twilio.test").mock(side_effect=accept)
            async with app.test_app() as test_app:
                key = await container.admin().create_api_key("ui")
                yield Ui(test_app.test_client(), container, settings, key, sent, router)

    return open_


@pytest.fixture
async def ui(open_ui: UiFactory) -> AsyncIterator[Ui]:
    async with open_ui() as opened:
        yield opened


@pytest.fixture
async def signed_in(ui: Ui) -> Ui:
    await ui.login()
    return ui
