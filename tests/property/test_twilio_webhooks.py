"""Twilio's webhooks (WhatsApp at /webhooks/twilio/{id}, SMS at /webhooks/sms/{id}) under
arbitrary Unicode and bytes, every request signed exactly as Twilio signs it.

Properties, on SQLite and on PostgreSQL:
- nothing answers 5xx;
- a signed message with a valid `From` and a `MessageSid` of 1 to 64 characters answers 200;
  any other answers 400 naming the field;
- every 200 is stored exactly once, its text equal to what was sent after the documented
  normalisation (`core.text.storable`), and readable through the admin API.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from adapters.persistence.tortoise.models import Lead, Message
from core.text import MAX_NAME_CHARS, storable
from tests.conftest import twilio_signature
from tests.e2e.conftest import ACCOUNT_SID, AUTH_TOKEN, CHANNEL_NUMBER, Gateway
from tests.property.strategies import (
    ANY_CHAR,
    BYTES,
    PROPERTY,
    TEXT,
    as_received,
    form_body,
    fresh,
    phone,
    stored,
)

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_SID = 64  # adapters/twilio/inbound.py: longer ones are refused with a 400 naming the field

# kind -> (route, address of a phone as Twilio writes it in `From`, session prefix)
ROUTES = {"whatsapp": ("twilio", "whatsapp:{}", "twilio"), "sms": ("sms", "{}", "sms")}


async def agent_with(gw: Gateway, kind: str) -> str:
    agent_id = await gw.create_agent()
    body = gw.channel_body()
    response = await gw.api("PUT", f"/api/agents/{agent_id}/channels/{kind}", json=body)
    assert response.status_code == 200, await response.get_json()
    return agent_id


def form(kind: str, n: int, **fields: str) -> dict[str, str]:
    sid = f"SM{n:08d}"
    address = ROUTES[kind][1]
    values = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": address.format(phone(n)),
        "To": address.format(CHANNEL_NUMBER),
        "Body": f"hello {n}",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    if kind == "whatsapp":
        values.update({"ProfileName": "Ana", "WaId": phone(n).lstrip("+"), "MessageType": "text"})
    values.update(fields)
    return values


async def post_signed(gw: Gateway, kind: str, agent_id: str, params: dict[str, str]) -> Any:
    path = f"/webhooks/{ROUTES[kind][0]}/{agent_id}"
    signature = twilio_signature(f"http://localhost{path}", params, AUTH_TOKEN)
    return await gw.request("POST", path, form=params, headers={"X-Twilio-Signature": signature})


async def post_signed_bytes(gw: Gateway, kind: str, agent_id: str, fields: dict[str, bytes]) -> Any:
    """The form as raw bytes (maybe not UTF-8), signed over what the gateway will read, as
    Twilio signs what it sends."""
    path = f"/webhooks/{ROUTES[kind][0]}/{agent_id}"
    readable = {k: as_received(v) for k, v in fields.items()}
    signature = twilio_signature(f"http://localhost{path}", readable, AUTH_TOKEN)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return await gw.request("POST", path, data=form_body(fields), headers=headers)


async def assert_stored_once(
    gw: Gateway,
    kind: str,
    agent_id: str,
    sid: str,
    body: str,
    session: str | None = None,
) -> dict[str, Any]:
    rows = await stored(agent_id, storable(sid))
    assert [(r["role"], r["kind"]) for r in rows] == [("user", kind)], rows
    assert rows[0]["content"] == storable(body)
    if session is not None:
        assert rows[0]["session_id"] == session
        items = await gw.messages(session)
        users = [m["content"] for m in items if m["role"] == "user"]
        assert users == [storable(body)], items
    return rows[0]


async def assert_not_stored(agent_id: str, n: int) -> None:
    """Nothing of example `n` was stored (its MessageSid, however long, starts SM{n:08d})."""
    rows = await Message.filter(agent_id=agent_id, external_id__startswith=f"SM{n:08d}")
    assert rows == []


KINDS = st.sampled_from(sorted(ROUTES))


@pytest.fixture
async def agents(gw: Gateway) -> dict[str, str]:
    """One agent per Twilio kind for the whole test (each example has its own phone)."""
    return {kind: await agent_with(gw, kind) for kind in ROUTES}


@PROPERTY
@given(kind=KINDS, body=TEXT, name=TEXT)
async def test_any_body_and_profile_name_are_stored_once_as_sent(
    gw: Gateway, agents: dict[str, str], kind: str, body: str, name: str
) -> None:
    n = fresh()
    params = form(kind, n, Body=body, ProfileName=name)

    response = await post_signed(gw, kind, agents[kind], params)

    assert response.status_code == 200, (response.status_code, await response.get_data())
    session = f"{ROUTES[kind][2]}_{agents[kind]}_{phone(n)}"
    await assert_stored_once(gw, kind, agents[kind], params["MessageSid"], body, session)
    # The sender's name is kept on the lead, normalised the same way (and capped).
    leads = await Lead.filter(agent_id=agents[kind], contact=phone(n)).values("name")
    assert leads == [{"name": storable(name)[:MAX_NAME_CHARS] or None}]


@PROPERTY
@given(kind=KINDS, tail=st.one_of(TEXT, st.text(ANY_CHAR, min_size=60, max_size=400)))
async def test_any_message_sid_is_stored_once_or_refused_naming_it(
    gw: Gateway, agents: dict[str, str], kind: str, tail: str
) -> None:
    n = fresh()
    sid = f"SM{n:08d}{tail}"  # unique per example, whatever the tail normalises to
    params = form(kind, n, MessageSid=sid)

    response = await post_signed(gw, kind, agents[kind], params)

    if len(sid) <= MAX_SID:
        assert response.status_code == 200, (response.status_code, await response.get_data())
        session = f"{ROUTES[kind][2]}_{agents[kind]}_{phone(n)}"
        await assert_stored_once(gw, kind, agents[kind], sid, params["Body"], session)
    else:
        assert response.status_code == 400, (response.status_code, await response.get_data())
        assert "MessageSid" in (await response.get_data(as_text=True))
        await assert_not_stored(agents[kind], n)


FREE_FROM = st.one_of(
    TEXT,
    st.builds(lambda p, t: p + t, st.sampled_from(["whatsapp:", "whatsapp:+", "+", "sms:+"]), TEXT),
    st.builds(
        lambda p, d: p + d,
        st.sampled_from(["whatsapp:+", "+", " +"]),
        st.text(st.characters(categories=["Nd"]), min_size=1, max_size=40),
    ),
)
# The example's own number as people and gateways write it: digits of another script, spaces,
# dashes, dots, brackets, invisible characters, a prefix Twilio would or would not send.
ZEROS = st.sampled_from([0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE])
SEPARATORS = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", "\u00a0", "\u200b", "/"])
VARIANT = st.tuples(
    st.sampled_from(["whatsapp:", "", " ", "whatsapp: ", "tel:"]),
    st.lists(ZEROS, min_size=11, max_size=11),
    st.lists(SEPARATORS, min_size=11, max_size=11),
    st.sampled_from(["", " ", "\x00", "x", ";ext=1"]),
)


def written(number: str, variant: tuple[str, list[int], list[str], str]) -> str:
    prefix, zeros, separators, suffix = variant
    digits = number.lstrip("+")
    spelled = "".join(
        sep + chr(zero + int(d)) for d, zero, sep in zip(digits, zeros, separators, strict=True)
    )
    return f"{prefix}+{spelled}{suffix}"


@PROPERTY
@given(kind=KINDS, free=st.one_of(st.none(), FREE_FROM), variant=VARIANT)
async def test_any_from_is_stored_once_under_an_e164_contact_or_refused(
    gw: Gateway,
    agents: dict[str, str],
    kind: str,
    free: str | None,
    variant: tuple[str, list[int], list[str], str],
) -> None:
    n = fresh()
    sender = free if free is not None else written(phone(n), variant)
    params = form(kind, n, From=sender)

    response = await post_signed(gw, kind, agents[kind], params)

    event(f"{'free' if free is not None else 'variant'}: HTTP {response.status_code}")
    if response.status_code == 200:
        row = await assert_stored_once(gw, kind, agents[kind], params["MessageSid"], params["Body"])
        prefix = f"{ROUTES[kind][2]}_{agents[kind]}_"
        assert row["session_id"].startswith(prefix)
        contact = row["session_id"].removeprefix(prefix)
        assert E164.fullmatch(contact), contact
        if free is None:
            assert contact == phone(n)  # the same number, however it was written
        items = await gw.messages(row["session_id"])
        assert [m["content"] for m in items if m["role"] == "user"].count(params["Body"]) == 1
    else:
        assert response.status_code == 400, (response.status_code, await response.get_data())
        assert "From" in (await response.get_data(as_text=True))
        await assert_not_stored(agents[kind], n)


@PROPERTY
@given(kind=KINDS, body=BYTES, name=BYTES, media=BYTES)
async def test_any_bytes_in_the_form_are_stored_once_as_read(
    gw: Gateway, agents: dict[str, str], kind: str, body: bytes, name: bytes, media: bytes
) -> None:
    n = fresh()
    fields = {k: v.encode() for k, v in form(kind, n).items()}
    fields.update({"Body": body, "ProfileName": name, "MediaUrl0": media, "NumMedia": b"1"})

    response = await post_signed_bytes(gw, kind, agents[kind], fields)

    assert response.status_code == 200, (response.status_code, await response.get_data())
    session = f"{ROUTES[kind][2]}_{agents[kind]}_{phone(n)}"
    sid = f"SM{n:08d}"
    await assert_stored_once(gw, kind, agents[kind], sid, as_received(body), session)


@PROPERTY
@given(
    kind=KINDS,
    raw=st.binary(max_size=600),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/form-data",
        ]
    ),
)
async def test_any_unsigned_body_is_refused_without_a_5xx(
    gw: Gateway, agents: dict[str, str], kind: str, raw: bytes, content_type: str
) -> None:
    path = f"/webhooks/{ROUTES[kind][0]}/{agents[kind]}"
    headers = {"Content-Type": content_type, "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}

    response = await gw.request("POST", path, data=raw, headers=headers)

    assert response.status_code in (400, 403), (response.status_code, await response.get_data())
