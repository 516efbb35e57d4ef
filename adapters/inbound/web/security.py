"""The UI's cookie session, its signing key, CSRF tokens and safe redirects."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from quart import Quart, has_request_context, request, session
from quart.sessions import SecureCookieSessionInterface

from adapters.inbound.http.public_url import PublicUrl

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def load_or_create_secret_key(data_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """`SECRET_KEY` from the environment, else `data_dir/secret_key`, created once (0600).

    Written to a private temporary file and hard-linked into place, so two processes starting
    at once end up with the same key and nobody ever reads half a file."""
    env = os.environ if env is None else env
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    path = Path(data_dir) / SECRET_KEY_FILE
    if path.exists():
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{SECRET_KEY_FILE}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race: use its key
            return _read_key(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable secret key; delete it to make a new one")
    return key


class UiSessionInterface(SecureCookieSessionInterface):
    """Quart's signed cookie, HttpOnly and SameSite=Lax, made Secure whenever the request
    reached us over https (directly or through a trusted proxy)."""

    def __init__(self, public_url: PublicUrl) -> None:
        self.public_url = public_url

    def get_cookie_secure(self, app: Quart) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and self.public_url.base(request).startswith("https://")

    def get_cookie_samesite(self, app: Quart) -> str:
        return str(app.config["SESSION_COOKIE_SAMESITE"] or "Lax")

    def get_cookie_httponly(self, app: Quart) -> bool:
        return True


def install_session(app: Quart, public_url: PublicUrl, data_dir: Path) -> None:
    """Give the app a signing key and the UI's cookie rules (keeps a key set elsewhere)."""
    if not app.secret_key:
        app.secret_key = load_or_create_secret_key(data_dir)
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = UiSessionInterface(public_url)


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_ok(sent: str | None) -> bool:
    expected = session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def safe_next(target: str | None, default: str) -> str:
    """Only redirect back into the UI (never to another site: `//evil`, `/\\evil`)."""
    if target and target.startswith("/ui/") and not target.startswith(("//", "/\\")):
        if "\\" not in target and "\r" not in target and "\n" not in target:
            return target
    return default
