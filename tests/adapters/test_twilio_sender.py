"""TwilioMessageSender over the real twilio SDK and HttpxTwilioHttpClient; respx mocks HTTP."""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

import adapters.twilio.sender as sender_module
from adapters.channels.whatsapp.errors import ERROR_WORDS
from adapters.twilio.http_client import HttpxTwilioHttpClient
from adapters.twilio.sender import TwilioMessageSender
from ports.driven import MessageSender
from ports.driving import ResolvedChannel
from ports.errors import NotFound, SendFailed, SendOutcomeUnknown
from ports.values import OutboundMessage, Template

BASE = "https://api.twilio.test"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f00dfacecafe5ec7e7a0be1d5a1f7e5b"
PHONE = "+14155238886"
CONTACT = "+5511987654321"
AGENT = "agent-1"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
TO, FROM = f"whatsapp:{CONTACT}", f"whatsapp:{PHONE}"
SECRET_FORMS = (TOKEN, base64.b64encode(f"{SID}:{TOKEN}".encode()).decode())


def whatsapp_address(number: str) -> str:
    return "whatsapp:" + number


WHATSAPP: dict[str, Any] = {
    "kind": "whatsapp",
    "address": whatsapp_address,
    "webhook_route": "twilio",
    "error_words": ERROR_WORDS,
}


class FakeChannels:
    """A ChannelDirectory with one agent whose channel (of `channel.kind`) the test may change."""

    def __init__(self, channel: ResolvedChannel | None) -> None:
        self.channel = channel
        self.asked: list[str] = []

    async def resolve(self, agent_id: str, kind: str) -> ResolvedChannel | None:
        self.asked.append(kind)
        if agent_id != AGENT:
            raise NotFound(agent_id)
        return self.channel if self.channel is not None and kind == self.channel.kind else None


def whatsapp_channel(enabled: bool = True, kind: str = "whatsapp") -> ResolvedChannel:
    return ResolvedChannel(
        agent_id=AGENT,
        kind=kind,
        settings={"account_sid": SID, "phone_number": PHONE},
        secrets={"auth_token": TOKEN},
        enabled=enabled,
    )


def twilio_message(sid: str, body: str, created: datetime, to: str = TO) -> dict[str, Any]:
    date = format_datetime(created.astimezone(UTC).replace(microsecond=0))
    return {
        "sid": sid,
        "account_sid": SID,
        "to": to,
        "from": FROM,
        "body": body,
        "status": "queued",
        "date_created": date,
        "date_updated": date,
        "date_sent": None,
        "direction": "outbound-api",
        "error_code": None,
        "num_segments": "1",
        "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
    }


def created(sid: str = "SM" + "1" * 32) -> httpx.Response:
    return httpx.Response(201, json=twilio_message(sid, "hello", datetime.now(UTC)))


def listing(*messages: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messages": list(messages),
            "page": 0,
            "page_size": 50,
            "start": 0,
            "end": max(len(messages) - 1, 0),
            "uri": PATH,
            "first_page_uri": PATH,
            "previous_page_uri": None,
            "next_page_uri": None,
        },
    )


def error(status: int, code: int, headers: dict[str, str] | None = None) -> httpx.Response:
    payload = {"code": code, "message": "nope", "more_info": "", "status": status}
    return httpx.Response(status, json=payload, headers=headers)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def http() -> AsyncIterator[HttpxTwilioHttpClient]:
    client = HttpxTwilioHttpClient(BASE)
    yield client
    await client.aclose()


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
def channels() -> FakeChannels:
    return FakeChannels(whatsapp_channel())


@pytest.fixture
def sender(
    channels: FakeChannels, http: HttpxTwilioHttpClient, delays: list[float]
) -> TwilioMessageSender:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return TwilioMessageSender(
        channels,
        http,
        **WHATSAPP,
        max_attempts=3,
        status_callback_base="https://gw.example/",
        sleep=sleep,
    )


def outbound(body: str = "hello", previous: datetime | None = None) -> OutboundMessage:
    return OutboundMessage(7, AGENT, "twilio", CONTACT, body, previous_attempt_at=previous)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_sender_satisfies_the_port(sender: TwilioMessageSender) -> None:
    port: MessageSender = sender
    assert port is sender


