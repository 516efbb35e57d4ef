"""The UI's lead and session pages answer malformed input with an HTML 4xx, never a 5xx, on
SQLite and (marked `postgres`) PostgreSQL, which refuses NUL in text."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from tests.databases import database_env
from tests.ui.conftest import Ui, UiFactory

__all__ = ["database_env"]


@pytest.fixture
async def signed(open_ui: UiFactory, database_env: dict[str, str]) -> AsyncIterator[Ui]:
    async with open_ui(**database_env) as ui:
        await ui.login()
        yield ui


async def test_lead_filters_no_lead_can_match_are_an_html_422(signed: Ui) -> None:
    for query in ("q=a%00b", "platform=%00", "platform=" + "p" * 33, "q=" + "q" * 201):
        for path in ("/ui/leads", "/ui/leads.csv"):
            page = await signed.get(f"{path}?{query}")
            assert page.status == 422, (path, query)
            assert page.headers["Content-Type"].startswith("text/html")
            assert "Invalid search" in page.text
    assert (await signed.get("/ui/leads?q=Jos%C3%A9&platform=whatsapp")).status == 200


async def test_a_huge_cursor_shows_the_first_page(signed: Ui) -> None:
    cursor = base64.urlsafe_b64encode(b"lead:" + b"9" * 30).decode().rstrip("=")
    page = await signed.get(f"/ui/leads?cursor={cursor}")
    assert page.status == 200
    assert "no longer valid" in page.text


async def test_a_session_id_no_session_can_have_is_an_html_404(signed: Ui) -> None:
    for session_id in ("x" * 256, "twilio_%00", "twilio_%01x"):
        page = await signed.get(f"/ui/sessions/{session_id}")
        assert page.status == 404, session_id
        assert page.headers["Content-Type"].startswith("text/html")
