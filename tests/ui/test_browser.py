"""The whole flow of the issue in Debian's Chromium, driven by Playwright, against the real
service (`python -m app serve`) with the local Twilio double as Twilio's REST API and the
project's Telegram Bot API double, served from this process so the test can read what it
recorded (the webhook secret given in setWebhook, the messages sent).

Without Chromium or Playwright these tests skip with the reason, except under CI=true where
they fail: CI must run them."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.telegram.double import (
    TelegramDoubleStore,
    create_telegram_double_app,
    make_update,
)
from adapters.channels.telegram.inbound import SECRET_HEADER
from tests.conftest import twilio_signature

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# The README's screenshots are refreshed on purpose (UPDATE_SCREENSHOTS=1); an ordinary run
# writes them to a temporary folder so the working tree stays clean.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "gateway-screenshots"
)
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = "Br0wserT0ken" + secrets.token_hex(12)
CHANNEL_NUMBER = "+14155238886"
PHONE = "+447700900123"
BOT_TOKEN = "7301946250:AA" + secrets.token_urlsafe(27)  # the form @BotFather gives
TELEGRAM_CHAT_ID = 880_000_000 + secrets.randbelow(99_999_999)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TelegramDouble:
    """The Telegram Bot API double, in this process: `store` is what it recorded."""

    store: TelegramDoubleStore
    api_base: str  # what TELEGRAM_API_BASE_URL is set to


@pytest.fixture(scope="module")
def telegram() -> Iterator[TelegramDouble]:
    """`adapters.channels.telegram.double` in Hypercorn on a thread of its own, on a free
    port; it accepts only BOT_TOKEN, as Telegram accepts only tokens it issued."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    store = TelegramDoubleStore(tokens={BOT_TOKEN})
    app = create_telegram_double_app(store)
    port = _free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve(app, config, shutdown_trigger=stop.wait))
        loop.close()

    thread = threading.Thread(target=run, name="telegram-double", daemon=True)
    thread.start()
    api_base = f"http://127.0.0.1:{port}/sandbox/telegram"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{api_base}/messages", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the Telegram double did not start")
            time.sleep(0.05)
        yield TelegramDouble(store, api_base)
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)


@dataclass
class Service:
    base: str
    key: str
    log: Path
    newcomer_key: str  # a workspace of its own: nothing another test made shows there


def _create_key(env: dict[str, str], workspace: str) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "app", "keys", "create", "--workspace", workspace],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return created.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, telegram: TelegramDouble
) -> Iterator[Service]:
    """The real service in a subprocess on a free port, with a fresh DATA_DIR."""
    data = tmp_path_factory.mktemp("browser-data")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATA_DIR": str(data),
        "DATABASE_URL": "",
        "PUBLIC_BASE_URL": "",
        "VAULT_KEYS": "",
        "SECRET_KEY": "",
        "TWILIO_API_BASE_URL": f"{base}/sandbox/twilio",
        "SANDBOX": "true",  # the service's own Twilio double, as ./scripts/run mounts it
        "TELEGRAM_API_BASE_URL": telegram.api_base,
    }
    key = _create_key(env, "ui")
    newcomer_key = _create_key(env, "telegram-newcomer")
    log = data / "service.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the service did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.1)
        yield Service(base, key, log, newcomer_key)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def send_whatsapp(service: Service, agent_id: str, body: str, name: str) -> httpx.Response:
    """A webhook signed exactly as Twilio signs it, over the URL the service is reached at."""
    url = f"{service.base}/webhooks/twilio/{agent_id}"
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{PHONE}",
        "To": f"whatsapp:{CHANNEL_NUMBER}",
        "Body": body,
        "ProfileName": name,
        "WaId": PHONE.lstrip("+"),
        "NumMedia": "0",
    }
    signature = twilio_signature(url, params, AUTH_TOKEN)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def send_telegram(
    service: Service, agent_id: str, update: dict[str, Any], secret: str | None
) -> httpx.Response:
    """An Update POSTed as Telegram POSTs it: JSON, with the secret given in setWebhook."""
    headers = {} if secret is None else {SECRET_HEADER: secret}
    url = f"{service.base}/webhooks/telegram/{agent_id}"
    return httpx.post(url, json=update, headers=headers, timeout=10)


