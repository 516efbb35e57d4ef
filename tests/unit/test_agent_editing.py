"""Agents that change, and executor secrets in the vault: AdministrationService and
OpenedSecretsExecutor over the memory stores."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from adapters.vault.aesgcm import AesGcmVault, KeyRing
from core.errors import ValidationFailed
from core.executor_secrets import SEALED, OpenedSecretsExecutor, executor_secret_context
from ports.errors import ExecutorFailed, NotFound
from ports.values import AgentRecord, AgentRequest
from tests.unit.fakes import T0, World

BEARER = "Bearer Sup3rSecretHeaderValue-0123456789"
API_KEY = "sk-proj-Un1tTestKeyValue0123456789abcdef"
HTTP = {
    "kind": "http",
    "url": "https://agent.example.com/reply",
    "headers": {"Authorization": BEARER},
}
OPENAI = {
    "kind": "openai",
    "base_url": "https://llm.example.com/v1",
    "model": "m",
    "api_key": API_KEY,
}


@pytest.fixture
def world() -> World:
    return World()


async def workspace_of(world: World, name: str = "acme") -> str:
    workspace = await world.admin.authenticate(await world.admin.create_api_key(name))
    assert workspace is not None
    return workspace


def stored(world: World) -> bytes:
    return pickle.dumps(vars(world.db)) + repr(vars(world.db)).encode()


def request_for(agent_id: str) -> AgentRequest:
    return AgentRequest(agent_id, f"twilio_{agent_id}_+1415", "hi", (), "+1415", "Ana", "whatsapp")


class RecordingBridge:
    """The inner executor: records the spec it was asked to run."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.specs: list[dict[str, Any]] = []

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str:
        self.specs.append(copy.deepcopy(executor))
        return "ok"

    def __getattr__(self, name: str) -> Any:  # the secret-field rules of the fake
        return getattr(self.world.executor, name)


async def runnable(world: World, agent_id: str, vault: AesGcmVault | None = None) -> dict[str, Any]:
    """The spec the bridge gets for this agent's stored executor."""
    inner = RecordingBridge(world)
    agent = await world.agents.get_agent(agent_id)
    assert agent is not None
    await OpenedSecretsExecutor(inner, vault or world.vault).run(
        agent.executor, request_for(agent_id)
    )
    return inner.specs[0]


# --- sealed, bound, never shown ----------------------------------------------------------------


async def test_secrets_are_sealed_bound_to_the_agent_and_never_shown(world: World) -> None:
    workspace = await workspace_of(world)
    http = await world.admin.create_agent(workspace, "h", copy.deepcopy(HTTP))
    oa = await world.admin.create_agent(workspace, "o", copy.deepcopy(OPENAI))

    assert http.executor == {**HTTP, "headers": {"Authorization": "***"}}
    assert oa.executor == {
        **{k: v for k, v in OPENAI.items() if k != "api_key"},
        "api_key_set": True,
    }
    for shown in [
        *(await world.admin.list_agents(workspace)),
        await world.admin.get_agent(workspace, oa.id),
    ]:
        assert BEARER not in repr(shown) and API_KEY not in repr(shown)
    data = stored(world)
    assert BEARER.encode() not in data and API_KEY.encode() not in data
    raw = world.db.agents[oa.id].executor
    assert set(raw[SEALED]) == {"api_key"} and "api_key" not in raw
    assert (
        world.vault.decrypt(raw[SEALED]["api_key"], executor_secret_context(oa.id, "api_key"))
        == API_KEY
    )

    # The bridge gets the runnable spec, opened from the vault.
    assert await runnable(world, http.id) == HTTP
    assert await runnable(world, oa.id) == OPENAI


async def test_a_ciphertext_moved_to_another_agent_does_not_open(world: World) -> None:
    workspace = await workspace_of(world)
    one = await world.admin.create_agent(workspace, "one", copy.deepcopy(OPENAI))
    two = await world.admin.create_agent(workspace, "two", {**OPENAI, "api_key": "other-key"})
    moved = world.db.agents[one.id].executor[SEALED]
    world.db.agents[two.id] = AgentRecord(
        two.id, workspace, "two", {**world.db.agents[two.id].executor, SEALED: moved}, T0
    )
    with pytest.raises(ExecutorFailed) as info:
        await runnable(world, two.id)
    assert API_KEY not in str(info.value) and "cannot be opened" in str(info.value)


