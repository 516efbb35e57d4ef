"""The Twilio double, driven by the real twilio SDK over HttpxTwilioHttpClient and ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageList

from adapters.sandbox.twilio_double import TwilioDoubleStore, create_twilio_double_app
from adapters.twilio.http_client import HttpxTwilioHttpClient
from adapters.twilio.sender import TwilioMessageSender
from ports.driving import ResolvedChannel
from ports.errors import SendFailed
from ports.values import OutboundMessage, Template

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "5ec7e7" * 5 + "ab"
BASE = "http://double.test/sandbox/twilio"
BOT = "whatsapp:+14155238886"
ANA, BEN = "whatsapp:+5511911112222", "whatsapp:+5511933334444"


class Channels:
    """A ChannelDirectory whose every agent has the BOT number's channel of the kind asked."""

    async def resolve(self, agent_id: str, kind: str) -> ResolvedChannel | None:
        settings = {"account_sid": SID, "phone_number": BOT.removeprefix("whatsapp:")}
        return ResolvedChannel(agent_id, kind, settings, {"auth_token": TOKEN}, True)


def whatsapp_sender(
    http: HttpxTwilioHttpClient, sleep: Callable[[float], Awaitable[object]]
) -> TwilioMessageSender:
    return TwilioMessageSender(
        Channels(),
        http,
        kind="whatsapp",
        address=lambda n: "whatsapp:" + n,
        webhook_route="twilio",
        sleep=sleep,
    )


