"""AdministrationService and ChannelDirectoryService over the memory stores."""

from __future__ import annotations

import pickle

import pytest

from adapters.vault.aesgcm import AesGcmVault, KeyRing
from core.administration import ChannelDirectoryService, hash_api_key
from core.errors import ValidationFailed
from ports.errors import NotFound
from tests.unit.fakes import PHONE, World

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "s3cretTokenValue0123456789abcdef"
NUMBER = "+14155238886"


@pytest.fixture
def world() -> World:
    return World()


async def workspace_of(world: World, name: str = "acme") -> str:
    workspace = await world.admin.authenticate(await world.admin.create_api_key(name))
    assert workspace is not None
    return workspace


async def configure(
    world: World, workspace: str, agent_id: str, token: str | None = TOKEN, enabled: bool = True
) -> None:
    await world.admin.configure_channel(
        workspace,
        agent_id,
        "whatsapp",
        {"account_sid": SID, "phone_number": NUMBER},
        {"auth_token": token},
        enabled,
    )


def everything_stored(world: World) -> bytes:
    """The whole memory database as bytes, to look for values that must not be in it."""
    return pickle.dumps(vars(world.db)) + repr(vars(world.db)).encode()


# --- API keys ---------------------------------------------------------------------------------


async def test_a_key_authenticates_its_workspace_and_only_its_hash_is_stored(
    world: World,
) -> None:
    key = await world.admin.create_api_key("acme")

    workspace = await world.admin.authenticate(key)

    assert workspace == world.db.workspaces["acme"]
    assert key.encode() not in everything_stored(world)
    assert hash_api_key(key) in world.db.api_keys
    assert len(key) >= 40  # 256 random bits, not guessable


async def test_unknown_or_altered_keys_authenticate_nothing(world: World) -> None:
    key = await world.admin.create_api_key("acme")

    assert await world.admin.authenticate(key + "x") is None
    assert await world.admin.authenticate(key[:-1]) is None
    assert await world.admin.authenticate("gw_" + "A" * 43) is None
    assert await world.admin.authenticate("") is None
    assert await world.admin.authenticate(hash_api_key(key)) is None  # the hash is no key


async def test_keys_are_all_different_and_a_workspace_is_created_once(world: World) -> None:
    keys = [await world.admin.create_api_key("acme") for _ in range(3)]
    other = await world.admin.create_api_key("other")

    workspaces = {await world.admin.authenticate(k) for k in keys}

    assert len(set(keys)) == 3
    assert len(workspaces) == 1
    assert await world.admin.authenticate(other) not in workspaces


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_a_workspace_name_must_be_1_to_100_characters(world: World, name: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        await world.admin.create_api_key(name)
    assert set(failure.value.fields) == {"workspace"}
    assert world.db.api_keys == {}


# --- Agents -----------------------------------------------------------------------------------


async def test_create_agent_stores_a_valid_agent(world: World) -> None:
    workspace = await workspace_of(world)

    agent = await world.admin.create_agent(workspace, "  Support  ", {"kind": "demo"})

    assert (agent.name, agent.executor, agent.workspace_id) == (
        "Support",
        {"kind": "demo"},
        workspace,
    )
    assert await world.admin.list_agents(workspace) == [agent]
    assert await world.admin.get_agent(workspace, agent.id) == agent


@pytest.mark.parametrize(
    ("name", "executor", "fields"),
    [
        ("", {"kind": "demo"}, {"name"}),
        ("   ", {"kind": "demo"}, {"name"}),
        ("x" * 201, {"kind": "demo"}, {"name"}),
        ("bot", {"kind": "telepathy"}, {"executor.kind"}),
        ("bot", {"kind": "http"}, {"executor.url"}),
        ("bot", {"kind": "http", "url": "ftp://agent.example"}, {"executor.url"}),
        ("bot", {"kind": "python", "target": "no colon"}, {"executor.target"}),
        ("bot", {"kind": "demo", "timeout_s": 0}, {"executor.timeout_s"}),
        ("", {"kind": "nope"}, {"name", "executor.kind"}),
    ],
)
async def test_create_agent_names_every_invalid_field(
    world: World, name: str, executor: dict[str, object], fields: set[str]
) -> None:
    workspace = await workspace_of(world)

    with pytest.raises(ValidationFailed) as failure:
        await world.admin.create_agent(workspace, name, executor)

    assert set(failure.value.fields) == fields
    assert all(isinstance(why, str) and why for why in failure.value.fields.values())
    assert world.db.agents == {}


async def test_another_workspace_sees_none_of_an_agent(world: World) -> None:
    mine = await workspace_of(world, "acme")
    theirs = await workspace_of(world, "globex")
    agent = await world.admin.create_agent(mine, "bot", {"kind": "demo"})
    await configure(world, mine, agent.id)

    assert await world.admin.list_agents(theirs) == []
    with pytest.raises(NotFound):
        await world.admin.get_agent(theirs, agent.id)
    with pytest.raises(NotFound):
        await world.admin.get_channel(theirs, agent.id, "whatsapp")
    with pytest.raises(NotFound):
        await configure(world, theirs, agent.id, token="0therT0kenValue0123456789")
    # Their attempt changed nothing: the channel still opens with the owner's token.
    channel = await world.directory.resolve(agent.id, "whatsapp")
    assert channel is not None and channel.secrets["auth_token"] == TOKEN


async def test_an_unknown_agent_is_not_found(world: World) -> None:
    workspace = await workspace_of(world)
    for agent_id in ("7d8f1c2e-0000-4000-8000-000000000000", "not-a-uuid"):
        with pytest.raises(NotFound):
            await world.admin.get_agent(workspace, agent_id)


async def test_sessions_and_leads_are_scoped_to_the_workspace(world: World) -> None:
    mine = await workspace_of(world, "acme")
    theirs = await workspace_of(world, "globex")
    agent = await world.admin.create_agent(mine, "bot", {"kind": "demo"})
    session = await world.receive(agent.id, "SM1", "hello")

    assert [m.content for m in await world.admin.session_messages(mine, session)] == ["hello"]
    with pytest.raises(NotFound):
        await world.admin.session_messages(theirs, session)
    with pytest.raises(NotFound):
        await world.admin.session_messages(mine, f"twilio_{agent.id}_+19999999999")
    page = await world.admin.list_leads(mine, None, None, None, 50, None)
    assert [lead.contact for lead in page.items] == [PHONE]
    assert (await world.admin.list_leads(theirs, None, None, None, 50, None)).items == ()
    assert [x async for x in world.admin.export_leads(theirs, None, None, None)] == []


# --- Channels and secrets ---------------------------------------------------------------------


async def test_a_channel_keeps_its_token_sealed_and_answers_with_names_only(
    world: World,
) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})

    saved = await world.admin.configure_channel(
        workspace, agent.id, "whatsapp", {"account_sid": SID, "phone_number": NUMBER},
        {"auth_token": TOKEN}, True,
    )  # fmt: skip

    assert saved.secrets == {"auth_token": ""}
    assert (await world.admin.get_channel(workspace, agent.id, "whatsapp")).secrets == {
        "auth_token": ""
    }
    assert TOKEN.encode() not in everything_stored(world)
    assert TOKEN not in repr(saved)
    opened = await world.directory.resolve(agent.id, "whatsapp")
    assert opened is not None
    assert opened.secrets == {"auth_token": TOKEN}
    assert opened.settings == {"account_sid": SID, "phone_number": NUMBER}
    assert TOKEN not in repr(opened)


