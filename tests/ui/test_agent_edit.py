"""Editing and deleting an agent in the UI: a form per executor kind, secrets as password
inputs that are never filled in (empty keeps the stored value), errors in words."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from core.executor_secrets import ExecutorSecrets
from tests.ui.conftest import Ui, UiFactory

API_KEY = "sk-proj-UiNeverEchoedKey" + "9a8b7c6d5e4f3a2b1c0d"
NEW_KEY = "sk-proj-UiSecondKeyValue" + "1122334455667788aabb"
HEADER_SECRET = "Bearer ui-header-secret-" + "deadbeefcafe0123"
KINDS = ("demo", "http", "python", "openai", "langgraph_server")


async def workspace(ui: Ui) -> str:
    found = await ui.container.admin().authenticate(ui.key)
    assert found is not None
    return found


async def runnable(ui: Ui, agent_id: str) -> dict[str, Any]:
    """The spec the executor runs, secrets opened (what the bridge gets)."""
    agent = await ui.container.agent_store().get_agent(agent_id)
    assert agent is not None
    return ExecutorSecrets(ui.container.executor(), ui.container.vault()).open(
        agent_id, agent.executor
    )


def input_value(page_text: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page_text)
    return match.group(1) if match else None


def never_shown(ui: Ui, *secrets: str) -> None:
    for body in ui.bodies:
        for secret in secrets:
            assert secret not in body


async def openai_agent(ui: Ui) -> str:
    return await ui.create_agent(
        "Shop",
        kind="openai",
        base_url="https://llm.example/v1",
        model="gpt-4o-mini",
        api_key=API_KEY,
        system_prompt="Be brief.",
        temperature="0.3",
    )


async def test_every_kind_has_its_fields_on_the_new_and_the_edit_form(signed_in: Ui) -> None:
    for path in ("/ui/agents", f"/ui/agents/{await signed_in.create_agent()}/edit"):
        page = await signed_in.get(path)
        assert page.status == 200
        for kind in KINDS:
            assert f'<option value="{kind}"' in page.text
        kinds_with_fields = {
            k for found in re.findall(r'data-kind="([^"]+)"', page.text) for k in found.split()
        }
        assert kinds_with_fields == set(KINDS) - {"demo"}
        assert 'name="api_key" type="password" value=""' in page.text
        assert 'name="header_value" type="password" value=""' in page.text


async def test_an_openai_agent_made_and_edited_in_the_ui_keeps_its_key(signed_in: Ui) -> None:
    agent_id = await openai_agent(signed_in)
    assert (await runnable(signed_in, agent_id))["api_key"] == API_KEY

    page = await signed_in.get(f"/ui/agents/{agent_id}/edit")
    assert page.status == 200
    assert input_value(page.text, "name") == "Shop"
    assert input_value(page.text, "model") == "gpt-4o-mini"
    assert input_value(page.text, "base_url") == "https://llm.example/v1"
    assert input_value(page.text, "temperature") == "0.3"
    assert input_value(page.text, "api_key") == ""
    assert "A key is stored. Leave empty to keep it." in page.text
    assert 'name="clear_api_key"' in page.text

    saved = await signed_in.post(
        f"/ui/agents/{agent_id}/edit",
        {
            "name": "Shop desk",
            "kind": "openai",
            "base_url": "https://llm.example/v1",
            "model": "gpt-4.1-mini",
            "api_key": "",
            "system_prompt": "Be brief.",
            "temperature": "0.3",
        },
    )
    assert saved.status == 303 and saved.location.endswith(f"/ui/agents/{agent_id}/edit")
    spec = await runnable(signed_in, agent_id)
    assert spec["model"] == "gpt-4.1-mini" and spec["api_key"] == API_KEY
    shown = await signed_in.get(saved.location)
    assert "Saved." in shown.text and "Shop desk" in shown.text

    # A new key replaces it; "remove" drops it.
    form = {"name": "Shop desk", "kind": "openai", "base_url": "https://llm.example/v1"}
    await signed_in.post(f"/ui/agents/{agent_id}/edit", {**form, "model": "m", "api_key": NEW_KEY})
    assert (await runnable(signed_in, agent_id))["api_key"] == NEW_KEY
    await signed_in.post(
        f"/ui/agents/{agent_id}/edit", {**form, "model": "m", "clear_api_key": "1"}
    )
    assert "api_key" not in await runnable(signed_in, agent_id)
    never_shown(signed_in, API_KEY, NEW_KEY)


async def test_a_refused_edit_never_echoes_a_typed_secret(signed_in: Ui) -> None:
    agent_id = await openai_agent(signed_in)
    page = await signed_in.post(
        f"/ui/agents/{agent_id}/edit",
        {"name": "Shop", "kind": "openai", "model": "", "api_key": NEW_KEY, "temperature": "hot"},
    )
    assert page.status == 422
    assert "Temperature must be a number from 0 to 2." in page.text
    assert "API key: was not kept: type it again" in page.text
    assert input_value(page.text, "api_key") == ""
    # Another server with the stored key left empty: the key is not handed over.
    moved = await signed_in.post(
        f"/ui/agents/{agent_id}/edit",
        {"name": "Shop", "kind": "openai", "base_url": "https://other.example/v1", "model": "m"},
    )
    assert moved.status == 422
    assert "the server changed: type the secret again" in moved.text
    assert (await runnable(signed_in, agent_id))["base_url"] == "https://llm.example/v1"
    never_shown(signed_in, API_KEY, NEW_KEY)


async def test_http_header_rows_keep_replace_add_and_remove(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent(
        "Hooked",
        kind="http",
        url="https://agent.example/reply",
        header_name="Authorization",
        header_value=HEADER_SECRET,
    )
    page = await signed_in.get(f"/ui/agents/{agent_id}/edit")
    assert input_value(page.text, "header_name") == "Authorization"
    assert "stored: leave empty to keep" in page.text
    assert page.text.count('name="header_name"') == 3  # the stored one and two blank rows

    async def save(names: list[str], values: list[str]) -> int:
        fields = [
            ("csrf_token", signed_in.csrf), ("name", "Hooked"), ("kind", "http"),
            ("url", "https://agent.example/reply"), ("timeout_s", "12"),
            *(("header_name", n) for n in names), *(("header_value", v) for v in values),
        ]  # fmt: skip
        response = await signed_in.client.post(
            f"/ui/agents/{agent_id}/edit",
            data=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        signed_in.bodies.append(await response.get_data(as_text=True))
        return response.status_code

    assert await save(["Authorization", "X-Team", ""], ["", "blue", ""]) == 303
    spec = await runnable(signed_in, agent_id)
    assert spec["headers"] == {"Authorization": HEADER_SECRET, "X-Team": "blue"}
    assert spec["timeout_s"] == 12
    assert await save(["", "X-Team"], ["", ""]) == 303  # name cleared: removed
    assert (await runnable(signed_in, agent_id))["headers"] == {"X-Team": "blue"}
    assert await save(["X-New"], [""]) == 422  # nothing stored to keep
    page = await signed_in.get(f"/ui/agents/{agent_id}/edit")
    assert "X-Team" in page.text and "blue" not in page.text
    never_shown(signed_in, HEADER_SECRET)


async def test_changing_the_kind_and_a_python_graph_with_its_own_memory(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    saved = await signed_in.post(
        f"/ui/agents/{agent_id}/edit",
        {
            "name": "Graph",
            "kind": "python",
            "target": "adapters.executors.langgraph_examples:graph",
            "memory": "graph",
        },
    )
    assert saved.status == 303
    assert (await runnable(signed_in, agent_id)) == {
        "kind": "python",
        "target": "adapters.executors.langgraph_examples:graph",
        "memory": "graph",
    }
    page = await signed_in.get(f"/ui/agents/{agent_id}/edit")
    assert '<option value="graph" selected>' in page.text
    saved = await signed_in.post(
        f"/ui/agents/{agent_id}/edit",
        {"name": "Server", "kind": "langgraph_server", "url": "http://127.0.0.1:2024",
         "assistant_id": "agent", "api_key": API_KEY},
    )  # fmt: skip
    assert saved.status == 303
    assert await runnable(signed_in, agent_id) == {
        "kind": "langgraph_server", "url": "http://127.0.0.1:2024", "assistant_id": "agent",
        "api_key": API_KEY,
    }  # fmt: skip
    never_shown(signed_in, API_KEY)


async def test_delete_needs_confirming_then_removes_the_agent(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent("Doomed")
    assert (await signed_in.enable_whatsapp(agent_id)).status == 303
    await signed_in.get(f"/ui/agents/{agent_id}/edit")

    refused = await signed_in.post(f"/ui/agents/{agent_id}/delete", {})
    assert refused.status == 422 and "Nothing was deleted" in refused.text
    assert (await signed_in.get(f"/ui/agents/{agent_id}/edit")).status == 200

    done = await signed_in.post(f"/ui/agents/{agent_id}/delete", {"confirm": "yes"})
    assert done.status == 303 and done.location.endswith("/ui/agents")
    listing = await signed_in.get("/ui/agents")
    assert "Agent “Doomed” is deleted" in listing.text
    assert f"/ui/agents/{agent_id}/" not in listing.text
    assert (await signed_in.get(f"/ui/agents/{agent_id}/edit")).status == 404
    assert await signed_in.whatsapp_message(agent_id) == 404


async def test_another_workspace_cannot_edit_or_delete(open_ui: UiFactory) -> None:
    async with open_ui() as ui:
        await ui.login()
        agent_id = await ui.create_agent("Ours")
        other_key = await ui.container.admin().create_api_key("other")
        await ui.post("/ui/logout", {})
        await ui.get("/ui/login")
        assert (await ui.post("/ui/login", {"api_key": other_key})).status == 303
        await ui.get("/ui/agents")
        assert (await ui.get(f"/ui/agents/{agent_id}/edit")).status == 404
        edit = await ui.post(f"/ui/agents/{agent_id}/edit", {"name": "Theirs", "kind": "demo"})
        assert edit.status == 404
        gone = await ui.post(f"/ui/agents/{agent_id}/delete", {"confirm": "yes"})
        assert gone.status == 404
        ours = await ui.container.admin().get_agent(await workspace_of_key(ui, ui.key), agent_id)
        assert ours.name == "Ours"


async def workspace_of_key(ui: Ui, key: str) -> str:
    found = await ui.container.admin().authenticate(key)
    assert found is not None
    return found
