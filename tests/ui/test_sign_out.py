"""Signing out ends the session on the server: a copy of the cookie stops working. Failed
sign-ins are limited per client address (429 with Retry-After). `next=` never breaks a
redirect. Across processes on PostgreSQL: tests/postgres/test_sign_out_processes.py."""

from __future__ import annotations

import re
from typing import Any

from adapters.inbound.web.security import safe_next
from tests.ui.conftest import Ui, UiFactory


def session_cookie(set_cookie: str) -> str:
    found = re.search(r"session=([^;]+)", set_cookie)
    assert found, set_cookie
    return found.group(1)


async def as_copy(ui: Ui, cookie: str, path: str = "/ui/agents") -> Any:
    """`path` requested by another client holding only a copy of the cookie."""
    thief = ui.client.app.test_client()
    return await thief.get(path, headers={"Cookie": f"session={cookie}"})


async def test_a_copied_cookie_stops_working_after_sign_out(ui: Ui) -> None:
    await ui.get("/ui/login")
    signed = await ui.post("/ui/login", {"api_key": ui.key})
    assert signed.status == 303
    cookie = session_cookie(signed.headers["Set-Cookie"])
    copied = await as_copy(ui, cookie)
    assert copied.status_code == 200  # the copy works while the session lasts

    await ui.get("/ui/agents")
    out = await ui.post("/ui/logout")
    assert out.status == 303 and out.location == "/ui/login"

    for path in ("/ui/agents", "/ui/leads", "/ui/agents/x/deploy"):
        after = await as_copy(ui, cookie, path)
        assert after.status_code == 303, path
        assert "/ui/login" in after.headers["Location"], path
    replayed = await as_copy(ui, cookie, "/ui/login")  # the login page does not bounce it in
    assert replayed.status_code == 200

    # Signing in again gives a working session; the old copy stays dead.
    await ui.login()
    assert (await ui.get("/ui/agents")).status == 200
    assert (await as_copy(ui, cookie)).status_code == 303


async def test_sign_out_ends_the_workspaces_sessions_in_every_browser(open_ui: UiFactory) -> None:
    async with open_ui() as ui:
        await ui.login()
        await ui.get("/ui/login")
        other = ui.client.app.test_client()  # a second browser, signed in with the same key
        page = await other.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
        assert token
        signed = await other.post("/ui/login", form={"csrf_token": token[1], "api_key": ui.key})
        assert signed.status_code == 303
        assert (await other.get("/ui/agents")).status_code == 200

        await ui.get("/ui/agents")
        assert (await ui.post("/ui/logout")).status == 303
        assert (await other.get("/ui/agents")).status_code == 303


async def test_failed_sign_ins_are_limited_per_address(open_ui: UiFactory) -> None:
    async with open_ui(AUTH_FAILURE_LIMIT="3", AUTH_FAILURE_WINDOW_S="60") as ui:
        scope = {"client": ("203.0.113.80", 50000)}
        await ui.get("/ui/login", scope_base=scope)
        for _ in range(3):
            page = await ui.post("/ui/login", {"api_key": "gw_guess"}, scope_base=scope)
            assert page.status == 401
            assert "That API key is not valid." in page.text
        limited = await ui.post("/ui/login", {"api_key": ui.key}, scope_base=scope)
        assert limited.status == 429  # even the right key, while over the limit
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "Too many failed sign-ins" in limited.text
        assert limited.headers["Content-Type"].startswith("text/html")
        # Browsing the UI is not limited, and another address signs in.
        assert (await ui.get("/ui/login", scope_base=scope)).status == 200
        other = {"client": ("198.51.100.80", 50000)}
        await ui.get("/ui/login", scope_base=other)
        assert (await ui.post("/ui/login", {"api_key": ui.key}, scope_base=other)).status == 303


async def test_next_with_control_characters_never_breaks_the_redirect(ui: Ui) -> None:
    page = await ui.get("/ui/login?next=/ui/%00")
    assert page.status == 200
    assert "\x00" not in page.text
    signed = await ui.post("/ui/login", {"api_key": ui.key, "next": "/ui/\x00"})
    assert signed.status == 303 and signed.location == "/ui/agents"


def test_safe_next_refuses_control_characters_and_encodes_other_text() -> None:
    for target in ("/ui/\x00", "/ui/a\rb", "/ui/\x7f", "/ui/\x85", "/ui/\x1b[0m", "/ui/\ud800"):
        assert safe_next(target, "/ui/agents") == "/ui/agents", repr(target)
    assert safe_next("/ui/leads?q=José Ñ", "/ui/agents") == "/ui/leads?q=Jos%C3%A9%20%C3%91"
    assert safe_next("/ui/leads?platform=web&q=a%20b", "") == "/ui/leads?platform=web&q=a%20b"