async def test_configuring_without_a_token_keeps_the_stored_one(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})
    await configure(world, workspace, agent.id, token=TOKEN, enabled=True)

    await configure(world, workspace, agent.id, token=None, enabled=False)

    channel = await world.directory.resolve(agent.id, "whatsapp")
    assert channel is not None
    assert channel.secrets == {"auth_token": TOKEN}
    assert channel.enabled is False


async def test_a_new_token_replaces_the_stored_one(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})
    await configure(world, workspace, agent.id, token=TOKEN)

    await configure(world, workspace, agent.id, token="n3wT0kenValue0123456789abcdef")

    channel = await world.directory.resolve(agent.id, "whatsapp")
    assert channel is not None and channel.secrets["auth_token"] == "n3wT0kenValue0123456789abcdef"


async def test_a_first_configuration_without_a_token_is_refused(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})

    with pytest.raises(ValidationFailed) as failure:
        await configure(world, workspace, agent.id, token=None)

    assert set(failure.value.fields) == {"auth_token"}
    assert await world.directory.resolve(agent.id, "whatsapp") is None


async def test_the_directory_tells_an_unknown_agent_from_a_missing_channel(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})

    assert await world.directory.resolve(agent.id, "whatsapp") is None
    with pytest.raises(NotFound):
        await world.directory.resolve("0b7b7a3c-1111-4111-8111-111111111111", "whatsapp")
    with pytest.raises(NotFound):
        await world.admin.get_channel(workspace, agent.id, "whatsapp")


async def test_rotate_secrets_reseals_every_secret_with_the_newest_key(world: World) -> None:
    workspace = await workspace_of(world)
    tokens = {}
    for i in range(3):
        agent = await world.admin.create_agent(workspace, f"bot {i}", {"kind": "demo"})
        tokens[agent.id] = f"t0ken{i}Value0123456789abcdef"
        await configure(world, workspace, agent.id, token=tokens[agent.id])
    old_ring = world.vault.keyring
    new_ring = old_ring.with_new_key("k2")
    rotated = world.admin_with(AesGcmVault(new_ring))

    assert await rotated.rotate_secrets() == 3
    assert await rotated.rotate_secrets() == 0  # nothing left on the old key

    newest_only = KeyRing.parse(new_ring.serialize().split(",")[-1])
    assert newest_only.ids == ("k2",)
    directory = ChannelDirectoryService(world.agents, AesGcmVault(newest_only))
    for agent_id, token in tokens.items():
        channel = await directory.resolve(agent_id, "whatsapp")
        assert channel is not None and channel.secrets["auth_token"] == token
        assert channel.enabled is True
        assert channel.settings == {"account_sid": SID, "phone_number": NUMBER}


async def test_rotate_with_the_same_keyring_changes_nothing(world: World) -> None:
    workspace = await workspace_of(world)
    agent = await world.admin.create_agent(workspace, "bot", {"kind": "demo"})
    await configure(world, workspace, agent.id)
    before = dict(world.db.channels)

    assert await world.admin.rotate_secrets() == 0
    assert world.db.channels == before
