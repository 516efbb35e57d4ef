"""The Web UI (server-rendered Quart blueprint): sign-in, guards, and the page modules."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from quart import (
    Blueprint,
    Quart,
    Response,
    g,
    request,
    session,
    url_for,
)
from quart_rate_limiter import RateLimitExceeded

from adapters.channels.registry import ChannelRegistry
from adapters.channels.web.chat import WebChat
from adapters.inbound.http.public_url import PublicUrl
from adapters.inbound.http.throttle import limit_refusals
from ports.driving import Administration, ChannelDirectory, LeadWebhookAdmin, MessageIntake
from ports.errors import NotFound, StoreUnavailable

from . import format as fmt
from .agents import register_agent_pages
from .channels import ChannelNames
from .chat import register_chat_pages
from .common import UiDeps, page, see_other
from .conversations import register_conversation_pages
from .deploy import register_deploy_pages
from .leads import register_lead_pages
from .security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_VERSION,
    SessionVersions,
    csrf_ok,
    csrf_token,
    install_session,
    safe_next,
)

WORKSPACE = "workspace_id"
KEY_LABEL = "key_label"
PUBLIC_ENDPOINTS = {"ui.login", "ui.login_submit", "ui.static", "ui.index"}
FORM_EXPIRED = {
    "title": "Form expired",
    "message": "The form was sent without its security token, or the token has expired. "
    "Go back, reload the page and try again.",
}
NOT_FOUND = {
    "title": "Not found",
    "message": "There is nothing here, or it belongs to another workspace.",
}
UNAVAILABLE = {
    "title": "Temporarily unavailable",
    "message": "The database cannot be reached. Try again in a moment.",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def ui_blueprint(
    admin: Administration,
    intake: MessageIntake,
    channels: ChannelRegistry,
    directory: ChannelDirectory,
    public_url: PublicUrl,
    data_dir: Path,
    sessions: SessionVersions,
    lead_webhooks: LeadWebhookAdmin | None = None,
) -> Blueprint:
    """Pages under /ui/ (and `/` -> sign-in). Every channel kind shown comes from `channels`;
    `directory` opens a channel's secrets for its plugin's hooks when it is saved or removed.
    `data_dir` keeps the cookie signing key when `SECRET_KEY` is not set; `sessions` holds
    each workspace's session version, which signing out replaces."""
    bp = Blueprint(
        "ui",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/ui/static",
    )
    deps = UiDeps(admin, channels, directory, WebChat(intake), public_url, lead_webhooks)
    names = ChannelNames(channels)
    bp.record_once(lambda state: install_session(cast(Quart, state.app), public_url, data_dir))

    @bp.context_processor
    def common() -> dict[str, object]:
        return {
            "csrf_token": csrf_token,
            "fmt": fmt,
            "channels": names,
            "signed_in": WORKSPACE in session,
        }

    @bp.before_request
    async def guard() -> Response | None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER) or (await request.form).get(CSRF_FIELD)
            if not csrf_ok(sent):
                return await page("error.html", 403, **FORM_EXPIRED)
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        workspace = await signed_in_workspace()
        if workspace is None:
            here = request.path + (
                "?" + request.query_string.decode() if request.query_string else ""
            )
            return see_other(url_for("ui.login", next=here))
        g.workspace_id = workspace
        return None

    @bp.after_request
    async def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "ui.static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @bp.errorhandler(NotFound)
    async def not_found(e: NotFound) -> Response:
        return await page("error.html", 404, **NOT_FOUND)

    @bp.errorhandler(StoreUnavailable)
    async def unavailable(e: StoreUnavailable) -> Response:
        return await page("error.html", 503, **UNAVAILABLE)

    async def signed_in_workspace() -> str | None:
        """The cookie's workspace while its session version is current (not signed out since,
        in any browser or process); a stale cookie is cleared."""
        workspace = session.get(WORKSPACE)
        if not isinstance(workspace, str):
            return None
        if not await sessions.valid(workspace, session.get(SESSION_VERSION)):
            session.clear()
            return None
        return workspace

    @bp.errorhandler(RateLimitExceeded)
    async def too_many(e: RateLimitExceeded) -> Response:
        seconds = e.retry_after
        error = f"Too many failed sign-ins from your address. Try again in {seconds} s."
        response = await page("login.html", 429, error=error, next="")
        response.headers["Retry-After"] = str(seconds)
        return response

    @bp.get("/")
    async def index() -> Response:
        return see_other(url_for("ui.agents" if WORKSPACE in session else "ui.login"))

    @bp.get("/ui/login")
    async def login() -> Response:
        if await signed_in_workspace() is not None:
            return see_other(url_for("ui.agents"))
        return await page("login.html", next=safe_next(request.args.get("next"), ""))

    @bp.post("/ui/login")
    @limit_refusals  # a failed sign-in (401) counts against the address; then 429
    async def login_submit() -> Response:
        form = await request.form
        target = safe_next(form.get("next"), url_for("ui.agents"))
        key = form.get("api_key", "").strip()
        actor = await admin.identify(key) if key else None
        if actor is None:
            error = "That API key is not valid." if key else "Enter your API key."
            return await page("login.html", 401, error=error, next=form.get("next", ""))
        workspace = actor.workspace_id
        session.clear()  # a fresh session (and CSRF token) on every sign-in
        session[WORKSPACE] = workspace
        session[KEY_LABEL] = actor.label  # who pauses and replies from this browser
        session[SESSION_VERSION] = await sessions.current(workspace)
        return see_other(target)

    @bp.post("/ui/logout")
    async def logout() -> Response:
        session.clear()
        await sessions.end(g.workspace_id)  # every copy of the cookie stops working
        return see_other(url_for("ui.login"))

    register_agent_pages(bp, deps)
    register_deploy_pages(bp, deps)
    register_lead_pages(bp, deps)
    register_conversation_pages(bp, deps)
    register_chat_pages(bp, deps)
    return bp