async def test_send_posts_the_form_with_basic_auth_to_the_rebased_url(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    post = router.post(PATH).mock(return_value=created("SM" + "a" * 32))

    receipt = await sender.send(outbound())

    assert (receipt.external_id, receipt.status) == ("SM" + "a" * 32, "sent")
    request = post.calls.last.request
    assert str(request.url) == f"{BASE}{PATH}"
    assert request.headers["Authorization"] == f"Basic {SECRET_FORMS[1]}"
    assert form(request) == {
        "To": TO,
        "From": FROM,
        "Body": "hello",
        "StatusCallback": f"https://gw.example/webhooks/twilio/{AGENT}/status",
    }
    assert delays == []


async def test_no_status_callback_without_a_base(
    router: respx.MockRouter, channels: FakeChannels, http: HttpxTwilioHttpClient
) -> None:
    post = router.post(PATH).mock(return_value=created())

    await TwilioMessageSender(channels, http, **WHATSAPP).send(outbound())

    assert "StatusCallback" not in form(post.calls.last.request)


async def test_twilio_region_in_the_environment_does_not_move_requests(
    router: respx.MockRouter, sender: TwilioMessageSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    post = router.post(PATH).mock(return_value=created())

    await sender.send(outbound())

    assert post.call_count == 1


@pytest.mark.parametrize(("retry_after", "expected"), [("3", 3.0), ("120", 20.0)])
async def test_429_waits_retry_after_capped_then_sends_once(
    router: respx.MockRouter,
    sender: TwilioMessageSender,
    delays: list[float],
    retry_after: str,
    expected: float,
) -> None:
    post = router.post(PATH).mock(
        side_effect=[error(429, 20429, {"Retry-After": retry_after}), created()]
    )
    lookup = router.get(PATH).mock(return_value=listing())

    receipt = await sender.send(outbound())

    assert receipt.external_id.startswith("SM")
    assert post.call_count == 2
    assert lookup.call_count == 0
    assert delays == [expected]


async def test_500_is_retried_with_jittered_backoff(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    post = router.post(PATH).mock(side_effect=[error(500, 20500), created()])
    router.get(PATH).mock(return_value=listing())

    await sender.send(outbound())

    assert post.call_count == 2
    assert len(delays) == 1 and 0.0 <= delays[0] <= 0.5


async def test_connect_error_is_retried_without_lookup(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(side_effect=[httpx.ConnectError, created()])
    lookup = router.get(PATH).mock(return_value=listing())

    await sender.send(outbound())

    assert post.call_count == 2
    assert lookup.call_count == 0


async def test_other_4xx_fails_at_once_with_twilio_code(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    post = router.post(PATH).mock(return_value=error(400, 21211))

    with pytest.raises(SendFailed) as caught:
        await sender.send(outbound())

    assert caught.value.code == "21211"
    assert post.call_count == 1
    assert delays == []


@pytest.mark.parametrize("lost", [httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_unknown_outcome_found_in_the_list_is_not_resent(
    router: respx.MockRouter, sender: TwilioMessageSender, lost: type[Exception]
) -> None:
    post = router.post(PATH).mock(side_effect=[lost, created()])

    def found(request: httpx.Request) -> httpx.Response:
        return listing(twilio_message("SM" + "f" * 32, "hello", datetime.now(UTC)))

    lookup = router.get(PATH).mock(side_effect=found)

    receipt = await sender.send(outbound())

    assert receipt.external_id == "SM" + "f" * 32
    assert post.call_count == 1
    params = lookup.calls.last.request.url.params
    assert (params["To"], params["From"], params["PageSize"]) == (TO, FROM, "50")


async def test_unknown_outcome_not_in_the_list_is_resent_once(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(side_effect=[httpx.ReadTimeout, created("SM" + "2" * 32)])
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    lookup = router.get(PATH).mock(
        return_value=listing(
            twilio_message("SM" + "3" * 32, "other text", datetime.now(UTC)),
            twilio_message("SM" + "4" * 32, "hello", hour_ago),
            twilio_message("SM" + "5" * 32, "hello", datetime.now(UTC), to="whatsapp:+15550001"),
        )
    )

    receipt = await sender.send(outbound())

    assert receipt.external_id == "SM" + "2" * 32
    assert post.call_count == 2
    assert lookup.call_count == 1


async def test_previous_attempt_found_means_no_post_at_all(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(return_value=created())
    crashed_at = datetime.now(UTC) - timedelta(minutes=2)
    router.get(PATH).mock(
        return_value=listing(twilio_message("SM" + "6" * 32, "hello", crashed_at))
    )

    receipt = await sender.send(outbound(previous=crashed_at.replace(microsecond=999_999)))

    assert receipt.external_id == "SM" + "6" * 32
    assert post.call_count == 0


async def test_previous_attempt_not_found_is_sent(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(return_value=created())
    lookup = router.get(PATH).mock(return_value=listing())

    await sender.send(outbound(previous=datetime.now(UTC) - timedelta(minutes=1)))

    assert (lookup.call_count, post.call_count) == (1, 1)


async def test_attempts_exhausted_is_send_failed(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    post = router.post(PATH).mock(return_value=error(503, 20503))
    router.get(PATH).mock(return_value=listing())

    with pytest.raises(SendFailed):
        await sender.send(outbound())

    assert post.call_count == 3
    assert len(delays) == 2


async def test_unknown_last_attempt_and_no_lookup_is_outcome_unknown(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    router.post(PATH).mock(side_effect=httpx.ReadTimeout)
    router.get(PATH).mock(side_effect=httpx.ConnectError)

    with pytest.raises(SendOutcomeUnknown):
        await sender.send(outbound())


async def test_refused_lookup_is_outcome_unknown_at_once(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(return_value=created())
    lookup = router.get(PATH).mock(return_value=error(401, 20003))

    with pytest.raises(SendOutcomeUnknown):
        await sender.send(outbound(previous=datetime.now(UTC)))

    assert (lookup.call_count, post.call_count) == (1, 0)


async def test_failing_lookup_is_retried_before_any_post(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(return_value=created())
    lookup = router.get(PATH).mock(side_effect=[error(503, 20503), listing()])

    await sender.send(outbound(previous=datetime.now(UTC)))

    assert (lookup.call_count, post.call_count) == (2, 1)


async def test_unknown_last_attempt_confirmed_absent_is_send_failed(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(side_effect=httpx.ReadTimeout)
    lookup = router.get(PATH).mock(return_value=listing())

    with pytest.raises(SendFailed):
        await sender.send(outbound())

    assert (post.call_count, lookup.call_count) == (3, 3)


@pytest.mark.parametrize(
    "channel", [None, whatsapp_channel(enabled=False)], ids=["missing", "disabled"]
)
async def test_unusable_channel_is_send_failed_without_http(
    router: respx.MockRouter, http: HttpxTwilioHttpClient, channel: ResolvedChannel | None
) -> None:
    with pytest.raises(SendFailed):
        await TwilioMessageSender(FakeChannels(channel), http, **WHATSAPP).send(outbound())
    assert len(router.calls) == 0


async def test_unknown_agent_is_send_failed(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    message = OutboundMessage(1, "nobody", "twilio", CONTACT, "hi")
    with pytest.raises(SendFailed):
        await sender.send(message)


async def test_the_auth_token_leaks_into_no_exception_and_no_log(
    router: respx.MockRouter, sender: TwilioMessageSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router.post(PATH).mock(
        side_effect=[error(400, 21211), httpx.ReadTimeout, httpx.ReadTimeout, httpx.ReadTimeout]
    )
    router.get(PATH).mock(side_effect=httpx.ConnectError)
    raised: list[BaseException] = []
    for _ in range(2):
        with pytest.raises((SendFailed, SendOutcomeUnknown)) as caught:
            await sender.send(outbound())
        raised.append(caught.value)

    assert [type(e) for e in raised] == [SendFailed, SendOutcomeUnknown]
    for exc in raised:
        assert exc.__cause__ is None and exc.__context__ is None
        texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        for text in texts:
            assert not any(secret in text for secret in SECRET_FORMS)
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.args)
        assert not any(secret in text for secret in SECRET_FORMS), record.name


async def test_rebase_keeps_path_and_query_and_leaves_other_hosts() -> None:
    client = HttpxTwilioHttpClient("http://double.test:8080/sandbox/twilio/")
    await client.aclose()
    moved = client.rebase(f"https://api.twilio.com{PATH}?To=x&Page=1")
    assert moved == f"http://double.test:8080/sandbox/twilio{PATH}?To=x&Page=1"
    other = "https://messaging.twilio.com/v1/Services"
    assert client.rebase(other) == other
    with pytest.raises(ValueError):
        HttpxTwilioHttpClient("api.twilio.com")


# --- a 5xx is an unknown outcome: looked up, never doubled -------------------------------------


async def test_500_for_a_message_twilio_created_is_found_and_not_resent(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    post = router.post(PATH).mock(side_effect=[error(500, 20500), created()])

    def found(request: httpx.Request) -> httpx.Response:
        return listing(twilio_message("SM" + "c" * 32, "hello", datetime.now(UTC)))

    lookup = router.get(PATH).mock(side_effect=found)

    receipt = await sender.send(outbound())

    assert (receipt.external_id, receipt.status) == ("SM" + "c" * 32, "sent")
    assert (post.call_count, lookup.call_count) == (1, 1)
    assert len(delays) == 1
    params = lookup.calls.last.request.url.params
    assert (params["To"], params["From"]) == (TO, FROM)


async def test_500_not_created_is_looked_up_then_resent_once(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(side_effect=[error(502, 20500), created("SM" + "d" * 32)])
    lookup = router.get(PATH).mock(return_value=listing())

    receipt = await sender.send(outbound())

    assert receipt.external_id == "SM" + "d" * 32
    assert (post.call_count, lookup.call_count) == (2, 1)
    methods = [call.request.method for call in router.calls]
    assert methods == ["POST", "GET", "POST"]


async def test_look_up_after_a_500_skips_known_ids_and_older_messages(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(side_effect=[error(500, 20500), created("SM" + "e" * 32)])
    now = datetime.now(UTC)
    router.get(PATH).mock(
        return_value=listing(
            twilio_message("SM" + "7" * 32, "hello", now),  # another reply's message
            twilio_message("SM" + "8" * 32, "hello", now - timedelta(minutes=5)),
        )
    )
    message = OutboundMessage(
        7, AGENT, "twilio", CONTACT, "hello", known_ids=frozenset({"SM" + "7" * 32})
    )

    receipt = await sender.send(message)

    assert receipt.external_id == "SM" + "e" * 32
    assert post.call_count == 2


async def test_503_retry_after_is_honoured_before_the_look_up(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    router.post(PATH).mock(side_effect=[error(503, 20503, {"Retry-After": "4"}), created()])
    lookup = router.get(PATH).mock(return_value=listing())

    await sender.send(outbound())

    assert delays == [4.0]
    assert lookup.call_count == 1


async def test_a_last_attempt_answered_500_that_created_the_message_is_sent(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(return_value=error(500, 20500))
    lookups = [listing(), listing()]

    def lookup_answer(request: httpx.Request) -> httpx.Response:
        if lookups:
            return lookups.pop()
        return listing(twilio_message("SM" + "9" * 32, "hello", datetime.now(UTC)))

    lookup = router.get(PATH).mock(side_effect=lookup_answer)

    receipt = await sender.send(outbound())

    assert receipt.external_id == "SM" + "9" * 32
    assert (post.call_count, lookup.call_count) == (3, 3)


async def test_a_last_attempt_500_whose_look_up_fails_is_outcome_unknown(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    router.post(PATH).mock(return_value=error(500, 20500))
    router.get(PATH).mock(side_effect=[listing(), listing(), httpx.ConnectError("down")])

    with pytest.raises(SendOutcomeUnknown):
        await sender.send(outbound())


async def test_429_is_refused_so_it_is_resent_without_a_look_up(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(side_effect=[error(429, 20429), error(429, 20429), created()])
    lookup = router.get(PATH).mock(return_value=listing())

    await sender.send(outbound())

    assert (post.call_count, lookup.call_count) == (3, 0)


async def test_21610_recipient_opted_out_is_final_with_its_code(
    router: respx.MockRouter, sender: TwilioMessageSender, delays: list[float]
) -> None:
    post = router.post(PATH).mock(return_value=error(400, 21610))
    lookup = router.get(PATH).mock(return_value=listing())

    with pytest.raises(SendFailed) as caught:
        await sender.send(outbound())

    assert caught.value.code == "21610"
    assert caught.value.opted_out  # the core follows Twilio's own opt-out
    assert "unsubscribed" in str(caught.value)
    assert (post.call_count, lookup.call_count) == (1, 0)
    assert delays == []


async def test_63016_is_recorded_with_its_meaning_in_words(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    router.post(PATH).mock(return_value=error(400, 63016))

    with pytest.raises(SendFailed) as caught:
        await sender.send(outbound())

    assert caught.value.code == "63016"
    assert not caught.value.opted_out
    assert "63016: outside WhatsApp's 24-hour window" in str(caught.value)


TEMPLATE = Template("HX" + "b" * 32, {"1": "Ana", "2": "Thursday 3pm"})


async def test_a_template_is_sent_with_content_sid_and_variables_and_no_body(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    post = router.post(PATH).mock(return_value=created())
    message = OutboundMessage(7, AGENT, "twilio", CONTACT, TEMPLATE.label, template=TEMPLATE)

    await sender.send(message)

    sent = form(post.calls.last.request)
    assert "Body" not in sent
    assert sent["ContentSid"] == TEMPLATE.content_sid
    assert json.loads(sent["ContentVariables"]) == {"1": "Ana", "2": "Thursday 3pm"}


async def test_a_template_after_a_500_is_found_by_address_and_time_not_resent(
    router: respx.MockRouter, sender: TwilioMessageSender
) -> None:
    # Twilio stores the rendered template as the body: the look-up cannot compare it, but it
    # still skips messages other replies own and messages older than the attempt.
    post = router.post(PATH).mock(side_effect=[error(500, 20500), created()])
    now = datetime.now(UTC)
    router.get(PATH).mock(
        return_value=listing(
            twilio_message("SM" + "c" * 32, "Hi Ana, see you Thursday 3pm", now),
            twilio_message("SM" + "7" * 32, "another reply", now),
            twilio_message("SM" + "8" * 32, "older", now - timedelta(minutes=5)),
        )
    )
    message = OutboundMessage(
        7, AGENT, "twilio", CONTACT, TEMPLATE.label, template=TEMPLATE,
        known_ids=frozenset({"SM" + "7" * 32}),
    )  # fmt: skip

    receipt = await sender.send(message)

    assert receipt.external_id == "SM" + "c" * 32
    assert post.call_count == 1


# --- one sender for every Twilio channel kind --------------------------------------------------


def identity(number: str) -> str:
    return number


async def test_an_sms_sender_resolves_its_kind_and_sends_plain_numbers(
    router: respx.MockRouter, http: HttpxTwilioHttpClient
) -> None:
    channels = FakeChannels(whatsapp_channel(kind="sms"))
    sms = TwilioMessageSender(
        channels,
        http,
        kind="sms",
        address=identity,
        webhook_route="sms",
        status_callback_base="https://gw.example",
    )
    post = router.post(PATH).mock(return_value=created("SM" + "b" * 32))

    receipt = await sms.send(outbound())

    assert receipt.external_id == "SM" + "b" * 32
    assert channels.asked == ["sms"]
    assert form(post.calls.last.request) == {
        "To": CONTACT,
        "From": PHONE,
        "Body": "hello",
        "StatusCallback": f"https://gw.example/webhooks/sms/{AGENT}/status",
    }


async def test_an_sms_sender_looks_up_plain_numbers_after_a_500(
    router: respx.MockRouter, http: HttpxTwilioHttpClient
) -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    sms = TwilioMessageSender(
        FakeChannels(whatsapp_channel(kind="sms")),
        http,
        kind="sms",
        address=identity,
        webhook_route="sms",
        sleep=no_sleep,
    )
    post = router.post(PATH).mock(return_value=error(500, 20500))

    def found(request: httpx.Request) -> httpx.Response:
        message = twilio_message("SM" + "a" * 32, "hello", datetime.now(UTC), to=CONTACT)
        return listing({**message, "from": PHONE})

    lookup = router.get(PATH).mock(side_effect=found)

    receipt = await sms.send(outbound())

    assert receipt.external_id == "SM" + "a" * 32
    assert post.call_count == 1
    params = lookup.calls.last.request.url.params
    assert (params["To"], params["From"]) == (CONTACT, PHONE)


async def test_a_sender_of_one_kind_does_not_use_another_kinds_channel(
    router: respx.MockRouter, http: HttpxTwilioHttpClient
) -> None:
    sms = TwilioMessageSender(
        FakeChannels(whatsapp_channel()), http, kind="sms", address=identity, webhook_route="sms"
    )
    with pytest.raises(SendFailed) as caught:
        await sms.send(outbound())
    assert "sms channel" in str(caught.value)
    assert len(router.calls) == 0


@pytest.mark.parametrize("address", [whatsapp_address, identity])
def test_constructor_requires_kind_and_route(
    channels: FakeChannels, http: HttpxTwilioHttpClient, address: Callable[[str], str]
) -> None:
    with pytest.raises(ValueError):
        TwilioMessageSender(channels, http, kind="", address=address, webhook_route="x")
    with pytest.raises(ValueError):
        TwilioMessageSender(channels, http, kind="sms", address=address, webhook_route="/")


def test_the_sender_names_no_channel_kind() -> None:
    source = Path(sender_module.__file__).read_text(encoding="utf-8").lower()
    assert "whatsapp" not in source
