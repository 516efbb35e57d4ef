"""`python -m app sandbox say`: play a person on any channel against a running dev gateway."""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from config.container import Container
from config.lifecycle import database_session
from ports.values import ASSISTANT


async def say(container: Container, args: argparse.Namespace) -> int:
    """Sends a webhook exactly as the channel's provider does (signed), and prints the reply."""
    channels = container.channels()
    kind = args.channel or channels.configurable()[0].kind
    plugin = channels.get(kind)
    if plugin is None:
        print(f"no channel kind {kind!r}: one of {', '.join(p.kind for p in channels)}")
        return 2
    async with database_session(container):
        channel = await container.channel_directory().resolve(args.agent, kind)
        if channel is None or not channel.enabled:
            print(f"{plugin.label} is not enabled for this agent")
            return 1
        contact = args.phone if plugin.traits.contact_is_phone else args.contact
        built = plugin.sandbox_request(
            channel, args.url.rstrip("/"), contact, args.name, args.message
        )
        if built is None:
            print(f"{plugin.label} has no webhook to play")
            return 1
        async with httpx.AsyncClient(timeout=15) as client:
            response = await client.post(
                built.url, data=built.form, json=built.json, headers=built.headers
            )
        print(f"webhook answered {response.status_code}")
        if response.status_code != 200:
            print(response.text)
            return 1
        intake = container.intake()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            messages = await intake.conversation(args.agent, kind, contact)
            mine = [m for m in messages if m.external_id == built.external_id]
            replies = [
                m for m in messages if m.role == ASSISTANT and mine and m.reply_to_id == mine[0].id
            ]
            if replies and replies[0].status not in ("queued", "sending"):
                print(f"agent replied ({replies[0].status}): {replies[0].content}")
                return 0
            await asyncio.sleep(0.2)
        print("no reply within 20 s: is the gateway running, and its provider API reachable?")
        return 1
