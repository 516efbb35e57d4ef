"""AgentStore: agents that change and are deleted (ports.driven docstrings), on every backend;
and the Tortoise store's agent cache, which lets an edit through another process through."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ports.errors import Conflict
from ports.values import ChannelRecord, InboundMessage
from tests.contract.conftest import Stores, _tortoise_on

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
PHONE = "+14155550100"
SEALED = {"kind": "http", "url": "https://a.example", "sealed": {"header:A": "v1.k1.x.y"}}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def workspace(stores: Stores, name: str = "acme") -> str:
    return await stores.workspaces.ensure_workspace(name, T0)


async def test_create_with_a_chosen_id_then_update_and_list(stores: Stores) -> None:
    ws = await workspace(stores)
    chosen = str(uuid.uuid4())
    agent = await stores.agents.create_agent(ws, "bot", {"kind": "demo"}, T0, agent_id=chosen)
    assert agent.id == chosen and agent.updated_at is None
    with pytest.raises(Conflict):
        await stores.agents.create_agent(ws, "again", {"kind": "demo"}, T0, agent_id=chosen)

    updated = await stores.agents.update_agent(agent.id, "renamed", SEALED, at(5))
    assert updated is not None
    assert (updated.id, updated.workspace_id, updated.name, updated.executor) == (
        chosen, ws, "renamed", SEALED,
    )  # fmt: skip
    assert updated.created_at == T0 and updated.updated_at == at(5)
    assert await stores.agents.get_agent(agent.id) == updated
    assert await stores.agents.list_agents(ws) == [updated]
    assert await stores.agents.update_agent(str(uuid.uuid4()), "x", {}, at(6)) is None
    assert await stores.agents.update_agent("not-a-uuid", "x", {}, at(6)) is None


async def test_all_agents_spans_workspaces_oldest_first(stores: Stores) -> None:
    one = await stores.agents.create_agent(await workspace(stores), "a", {"kind": "demo"}, at(1))
    two = await stores.agents.create_agent(await workspace(stores, "b"), "b", {}, at(0))
    assert [a.id for a in await stores.agents.all_agents()] == [two.id, one.id]


async def test_replace_executor_only_while_unchanged(stores: Stores) -> None:
    ws = await workspace(stores)
    agent = await stores.agents.create_agent(ws, "bot", {"kind": "http"}, T0)
    assert await stores.agents.replace_executor(agent, SEALED, at(1)) is True
    first = await stores.agents.get_agent(agent.id)
    assert first is not None and first.executor == SEALED and first.updated_at == at(1)
    # `agent` (read before that) is stale now: nothing changes.
    assert await stores.agents.replace_executor(agent, {"kind": "demo"}, at(2)) is False
    assert await stores.agents.replace_executor(first, {"kind": "demo"}, at(3)) is True
    edited = await stores.agents.update_agent(agent.id, "bot", {"kind": "python"}, at(4))
    assert edited is not None
    current = await stores.agents.get_agent(agent.id)
    assert current is not None and current.executor == {"kind": "python"}
    assert await stores.agents.replace_executor(first, {"kind": "demo"}, at(5)) is False
    await stores.agents.delete_agent(agent.id)
    assert await stores.agents.replace_executor(edited, {"kind": "demo"}, at(6)) is False


async def test_delete_cascades_to_channels_leads_sessions_and_messages(stores: Stores) -> None:
    ws = await workspace(stores)
    gone = await stores.agents.create_agent(ws, "gone", {"kind": "demo"}, T0)
    kept = await stores.agents.create_agent(ws, "kept", {"kind": "demo"}, T0)
    for agent in (gone, kept):
        await stores.agents.save_channel(ChannelRecord(agent.id, "web", {}, {}, True, T0))
        message = InboundMessage(agent.id, "whatsapp", PHONE, f"SM-{agent.id}", "hi", "Ana")
        await stores.messages.accept_inbound(message, f"twilio_{agent.id}_{PHONE}", T0)

    assert await stores.agents.delete_agent(gone.id) is True

    assert await stores.agents.get_agent(gone.id) is None
    assert [a.id for a in await stores.agents.list_agents(ws)] == [kept.id]
    assert await stores.agents.get_channel(gone.id, "web") is None
    assert [c.agent_id for c in await stores.agents.all_channels()] == [kept.id]
    assert await stores.messages.session_agent(f"twilio_{gone.id}_{PHONE}") is None
    assert await stores.messages.session_messages(f"twilio_{gone.id}_{PHONE}") == []
    assert await stores.messages.sessions_with_pending_work(10) == [f"twilio_{kept.id}_{PHONE}"]
    leads = [lead async for lead in stores.leads.iterate_leads(ws, None, None, None)]
    assert [lead.agent_id for lead in leads] == [kept.id]
    # The same external id can come again for a new agent (nothing of the old one is left).
    assert await stores.agents.delete_agent(gone.id) is False
    assert await stores.agents.delete_agent("not-a-uuid") is False


# --- the Tortoise agent cache ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_edit_through_another_store_is_seen_once_the_cache_entry_expires(
    tmp_path: Path,
) -> None:
    from adapters.persistence.tortoise.directory import AgentCache, TortoiseAgentStore

    async with _tortoise_on(f"sqlite://{tmp_path / 'gateway.sqlite3'}") as stores:
        clock = FakeClock()
        ours = TortoiseAgentStore(cache=AgentCache(ttl_s=2.0, clock=clock))
        other_process = TortoiseAgentStore(cache=AgentCache())
        ws = await workspace(stores)
        agent = await other_process.create_agent(ws, "v1", {"kind": "demo"}, T0)
        assert (await ours.get_agent(agent.id)).name == "v1"  # type: ignore[union-attr]

        await other_process.update_agent(agent.id, "v2", {"kind": "demo"}, at(1))
        clock.now += 1.9
        assert (await ours.get_agent(agent.id)).name == "v1"  # type: ignore[union-attr]
        clock.now += 0.2
        assert (await ours.get_agent(agent.id)).name == "v2"  # type: ignore[union-attr]

        await other_process.delete_agent(agent.id)
        assert await ours.get_agent(agent.id) is not None  # still cached
        clock.now += 2.1
        assert await ours.get_agent(agent.id) is None


async def test_an_edit_in_this_process_is_seen_at_once_by_both_stores(tmp_path: Path) -> None:
    from adapters.persistence.tortoise.directory import AgentCache, TortoiseAgentStore
    from adapters.persistence.tortoise.sql import WORKER

    async with _tortoise_on(f"sqlite://{tmp_path / 'gateway.sqlite3'}") as stores:
        shared = AgentCache(ttl_s=3600)
        api, worker = TortoiseAgentStore(cache=shared), TortoiseAgentStore(WORKER, cache=shared)
        ws = await workspace(stores)
        agent = await api.create_agent(ws, "v1", {"kind": "demo"}, T0)
        assert (await worker.get_agent(agent.id)).name == "v1"  # type: ignore[union-attr]
        await api.update_agent(agent.id, "v2", {"kind": "demo"}, at(1))
        assert (await worker.get_agent(agent.id)).name == "v2"  # type: ignore[union-attr]
        assert (await worker.get_agent(agent.id.upper())).name == "v2"  # type: ignore[union-attr]
        await api.update_agent(agent.id, "v3", {"kind": "demo"}, at(2))
        assert (await worker.get_agent(agent.id.upper())).name == "v3"  # type: ignore[union-attr]
        await api.delete_agent(agent.id)
        assert await worker.get_agent(agent.id) is None


def channel(agent_id: str, token: str, enabled: bool = True) -> ChannelRecord:
    return ChannelRecord(
        agent_id, "whatsapp", {"phone_number": "+14155238886"}, {"auth_token": token}, enabled, T0
    )


async def test_a_channel_edited_through_another_store_is_seen_once_its_entry_expires(
    tmp_path: Path,
) -> None:
    from adapters.persistence.tortoise.directory import AgentCache, TortoiseAgentStore

    async with _tortoise_on(f"sqlite://{tmp_path / 'gateway.sqlite3'}") as stores:
        clock = FakeClock()
        ours = TortoiseAgentStore(cache=AgentCache(ttl_s=2.0, clock=clock))
        other_process = TortoiseAgentStore(cache=AgentCache())
        agent = await other_process.create_agent(await workspace(stores), "a", {}, T0)
        assert await ours.get_channel(agent.id, "whatsapp") is None  # a miss is not kept
        await other_process.save_channel(channel(agent.id, "v1.k1.one"))
        first = await ours.get_channel(agent.id, "whatsapp")
        assert first is not None and first.secrets == {"auth_token": "v1.k1.one"}
        first.secrets["auth_token"] = "changed by a caller"  # never reaches the cache

        await other_process.save_channel(channel(agent.id, "v1.k1.two", enabled=False))
        clock.now += 1.9
        kept = await ours.get_channel(agent.id, "whatsapp")
        assert kept is not None and (kept.secrets["auth_token"], kept.enabled) == (
            "v1.k1.one", True,
        )  # fmt: skip
        clock.now += 0.2
        fresh = await ours.get_channel(agent.id, "whatsapp")
        assert fresh is not None and (fresh.secrets["auth_token"], fresh.enabled) == (
            "v1.k1.two", False,
        )  # fmt: skip

        await other_process.delete_channel(agent.id, "whatsapp")
        assert await ours.get_channel(agent.id, "whatsapp") is not None  # still cached
        clock.now += 2.1
        assert await ours.get_channel(agent.id, "whatsapp") is None


async def test_a_channel_edit_in_this_process_is_seen_at_once_by_both_stores(
    tmp_path: Path,
) -> None:
    from adapters.persistence.tortoise.directory import AgentCache, TortoiseAgentStore
    from adapters.persistence.tortoise.sql import WORKER

    async with _tortoise_on(f"sqlite://{tmp_path / 'gateway.sqlite3'}") as stores:
        shared = AgentCache(ttl_s=3600)
        api, worker = TortoiseAgentStore(cache=shared), TortoiseAgentStore(WORKER, cache=shared)
        agent = await api.create_agent(await workspace(stores), "a", {}, T0)
        await api.save_channel(channel(agent.id, "v1.k1.one"))
        seen = await worker.get_channel(agent.id.upper(), "whatsapp")
        assert seen is not None and seen.secrets["auth_token"] == "v1.k1.one"

        await api.save_channel(channel(agent.id, "v1.k1.two"))
        seen = await worker.get_channel(agent.id, "whatsapp")
        assert seen is not None and seen.secrets["auth_token"] == "v1.k1.two"

        await api.delete_channel(agent.id.upper(), "whatsapp")
        assert await worker.get_channel(agent.id, "whatsapp") is None

        await api.save_channel(channel(agent.id, "v1.k1.three"))
        assert await worker.get_channel(agent.id, "whatsapp") is not None
        await api.delete_agent(agent.id)  # its channels go with it
        assert await worker.get_channel(agent.id, "whatsapp") is None
