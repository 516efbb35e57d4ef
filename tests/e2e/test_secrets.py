"""After a whole conversation the auth token is nowhere: on disk, in logs or in answers."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_TOKEN,
    GatewayFactory,
    twilio_error,
)


def leaked_forms(token: str) -> list[bytes]:
    """The token as text, and inside the Basic auth header Twilio calls carry."""
    basic = base64.b64encode(f"{ACCOUNT_SID}:{token}".encode())
    return [token.encode(), token.encode("utf-16-le"), basic]


def data_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


async def test_the_auth_token_is_never_stored_logged_or_answered(
    open_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_gateway() as gw:
        data_dir = gw.settings.data_dir
        agent = await gw.whatsapp_agent()
        session = gw.session_of(agent)
        await gw.webhook(agent, gw.inbound(body="hello"))
        await gw.wait_answered(session)
        await gw.status_callback(agent, gw.twilio.sent[0].sid, "delivered")
        await gw.webhook(agent, token=OTHER_TOKEN)  # a forged one, refused
        await gw.configure(agent, auth_token=OTHER_TOKEN)  # rotate the token ...
        await gw.configure(agent, auth_token=AUTH_TOKEN)  # ... and back
        await gw.configure(agent, auth_token=...)
        gw.twilio.faults = [twilio_error(429, 20429)]  # a retried send logs too
        await gw.webhook(agent, gw.inbound(body="again"))
        await gw.wait_answered(session, users=2)
        await gw.api("GET", f"/api/agents/{agent}/channels/whatsapp")
        await gw.api("GET", "/api/leads")
        await gw.api("GET", "/api/leads.csv")
        await gw.api("GET", f"/api/sessions/{session}/messages")
        bodies = list(gw.bodies)
        assert gw.twilio.create.call_count >= 2  # the token was really used

    files = data_files(data_dir)
    assert any(name.endswith("-wal") or name.endswith(".sqlite3") for name in files)
    # The scan is able to see what is stored: the account sid (not a secret) is in there.
    assert any(ACCOUNT_SID.encode() in content for content in files.values())
    for token in (AUTH_TOKEN, OTHER_TOKEN):
        for form in leaked_forms(token):
            for name, content in files.items():
                assert form not in content, f"token stored in {name}"
            assert form.decode("latin-1") not in caplog.text
            for body in bodies:
                assert form not in body
    # The capture saw the sending path (the 429 retry is logged), so the check proves something.
    assert {r.name for r in caplog.records if r.name.startswith("adapters.twilio")}