async def test_creating_with_a_masked_secret_is_refused(world: World) -> None:
    workspace = await workspace_of(world)
    with pytest.raises(ValidationFailed) as info:
        await world.admin.create_agent(workspace, "x", {**OPENAI, "api_key": "***"})
    assert set(info.value.fields) == {"executor.api_key"}
    with pytest.raises(ValidationFailed) as info:
        await world.admin.create_agent(workspace, "x", {**HTTP, "headers": {"A": "***"}})
    assert set(info.value.fields) == {"executor.headers"}


async def test_a_client_cannot_write_the_storage_field(world: World) -> None:
    workspace = await workspace_of(world)
    forged = {"kind": "demo", SEALED: {"api_key": "v1.k1.AAAA.BBBB"}}
    agent = await world.admin.create_agent(workspace, "x", forged)
    assert SEALED not in world.db.agents[agent.id].executor


# --- editing -----------------------------------------------------------------------------------


async def test_update_name_and_executor_keeping_left_out_and_masked_secrets(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", copy.deepcopy(HTTP))

    renamed = await world.admin.update_agent(workspace, agent.id, "  Renamed ", None)
    assert renamed.name == "Renamed" and renamed.executor == agent.executor
    assert renamed.updated_at is not None
    assert await runnable(world, agent.id) == HTTP

    # The shown form sent back as it is (header `***`) keeps the header.
    shown = await world.admin.update_agent(
        workspace, agent.id, None, {**agent.executor, "timeout_s": 5}
    )
    assert shown.executor["headers"] == {"Authorization": "***"}
    assert await runnable(world, agent.id) == {**HTTP, "timeout_s": 5}

    # Headers left out: kept. A new value and a new header: stored.
    await world.admin.update_agent(workspace, agent.id, None, {"kind": "http", "url": HTTP["url"]})
    assert (await runnable(world, agent.id))["headers"] == {"Authorization": BEARER}
    new = {"kind": "http", "url": HTTP["url"], "headers": {"Authorization": "***", "X-Id": "7"}}
    assert (await world.admin.update_agent(workspace, agent.id, None, new)).executor["headers"] == {
        "Authorization": "***", "X-Id": "***"
    }  # fmt: skip
    assert (await runnable(world, agent.id))["headers"] == {"Authorization": BEARER, "X-Id": "7"}
    assert b"X-Id" in stored(world) and b'"7"' not in stored(world)


async def test_another_kind_or_server_needs_the_secrets_again(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", copy.deepcopy(OPENAI))

    elsewhere = {**OPENAI, "base_url": "https://attacker.example/v1"}
    del elsewhere["api_key"]
    with pytest.raises(ValidationFailed) as info:
        await world.admin.update_agent(workspace, agent.id, None, elsewhere)
    assert set(info.value.fields) == {"executor.api_key"}
    assert await runnable(world, agent.id) == OPENAI  # unchanged

    moved = await world.admin.update_agent(
        workspace, agent.id, None, {**elsewhere, "api_key": None}
    )
    assert moved.executor["api_key_set"] is False
    assert "api_key" not in await runnable(world, agent.id)

    demo = await world.admin.update_agent(workspace, agent.id, None, {"kind": "demo"})
    assert demo.executor == {"kind": "demo"}
    assert SEALED not in world.db.agents[agent.id].executor


async def test_update_validates_and_changes_nothing_on_error(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", copy.deepcopy(OPENAI))
    before = world.db.agents[agent.id]
    with pytest.raises(ValidationFailed) as info:
        await world.admin.update_agent(
            workspace, agent.id, "", {"kind": "openai", "base_url": OPENAI["base_url"]}
        )
    assert set(info.value.fields) == {"name", "executor.model"}
    with pytest.raises(ValidationFailed):
        await world.admin.update_agent(workspace, agent.id, None, {"kind": "nope"})
    assert world.db.agents[agent.id] == before


async def test_other_workspaces_cannot_see_edit_or_delete(world: World) -> None:
    ours = await workspace_of(world, "acme")
    theirs = await workspace_of(world, "globex")
    agent = await world.admin.create_agent(ours, "bot", {"kind": "demo"})
    with pytest.raises(NotFound):
        await world.admin.update_agent(theirs, agent.id, "mine now", None)
    with pytest.raises(NotFound):
        await world.admin.delete_agent(theirs, agent.id)
    with pytest.raises(NotFound):
        await world.admin.update_agent(ours, "not-a-uuid", "x", None)
    assert (await world.admin.get_agent(ours, agent.id)).name == "bot"


async def test_delete_removes_the_agent_its_channels_leads_and_conversations(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})
    kept = await world.admin.create_agent(workspace, "kept", {"kind": "demo"})
    for target in (agent, kept):
        await world.admin.configure_channel(workspace, target.id, "web", {}, {}, True)
        await world.receive(target.id, f"SM-{target.id}")
    session = world.intake.session_of(agent.id, "whatsapp", "+14155550100")

    await world.admin.delete_agent(workspace, agent.id)

    assert [a.id for a in await world.admin.list_agents(workspace)] == [kept.id]
    with pytest.raises(NotFound):
        await world.admin.get_agent(workspace, agent.id)
    with pytest.raises(NotFound):
        await world.admin.session_messages(workspace, session)
    assert await world.agents.get_channel(agent.id, "web") is None
    page = await world.admin.list_leads(workspace, None, None, None, 50, None)
    assert {lead.agent_id for lead in page.items} == {kept.id}
    assert all(m.agent_id == kept.id for m in world.db.messages.values())
    assert world.db.pending and all(
        world.db.messages[i].agent_id == kept.id for i in world.db.pending
    )
    with pytest.raises(NotFound):
        await world.admin.delete_agent(workspace, agent.id)


# --- stored the old way, and rotation --------------------------------------------------------


async def old_style_agent(world: World, workspace: str) -> str:
    """An agent written by a version that kept header values in plain text."""
    agent = await world.agents.create_agent(workspace, "old", copy.deepcopy(HTTP), T0)
    assert BEARER.encode() in stored(world)
    return agent.id


async def test_plain_text_secrets_are_shown_masked_and_sealed_once(world: World) -> None:
    workspace = await workspace_of(world)
    agent_id = await old_style_agent(world, workspace)
    assert (await world.admin.get_agent(workspace, agent_id)).executor["headers"] == {
        "Authorization": "***"
    }
    assert await runnable(world, agent_id) == HTTP  # it works before sealing, too

    assert await world.admin.seal_plaintext_secrets() == 1
    assert BEARER.encode() not in stored(world)
    assert await runnable(world, agent_id) == HTTP
    sealed_once = world.db.agents[agent_id]
    assert await world.admin.seal_plaintext_secrets() == 0  # idempotent
    assert world.db.agents[agent_id] == sealed_once


async def test_sealing_never_undoes_an_edit_made_meanwhile(world: World) -> None:
    workspace = await workspace_of(world)
    agent_id = await old_style_agent(world, workspace)
    read_before_edit = await world.agents.get_agent(agent_id)
    assert read_before_edit is not None
    await world.admin.update_agent(workspace, agent_id, None, {"kind": "demo"})

    stale = {**HTTP, "headers": {"Authorization": "sealed-by-a-slow-process"}}
    assert await world.agents.replace_executor(read_before_edit, stale, T0) is False
    assert world.db.agents[agent_id].executor == {"kind": "demo"}


async def test_rotation_reseals_executor_secrets_with_the_newest_key(world: World) -> None:
    workspace = await workspace_of(world)
    http = await world.admin.create_agent(workspace, "h", copy.deepcopy(HTTP))
    oa = await world.admin.create_agent(workspace, "o", copy.deepcopy(OPENAI))
    old_id = await old_style_agent(world, workspace)
    new_ring = world.vault.keyring.with_new_key("k2")
    rotated = world.admin_with(AesGcmVault(new_ring))

    # Two sealed secrets re-encrypted, and the old-style agent sealed (with the newest key).
    assert await rotated.rotate_secrets() == 3
    assert await rotated.rotate_secrets() == 0
    newest_only = AesGcmVault(KeyRing.parse(new_ring.serialize().split(",")[-1]))
    assert await runnable(world, http.id, newest_only) == HTTP
    assert await runnable(world, oa.id, newest_only) == OPENAI
    assert await runnable(world, old_id, newest_only) == HTTP
