"""`/openapi.json` describes every admin route, and the docs page needs nothing from elsewhere."""

from __future__ import annotations

import re

from tests.e2e.conftest import Gateway


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


async def test_every_admin_route_is_in_the_document(gateway: Gateway) -> None:
    answer = await gateway.client.get("/openapi.json")
    assert answer.status_code == 200
    document = await answer.get_json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    app = gateway.client.app
    routes = {
        (method, _openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }

    assert routes, "no admin route found"
    assert routes - documented == set()
    assert document["components"]["securitySchemes"]


async def test_the_docs_page_loads_no_outside_asset(gateway: Gateway) -> None:
    answer = await gateway.client.get("/api-docs")
    page = await answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert "/api/agents" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
