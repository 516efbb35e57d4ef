"""Signing out holds across processes: two `python -m app serve` on one PostgreSQL database
(one SECRET_KEY, as docs/configuration.md asks); a cookie copied from a browser that signed out
on one process is refused by the other."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from .harness import Gateway, wait_http

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def test_a_cookie_copied_before_sign_out_is_refused_by_every_process(gateway: Gateway) -> None:
    secret = secrets.token_urlsafe(48)
    a = gateway.spawn("A", SECRET_KEY=secret)
    b = gateway.spawn("B", SECRET_KEY=secret)
    for child in (a, b):
        wait_http(child, "/readyz")
    key = gateway.keys_create()

    with httpx.Client(base_url=a.url, timeout=10) as browser:
        token = csrf(browser, "/ui/login")
        signed = browser.post("/ui/login", data={"csrf_token": token, "api_key": key})
        assert signed.status_code == 303, signed.text
        cookie = browser.cookies["session"]

        with httpx.Client(base_url=b.url, timeout=10, cookies={"session": cookie}) as copy:
            assert copy.get("/ui/agents").status_code == 200  # B accepts A's session

            token = csrf(browser, "/ui/agents")
            out = browser.post("/ui/logout", data={"csrf_token": token})
            assert out.status_code == 303

            refused = copy.get("/ui/agents")
            assert refused.status_code == 303
            assert "/ui/login" in refused.headers["Location"]

        with httpx.Client(base_url=a.url, timeout=10, cookies={"session": cookie}) as replay:
            assert replay.get("/ui/agents").status_code == 303