def reload_until(page: Any, selector: str, text: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in " ".join(page.locator(selector).all_inner_texts()):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} never showed in {selector} of {page.url}")
        time.sleep(0.25)
        page.reload()


def test_deploy_leads_conversations_and_try_it_in_chromium(page: Any, service: Service) -> None:
    from playwright.sync_api import expect

    # Sign in: a stranger lands on the login form; a wrong key is refused in words.
    page.goto(f"{service.base}/ui/agents")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("API key").fill("gw_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")
    shot(page, "login")
    page.get_by_label("API key").fill(service.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{service.base}/ui/agents")

    # Create an agent (demo executor).
    page.get_by_label("Name").fill("Support bot")
    page.get_by_label("Executor").select_option("demo")
    expect(page.get_by_label("URL")).to_be_hidden()  # only the chosen kind's fields show
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/ui/agents/[0-9a-f-]+/deploy$"))
    agent_id = page.url.rsplit("/", 2)[-2]

    # Deploy > WhatsApp: a bad SID is refused inline, then a good one is saved.
    page.get_by_label("Account SID").fill("AC123")
    page.get_by_label("Auth Token").fill(AUTH_TOKEN)
    page.get_by_label("Phone Number").fill(CHANNEL_NUMBER)
    page.get_by_role("button", name="Save & Enable").click()
    expect(page.locator("#f-account_sid-error")).to_contain_text(
        "Account SID must be AC followed by 32 hexadecimal characters"
    )
    expect(page.get_by_label("Account SID")).to_have_attribute("aria-invalid", "true")
    assert AUTH_TOKEN not in page.content()
    shot(page, "deploy-error")
    page.get_by_label("Account SID").fill(ACCOUNT_SID)
    page.get_by_label("Auth Token").fill(AUTH_TOKEN)
    page.get_by_label("Phone Number").fill(CHANNEL_NUMBER)
    page.get_by_role("button", name="Save & Enable").click()
    webhook = f"{service.base}/webhooks/twilio/{agent_id}"
    expect(page.get_by_label("Webhook URL")).to_have_value(webhook)
    expect(page.get_by_text("A value is stored. Leave empty to keep it.")).to_be_visible()
    expect(page.get_by_text("+1 415 523 8886").first).to_be_visible()
    assert AUTH_TOKEN not in page.content()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator(".copy-done")).not_to_be_empty()
    shot(page, "deploy")

    # Twilio delivers a signed WhatsApp message: a lead under the WhatsApp tab, and its
    # conversation shows the agent's reply (sent through the local Twilio double).
    assert send_whatsapp(service, agent_id, "Do you deliver on Sundays?", "Ada").status_code == 200
    page.get_by_role("link", name="Leads", exact=True).first.click()
    page.get_by_role("link", name="WhatsApp", exact=True).click()
    expect(page).to_have_url(re.compile(r"platform=whatsapp"))
    expect(page.get_by_role("row", name=re.compile("Ada"))).to_contain_text(PHONE)
    shot(page, "leads-whatsapp")
    page.get_by_role("link", name=re.compile("Conversation with Ada")).click()
    reload_until(page, ".msg-assistant", "Hi Ada!")
    reload_until(page, ".msg-assistant .status", "sent")
    expect(page.locator(".msg-user")).to_contain_text("Do you deliver on Sundays?")
    shot(page, "conversation")

    # Try it: the browser chat is a channel of its own and gets its answer by polling.
    page.goto(f"{service.base}/ui/agents/{agent_id}/try")
    page.get_by_label("Your name").fill("Grace")
    page.get_by_label("Message").fill("Hello from Chromium")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat .msg-assistant")).to_contain_text("Hi Grace!")
    expect(page.locator("#chat .msg-assistant .status")).to_have_text("delivered")
    page.get_by_label("Message").fill("What can you do?")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("#chat .msg-assistant")).to_have_count(2)
    shot(page, "try-it")

    # The visitor is a lead under the Web chat tab (and not under WhatsApp).
    page.get_by_role("link", name="Leads", exact=True).first.click()
    page.get_by_role("link", name="Web chat", exact=True).click()
    expect(page.get_by_role("row", name=re.compile("Grace"))).to_contain_text("Web chat")
    expect(page.get_by_role("row", name=re.compile("Ada"))).to_have_count(0)
    shot(page, "leads-web")

    # Download CSV from the All tab: both leads, the API's columns.
    page.get_by_role("link", name="All", exact=True).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert {(r["platform"], r["name"]) for r in rows} == {("whatsapp", "Ada"), ("web", "Grace")}
    assert download.suggested_filename == "leads.csv"

    page.get_by_role("link", name="Agents", exact=True).click()
    expect(page.get_by_role("row", name=re.compile("Support bot"))).to_be_visible()
    shot(page, "agents")

    # Disable keeps the settings; Remove asks first, then deletes them: the webhook is refused.
    page.get_by_role("link", name="Deploy", exact=True).first.click()
    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".panel-head .pill")).to_have_text("Disabled")
    expect(page.get_by_label("Account SID")).to_have_value(ACCOUNT_SID)
    assert send_whatsapp(service, agent_id, "Still there?", "Ada").status_code == 403
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remove").click()
    expect(page.locator(".panel-head .pill")).to_have_text("Disabled")  # dismissed: kept
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove").click()
    expect(page.locator(".panel-head .pill")).to_have_text("Not set up")
    expect(page.get_by_label("Webhook URL")).to_have_count(0)

    # Sign out: back to the login form, and the pages are closed again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"{service.base}/ui/leads")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    assert AUTH_TOKEN not in service.log.read_text()


