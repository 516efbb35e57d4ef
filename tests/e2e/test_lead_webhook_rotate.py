"""`python -m app vault rotate` re-seals the lead webhooks' secrets with the newest key, like
the channels' and executors' (the CLI's own function, on a SQLite file)."""

from __future__ import annotations

import pytest

import app
from adapters.vault.aesgcm import KeyRing
from config.container import build_container
from config.lifecycle import database_session
from core.lead_webhook import webhook_secret_context
from tests.conftest import SettingsFactory

SECRET = "rotate-me-" + "0123456789abcdef"


def key_id(ciphertext: str) -> str:
    version, kid, *_ = ciphertext.split(".")
    assert version == "v1"
    return kid


async def test_vault_rotate_reseals_webhook_secrets(
    make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    old = KeyRing.generate("k1")
    both = old.with_new_key("k2")
    newest = KeyRing([("k2", both.key("k2") or b"")])

    async with database_session(build_container(make_settings(VAULT_KEYS=old.serialize()))) as c:
        key = await c.admin().create_api_key("w")
        workspace = await c.admin().authenticate(key)
        assert workspace is not None
        agent = await c.admin().create_agent(workspace, "bot", {"kind": "demo"})
        await c.lead_webhooks().configure(workspace, agent.id, "https://crm.example/h", SECRET)
        sealed = (await c.lead_webhook_store().get_webhook(agent.id)).secret
    assert key_id(sealed) == "k1" and SECRET not in sealed

    await app._vault_rotate(make_settings(VAULT_KEYS=both.serialize()))
    assert "re-encrypted 1 secret(s)" in capsys.readouterr().out

    async with database_session(build_container(make_settings(VAULT_KEYS=newest.serialize()))) as c:
        fresh = (await c.lead_webhook_store().get_webhook(agent.id)).secret
        assert key_id(fresh) == "k2" and fresh != sealed
        assert c.vault().decrypt(fresh, webhook_secret_context(agent.id)) == SECRET

    await app._vault_rotate(make_settings(VAULT_KEYS=newest.serialize()))
    assert "re-encrypted 0 secret(s)" in capsys.readouterr().out
