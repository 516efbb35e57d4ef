"""The UI's cookie session, its signing key, its server-side version (sign-out), CSRF tokens
and safe redirects."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from quart import Quart, has_request_context, request, session
from quart.sessions import SecureCookieSessionInterface

from adapters.inbound.http.public_url import PublicUrl
from ports.driven import WorkspaceStore

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_VERSION = "session_version"  # the cookie's copy of its workspace's version
_VERSION_SETTING = "ui.session_version.{}"
_INITIAL_VERSION = "0"
# What `next=` may hold once percent-encoded: printable ASCII; anything else is encoded.
_URL_SAFE = "/?&=%:@!$'()*+,;~#[]-._"


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


class SessionVersions:
    """The server side of a UI sign-in, so that signing out really ends it.

    The cookie is signed but lives in the browser: a copy of it would outlive a sign-out that
    only cleared the browser's. So each workspace has a session version in the workspace
    settings store (the database: every process reads the same one); a sign-in copies it into
    the cookie, every page compares the two, and signing out replaces the version with a new
    random one. Every cookie issued before then, copies included, stops working: signing out
    ends the workspace's UI sessions in every browser. Replacing needs no read-modify-write,
    so concurrent sign-outs in several processes cannot undo each other."""

    def __init__(self, store: WorkspaceStore) -> None:
        self.store = store

    async def current(self, workspace_id: str) -> str:
        stored = await self.store.get_setting(_VERSION_SETTING.format(workspace_id))
        return stored or _INITIAL_VERSION

    async def valid(self, workspace_id: str, version: object) -> bool:
        if not isinstance(version, str):
            return False
        current = await self.current(workspace_id)
        return hmac.compare_digest(current.encode(), version.encode())

    async def end(self, workspace_id: str) -> None:
        name = _VERSION_SETTING.format(workspace_id)
        await self.store.set_setting(name, secrets.token_urlsafe(16))


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
    """Only redirect back into the UI (never to another site: `//evil`, `/\\evil`), and only
    to something a `Location` header can carry: control characters (NUL, CR, LF, ...)
    refuse the target, other non-ASCII text is percent-encoded."""
    if not target or not target.startswith("/ui/") or target.startswith(("//", "/\\")):
        return default
    if "\\" in target or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in target):
        return default
    try:
        return quote(target, safe=_URL_SAFE)
    except UnicodeEncodeError:  # a lone surrogate is not text
        return default