class SteppingClock:
    """Each reading is one second later than the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store() -> TwilioDoubleStore:
    return TwilioDoubleStore(clock=SteppingClock())


@pytest.fixture
async def web(store: TwilioDoubleStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_twilio_double_app(store)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Quart types ASGI strictly
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


@pytest.fixture
def http(web: httpx.AsyncClient) -> HttpxTwilioHttpClient:
    return HttpxTwilioHttpClient(BASE, client=web)


def messages_of(http: HttpxTwilioHttpClient, token: str = TOKEN) -> MessageList:
    return Client(SID, token, http_client=http).api.v2010.account.messages


@pytest.fixture
def messages(http: HttpxTwilioHttpClient) -> MessageList:
    return messages_of(http)


async def test_create_returns_twilio_message_json(
    messages: MessageList, store: TwilioDoubleStore
) -> None:
    callback = "https://gw.example/webhooks/twilio/a1/status"
    sent = await messages.create_async(to=ANA, from_=BOT, body="olá", status_callback=callback)

    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    int(sent.sid[2:], 16)
    assert (sent.to, sent.from_, sent.body, sent.status) == (ANA, BOT, "olá", "queued")
    assert (sent.account_sid, sent.direction, sent.error_code) == (SID, "outbound-api", None)
    assert sent.date_created == store.messages[0].date_created
    assert sent.date_created.tzinfo is not None
    assert sent.uri == f"/2010-04-01/Accounts/{SID}/Messages/{sent.sid}.json"
    assert store.messages[0].status_callback == callback
    fetched = await messages(sent.sid).fetch_async()
    assert (fetched.sid, fetched.body) == (sent.sid, "olá")


async def test_list_is_newest_first_filtered_and_paged(messages: MessageList) -> None:
    first = await messages.create_async(to=ANA, from_=BOT, body="one")
    second = await messages.create_async(to=BEN, from_=BOT, body="two")
    third = await messages.create_async(to=ANA, from_=BOT, body="three")

    everything = await messages.list_async(page_size=2)
    to_ana = await messages.list_async(to=ANA, from_=BOT, limit=50, page_size=50)
    from_other = await messages.list_async(from_="whatsapp:+10000000000")

    assert [m.sid for m in everything] == [third.sid, second.sid, first.sid]
    assert [m.body for m in to_ana] == ["three", "one"]
    assert from_other == []


async def test_bodies_over_1600_characters_are_refused(messages: MessageList) -> None:
    await messages.create_async(to=ANA, from_=BOT, body="x" * 1600)
    with pytest.raises(TwilioRestException) as caught:
        await messages.create_async(to=ANA, from_=BOT, body="x" * 1601)
    assert (caught.value.status, caught.value.code) == (400, 21617)


@pytest.mark.parametrize(("to", "from_", "code"), [("", BOT, 21604), (ANA, "", 21603)])
async def test_to_and_from_are_required(
    messages: MessageList, to: str, from_: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await messages.create_async(to=to, from_=from_, body="hi")
    assert (caught.value.status, caught.value.code) == (400, code)


async def test_fault_injection_then_success(
    messages: MessageList, store: TwilioDoubleStore, web: httpx.AsyncClient
) -> None:
    store.fail_next(2, status=429, retry_after=1)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await messages.create_async(to=ANA, from_=BOT, body="hi")
        assert (caught.value.status, caught.value.code) == (429, 20429)
    await messages.create_async(to=ANA, from_=BOT, body="hi")
    assert len(store.messages) == 1

    store.fail_next(1, status=500, retry_after=2.5)
    raw = await web.post(f"/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, "any"))
    assert (raw.status_code, raw.headers["Retry-After"], raw.json()["code"]) == (500, "2.5", 20500)


async def test_sender_retries_through_injected_faults(
    http: HttpxTwilioHttpClient, store: TwilioDoubleStore
) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    store.fail_next(2, status=429, retry_after=1)
    sender = whatsapp_sender(http, sleep)
    receipt = await sender.send(OutboundMessage(1, "a1", "twilio", "+5511911112222", "hey"))

    assert delays == [1.0, 1.0]
    assert [m.sid for m in store.messages] == [receipt.external_id]
    assert (store.messages[0].to, store.messages[0].from_) == (ANA, BOT)


async def test_configured_accounts_require_the_matching_token(
    http: HttpxTwilioHttpClient, store: TwilioDoubleStore
) -> None:
    store.accounts = {SID: TOKEN}
    with pytest.raises(TwilioRestException) as caught:
        await messages_of(http, token="wrong").create_async(to=ANA, from_=BOT, body="hi")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    await messages_of(http).create_async(to=ANA, from_=BOT, body="hi")
    assert len(store.messages) == 1


async def test_without_accounts_the_user_must_be_the_path_account(
    web: httpx.AsyncClient, store: TwilioDoubleStore
) -> None:
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = {"To": ANA, "From": BOT, "Body": "hi"}
    other = await web.post(path, data=form, auth=("AC" + "f" * 32, "t"))
    missing = await web.post(path, data=form)
    good = await web.post(path, data=form, auth=(SID, "anything"))
    assert [other.status_code, missing.status_code, good.status_code] == [401, 401, 201]
    assert other.json()["code"] == 20003
    assert len(store.messages) == 1


async def test_human_page_shows_everything_recorded(
    messages: MessageList, web: httpx.AsyncClient
) -> None:
    await messages.create_async(to=ANA, from_=BOT, body="hi", status_callback="https://x/cb")
    page = (await web.get("/messages")).json()
    assert page["count"] == 1
    assert page["messages"][0]["body"] == "hi"
    assert page["messages"][0]["status_callback"] == "https://x/cb"


# --- a 5xx for a message that was created --------------------------------------------------------


@pytest.fixture
def live_store() -> TwilioDoubleStore:
    """A double on the real clock: the sender compares its dates with its own clock."""
    return TwilioDoubleStore()


@pytest.fixture
async def live(
    live_store: TwilioDoubleStore,
) -> AsyncIterator[tuple[HttpxTwilioHttpClient, list[str]]]:
    """An SDK client over the live double and the `METHOD path` of every request it got."""
    seen: list[str] = []

    async def remember(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    transport = httpx.ASGITransport(app=create_twilio_double_app(live_store))  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, event_hooks={"request": [remember]}
    ) as client:
        yield HttpxTwilioHttpClient(BASE, client=client), seen


async def no_sleep(seconds: float) -> None:
    return None


MESSAGES = f"/sandbox/twilio/2010-04-01/Accounts/{SID}/Messages.json"


async def test_a_created_fault_records_the_message_and_still_answers_500(
    live_store: TwilioDoubleStore, live: tuple[HttpxTwilioHttpClient, list[str]]
) -> None:
    live_store.fail_next(1, 500, created=True)
    with pytest.raises(TwilioRestException) as caught:
        await messages_of(live[0]).create_async(to=ANA, from_=BOT, body="hi")

    assert (caught.value.status, caught.value.code) == (500, 20500)
    assert [(m.to, m.from_, m.body) for m in live_store.messages] == [(ANA, BOT, "hi")]
    listed = await messages_of(live[0]).list_async(to=ANA, from_=BOT)
    assert [m.sid for m in listed] == [live_store.messages[0].sid]


async def test_500_for_a_created_message_is_sent_exactly_once(
    live_store: TwilioDoubleStore, live: tuple[HttpxTwilioHttpClient, list[str]]
) -> None:
    http, seen = live
    live_store.fail_next(1, 500, created=True)

    receipt = await whatsapp_sender(http, no_sleep).send(
        OutboundMessage(1, "a1", "twilio", "+5511911112222", "hey")
    )

    assert len(live_store.messages) == 1
    assert receipt.external_id == live_store.messages[0].sid
    assert receipt.status == "sent"
    assert seen == [f"POST {MESSAGES}", f"GET {MESSAGES}"]


async def test_500_that_created_nothing_is_resent_once_after_the_look_up(
    live_store: TwilioDoubleStore, live: tuple[HttpxTwilioHttpClient, list[str]]
) -> None:
    http, seen = live
    live_store.fail_next(1, 500)

    receipt = await whatsapp_sender(http, no_sleep).send(
        OutboundMessage(1, "a1", "twilio", "+5511911112222", "hey")
    )

    assert [m.sid for m in live_store.messages] == [receipt.external_id]
    assert seen == [f"POST {MESSAGES}", f"GET {MESSAGES}", f"POST {MESSAGES}"]


async def test_opted_out_recipient_is_a_final_failure_with_code_21610(
    live_store: TwilioDoubleStore, live: tuple[HttpxTwilioHttpClient, list[str]]
) -> None:
    http, seen = live
    live_store.fail_next(1, 400, code=21610)

    with pytest.raises(SendFailed) as caught:
        await whatsapp_sender(http, no_sleep).send(
            OutboundMessage(1, "a1", "twilio", "+5511911112222", "hey")
        )

    assert caught.value.code == "21610"
    assert live_store.messages == []
    assert seen == [f"POST {MESSAGES}"]


@pytest.mark.parametrize(("status", "created"), [(429, True), (400, True), (600, False)])
def test_impossible_faults_are_refused(
    store: TwilioDoubleStore, status: int, created: bool
) -> None:
    with pytest.raises(ValueError):
        store.fail_next(1, status, created=created)


async def test_a_template_is_recorded_with_its_content_sid_and_variables(
    live_store: TwilioDoubleStore, live: tuple[HttpxTwilioHttpClient, list[str]]
) -> None:
    http, _ = live
    template = Template("HX" + "a" * 32, {"1": "Ana"})

    await whatsapp_sender(http, no_sleep).send(
        OutboundMessage(1, "a1", "twilio", "+5511911112222", template.label, template=template)
    )

    [recorded] = live_store.messages
    assert (recorded.content_sid, recorded.content_variables) == (
        template.content_sid,
        {"1": "Ana"},
    )


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"ContentSid": "HX123"}, 21655),
        ({"ContentSid": "HX" + "a" * 32, "ContentVariables": "[1]"}, 21656),
        ({"ContentSid": "HX" + "a" * 32, "ContentVariables": "{not json"}, 21656),
    ],
)
async def test_a_bad_template_is_refused_as_twilio_does(
    web: httpx.AsyncClient, store: TwilioDoubleStore, fields: dict[str, str], code: int
) -> None:
    answer = await web.post(
        f"{BASE}/2010-04-01/Accounts/{SID}/Messages.json",
        data={"To": ANA, "From": BOT, **fields},
        auth=(SID, TOKEN),
    )

    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert store.messages == []
