"""`python -m app sandbox say`: play a WhatsApp user against a running dev gateway."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time

import httpx
from twilio.request_validator import RequestValidator

from config.container import Container
from config.lifecycle import database_session
from ports.values import ASSISTANT


async def say(container: Container, args: argparse.Namespace) -> int:
    """Signs a webhook exactly as Twilio does, posts it, and prints the agent's reply."""
    async with database_session(container):
        channel = await container.channel_directory().resolve(args.agent, "whatsapp")
        if channel is None or not channel.enabled:
            print("WhatsApp is not enabled for this agent")
            return 1
        url = f"{args.url.rstrip('/')}/webhooks/twilio/{args.agent}"
        params = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": channel.settings["account_sid"],
            "From": f"whatsapp:{args.phone}",
            "To": f"whatsapp:{channel.settings['phone_number']}",
            "Body": args.message,
            "ProfileName": args.name,
            "WaId": args.phone.lstrip("+"),
            "NumMedia": "0",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        signature = RequestValidator(channel.secrets["auth_token"]).compute_signature(url, params)
        async with httpx.AsyncClient(timeout=15) as client:
            response = await client.post(
                url, data=params, headers={"X-Twilio-Signature": signature}
            )
        print(f"webhook answered {response.status_code}")
        if response.status_code != 200:
            print(response.text)
            return 1
        session_id = f"twilio_{args.agent}_{args.phone}"
        store = container.message_store()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            messages = await store.session_messages(session_id)
            mine = [m for m in messages if m.external_id == params["MessageSid"]]
            replies = [
                m for m in messages if m.role == ASSISTANT and mine and m.reply_to_id == mine[0].id
            ]
            if replies and replies[0].status not in ("queued", "sending"):
                print(f"agent replied ({replies[0].status}): {replies[0].content}")
                return 0
            await asyncio.sleep(0.2)
        print(
            "no reply within 20 s: is the gateway running, and its TWILIO_API_BASE_URL reachable?"
        )
        return 1