def test_telegram_bot_from_deploy_to_leads_in_chromium(
    page: Any, service: Service, telegram: TelegramDouble
) -> None:
    from playwright.sync_api import expect

    # A new user signs in (a workspace of their own) and creates an agent.
    page.goto(f"{service.base}/ui/agents")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("API key").fill(service.newcomer_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{service.base}/ui/agents")
    page.get_by_label("Name").fill("Telegram helper")
    page.get_by_label("Executor").select_option("demo")
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/ui/agents/[0-9a-f-]+/deploy$"))
    agent_id = page.url.rsplit("/", 2)[-2]

    # Deploy > Telegram: a token Telegram never issued is refused by getMe, inline.
    channels = page.get_by_role("navigation", name="Channel")
    channels.get_by_role("link", name=re.compile(r"^Telegram")).click()
    expect(page).to_have_url(re.compile(rf"/ui/agents/{agent_id}/deploy/telegram$"))
    expect(page.locator(".panel-head .pill")).to_have_text("Not set up")
    unknown = "1234567:AA" + secrets.token_urlsafe(27)
    page.get_by_label("Bot token").fill(unknown)
    page.get_by_role("button", name="Save & Enable").click()
    expect(page.locator("#f-bot_token-error")).to_contain_text("was refused by Telegram (getMe)")
    assert unknown not in page.content()
    assert telegram.store.webhooks == {}

    # The real token: saved, the webhook set with Telegram, its URL shown.
    page.get_by_label("Bot token").fill(BOT_TOKEN)
    page.get_by_role("button", name="Save & Enable").click()
    expect(page.locator(".panel-head .pill")).to_have_text("Enabled")
    webhook = f"{service.base}/webhooks/telegram/{agent_id}"
    expect(page.get_by_label("Webhook URL")).to_have_value(webhook)
    expect(page.get_by_text("A value is stored. Leave empty to keep it.")).to_be_visible()
    assert BOT_TOKEN not in page.content()
    shot(page, "deploy-telegram")
    hook = telegram.store.webhooks[BOT_TOKEN]
    assert hook.url == webhook
    assert hook.secret_token
    assert hook.secret_token not in page.content()

    # Telegram delivers an Update: without the secret it is refused, with it accepted.
    update = make_update(
        secrets.randbelow(2**31), TELEGRAM_CHAT_ID, "Can I book a table?", "Katherine", "Johnson"
    )
    assert send_telegram(service, agent_id, update, None).status_code == 403
    assert send_telegram(service, agent_id, update, "not-" + hook.secret_token).status_code == 403
    assert send_telegram(service, agent_id, update, hook.secret_token).status_code == 200

    # Leads > Telegram: the person (name, chat id), then the conversation with the reply.
    page.get_by_role("link", name="Leads", exact=True).first.click()
    page.get_by_role("navigation", name="Platform").get_by_role(
        "link", name="Telegram", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"platform=telegram"))
    row = page.get_by_role("row", name=re.compile("Katherine Johnson"))
    expect(row).to_contain_text(str(TELEGRAM_CHAT_ID), timeout=10_000)
    expect(row).to_contain_text("Telegram")
    shot(page, "leads-telegram")
    page.get_by_role("link", name=re.compile("Conversation with Katherine Johnson")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(TELEGRAM_CHAT_ID))
    expect(page.locator(".msg-user")).to_contain_text("Can I book a table?")
    reload_until(page, ".msg-assistant", "Hi Katherine Johnson!")
    reload_until(page, ".msg-assistant .status", "sent")
    shot(page, "conversation-telegram")

    # The reply went to Telegram's sendMessage, to that chat, from that bot.
    deadline = time.monotonic() + 10
    while not telegram.store.messages:
        if time.monotonic() > deadline:
            pytest.fail("the Telegram double never received sendMessage")
        time.sleep(0.05)
    [sent] = telegram.store.messages
    assert sent.chat_id == str(TELEGRAM_CHAT_ID)
    assert sent.bot_id == int(BOT_TOKEN.split(":", 1)[0])
    assert sent.text.startswith("Hi Katherine Johnson!")
    assert "Can I book a table?" in sent.text
    expect(page.locator(".msg-assistant .msg-body")).to_contain_text(sent.text)
    log = service.log.read_text()
    assert BOT_TOKEN not in log
    assert hook.secret_token not in log


