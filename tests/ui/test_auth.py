"""Sign-in, sign-out, the session cookie's flags, CSRF and the secret key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adapters.inbound.web.security import load_or_create_secret_key, safe_next
from tests.ui.conftest import Ui, UiFactory

PAGES = [
    "/ui/agents",
    "/ui/leads?platform=whatsapp",
    "/ui/leads.csv",
    "/ui/agents/some-agent/deploy",
    "/ui/agents/some-agent/try",
    "/ui/sessions/twilio_x_+15550001111",
]


async def test_root_and_every_page_send_a_stranger_to_the_login(ui: Ui) -> None:
    root = await ui.get("/")
    assert root.status == 303 and root.location.endswith("/ui/login")
    for path in PAGES:
        page = await ui.get(path)
        assert page.status == 303, path
        assert "/ui/login?next=" in page.location, path


async def test_login_form_has_an_api_key_field_and_a_csrf_token(ui: Ui) -> None:
    page = await ui.get("/ui/login")
    assert page.status == 200
    assert 'name="api_key"' in page.text
    assert ui.csrf


async def test_a_bad_key_re_renders_the_form_with_an_error(ui: Ui) -> None:
    await ui.get("/ui/login")
    page = await ui.post("/ui/login", {"api_key": "gw_not-a-real-key"})
    assert page.status == 401
    assert "That API key is not valid." in page.text
    assert "gw_not-a-real-key" not in page.text
    assert (await ui.get("/ui/agents")).status == 303


async def test_a_good_key_signs_in_with_a_safe_cookie_and_logout_signs_out(ui: Ui) -> None:
    await ui.get("/ui/login")
    page = await ui.post("/ui/login", {"api_key": ui.key})
    assert page.status == 303 and page.location == "/ui/agents"
    cookie = page.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here
    assert ui.key not in cookie
    agents = await ui.get("/ui/agents")
    assert agents.status == 200 and "New agent" in agents.text
    out = await ui.post("/ui/logout")
    assert out.status == 303 and out.location == "/ui/login"
    assert (await ui.get("/ui/agents")).status == 303


async def test_the_cookie_is_secure_behind_https(open_ui: UiFactory) -> None:
    async with open_ui(PUBLIC_BASE_URL="https://gw.example") as ui:
        await ui.get("/ui/login")
        page = await ui.post("/ui/login", {"api_key": ui.key})
        assert "Secure" in page.headers.get("Set-Cookie")


async def test_login_returns_to_the_page_asked_for_but_never_off_site(ui: Ui) -> None:
    await ui.get("/ui/login?next=/ui/leads?platform=web")
    page = await ui.post("/ui/login", {"api_key": ui.key, "next": "/ui/leads?platform=web"})
    assert page.location == "/ui/leads?platform=web"
    await ui.post("/ui/logout")
    await ui.get("/ui/login")
    page = await ui.post("/ui/login", {"api_key": ui.key, "next": "//evil.example/ui/"})
    assert page.location == "/ui/agents"


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "https://evil.example/ui/", "/api/x", None]
)
def test_safe_next_keeps_redirects_inside_the_ui(target: str | None) -> None:
    assert safe_next(target, "/ui/agents") == "/ui/agents"


async def test_a_post_without_its_csrf_token_is_403(signed_in: Ui) -> None:
    for path in (
        "/ui/agents",
        "/ui/logout",
        "/ui/agents/x/deploy/whatsapp",
        "/ui/agents/x/try/messages",
    ):
        page = await signed_in.post(path, {"name": "x", "kind": "demo"}, csrf=False)
        assert page.status == 403, path
        page = await signed_in.post(path, {"csrf_token": "forged"})
        assert page.status == 403, path
    assert (await signed_in.get("/ui/agents")).status == 200  # still signed in


async def test_login_itself_needs_the_csrf_token(ui: Ui) -> None:
    await ui.get("/ui/login")
    page = await ui.post("/ui/login", {"api_key": ui.key}, csrf=False)
    assert page.status == 403


async def test_pages_forbid_framing_and_foreign_scripts(signed_in: Ui) -> None:
    page = await signed_in.get("/ui/agents")
    policy = page.headers.get("Content-Security-Policy")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers.get("Cache-Control") == "no-store"
    assert "http://" not in page.text.split("<main", 1)[0]  # no CDN assets in the head


async def test_static_assets_are_served_locally(ui: Ui) -> None:
    for asset in ("/ui/static/ui.css", "/ui/static/ui.js"):
        response = await ui.client.get(asset)
        assert response.status_code == 200, asset


def test_secret_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_secret_key(tmp_path, env={})
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert load_or_create_secret_key(tmp_path, env={}) == first
    assert load_or_create_secret_key(tmp_path, env={"SECRET_KEY": "from-env"}) == "from-env"


def test_a_truncated_secret_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("short\n")
    with pytest.raises(ValueError, match="secret_key"):
        load_or_create_secret_key(tmp_path, env={})
