"""The agent list is paged like the other lists, and an executor spec has a size limit."""

from __future__ import annotations

from tests.e2e.conftest import Gateway


async def test_agents_are_paged_with_limit_and_cursor(gateway: Gateway) -> None:
    made = [await gateway.create_agent() for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await gateway.api_json("GET", "/api/agents", query_string=query)
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made and pages == 3
    everything = await gateway.api_json("GET", "/api/agents")
    assert [a["id"] for a in everything["items"]] == made and everything["next_cursor"] is None


async def test_a_bad_agents_cursor_or_limit_is_422(gateway: Gateway) -> None:
    await gateway.create_agent()
    for query in ({"cursor": "bm90LWFuLWFnZW50"}, {"cursor": "%%%"}, {"limit": "zero"}):
        response = await gateway.api("GET", "/api/agents", query_string=query)
        assert response.status_code == 422, query
        assert set((await response.get_json())["fields"]) <= {"cursor", "limit"}


async def test_an_executor_spec_over_16_kib_is_422_on_create_and_patch(gateway: Gateway) -> None:
    huge = {"kind": "python", "target": "adapters.executors.examples:shout", "pad": "x" * 17_000}
    response = await gateway.api("POST", "/api/agents", json={"name": "big", "executor": huge})
    assert response.status_code == 422
    assert "executor" in (await response.get_json())["fields"]
    agent = await gateway.create_agent()
    response = await gateway.api("PATCH", f"/api/agents/{agent}", json={"executor": huge})
    assert response.status_code == 422
    assert (await gateway.api_json("GET", "/api/agents"))["items"][0]["executor"]["kind"] == "demo"