def test_inbox_take_over_reply_and_hand_back_in_chromium(page: Any, service: Service) -> None:
    from playwright.sync_api import expect

    # A fresh agent of the workspace with its WhatsApp channel, set up through the admin API.
    api = httpx.Client(
        base_url=service.base, headers={"Authorization": f"Bearer {service.key}"}, timeout=10
    )
    created = api.post("/api/agents", json={"name": "Takeover bot", "executor": {"kind": "demo"}})
    agent_id = created.json()["id"]
    channel = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "phone_number": CHANNEL_NUMBER}
    assert api.put(f"/api/agents/{agent_id}/channels/whatsapp", json=channel).status_code == 200
    assert send_whatsapp(service, agent_id, "Can a person help me?", "Lin").status_code == 200

    page.goto(f"{service.base}/ui/login")
    page.get_by_label("API key").fill(service.key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Conversations", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Lin"))
    expect(row).to_contain_text("WhatsApp")
    expect(row).to_contain_text("Takeover bot")
    row.get_by_role("link", name="Lin").click()
    reload_until(page, ".msg-assistant .status", "sent")

    # Take over: the next message is held and the agent stays quiet ...
    page.get_by_role("button", name="Pause the agent").click()
    expect(page.locator("h1 .badge-paused")).to_have_text("Paused")
    assert send_whatsapp(service, agent_id, "Hello? Anyone?", "Lin").status_code == 200
    # ... and it shows up without a reload (the transcript polls).
    expect(page.locator(".msg-user").last).to_contain_text("Hello? Anyone?", timeout=10_000)
    expect(page.locator(".msg-user .status").last).to_have_text("held: the agent is paused")
    page.goto(f"{service.base}/ui/conversations?status=needs_attention")
    expect(page.get_by_role("row", name=re.compile("Lin"))).to_contain_text("Needs attention")
    page.get_by_role("row", name=re.compile("Lin")).get_by_role("link", name="Lin").click()

    # Answer as a human: sent through WhatsApp, seen delivered without reloading.
    page.get_by_label("Reply as a human").fill("Hi Lin, this is Sam from support.")
    page.get_by_role("button", name="Send", exact=True).click()
    human = page.locator(".msg-human").last
    expect(human).to_contain_text("Hi Lin, this is Sam from support.")
    expect(human.locator(".status")).to_have_text(re.compile("sent|delivered"), timeout=15_000)
    shot(page, "takeover")
    sent = httpx.get(f"{service.base}/sandbox/twilio/messages", timeout=5).json()["messages"]
    assert [m["body"] for m in sent].count("Hi Lin, this is Sam from support.") == 1

    # Hand it back: the agent answers the next message again.
    page.get_by_role("button", name="Resume the agent").click()
    expect(page.get_by_role("button", name="Pause the agent")).to_be_visible()
    assert send_whatsapp(service, agent_id, "Thanks!", "Lin").status_code == 200
    expect(page.locator(".msg-assistant").last).to_contain_text("Thanks!", timeout=15_000)
    shot(page, "conversations")
    api.close()
