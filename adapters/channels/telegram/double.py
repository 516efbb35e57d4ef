"""A Telegram Bot API double (Quart blueprint) for the local sandbox, tests and benchmarks."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from quart import Blueprint, Quart, request

MAX_TEXT = 4096
TOKEN_PATTERN = re.compile(r"\d{5,12}:[A-Za-z0-9_-]{30,64}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ACTIONS = frozenset(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document"
    " choose_sticker find_location record_video_note upload_video_note".split()
)
# Telegram words other errors like the HTTP reason phrase ("Unauthorized", "Bad Gateway").
_DESCRIPTIONS = {400: "Bad Request: injected fault", 403: "Forbidden: bot was blocked by the user"}
_NEED_HTTPS = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
_Answer = tuple[dict[str, Any], int]


@dataclass(frozen=True, slots=True)
class SentMessage:
    bot_id: int
    chat_id: str
    text: str
    message_id: int
    date: int  # Unix seconds, as Telegram sends it


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None


class TelegramDoubleStore:
    """What the double recorded, which tokens it accepts and which faults it injects.

    `tokens` None accepts any well-formed token. Telegram requires an HTTPS webhook on port
    443, 80, 88 or 8443; `require_https` is off because the local sandbox serves plain http.
    """

    def __init__(
        self,
        tokens: set[str] | None = None,
        *,
        require_https: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tokens = tokens
        self.require_https = require_https
        self.messages: list[SentMessage] = []
        self.actions: list[tuple[str, str]] = []  # (chat_id, action)
        self.webhooks: dict[str, Webhook] = {}  # by token; never listed over HTTP
        self.blocked_chats: set[str] = set()
        self._clock = clock
        self._faults: dict[str, tuple[int, int, int | None]] = {}
        self._last_ids: dict[tuple[int, str], int] = {}

    def accepts(self, token: str) -> bool:
        if not TOKEN_PATTERN.fullmatch(token):
            return False
        return self.tokens is None or token in self.tokens

    def fail_next(
        self,
        n: int,
        status: int = 500,
        retry_after: int | None = None,
        *,
        method: str = "sendMessage",
    ) -> None:
        """Answer the next `n` calls of `method` with Telegram's error JSON for `status`."""
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        if status == 429 and retry_after is None:
            retry_after = 1  # Telegram always says how long to wait
        self._faults[method.lower()] = (n, status, retry_after)

    def take_fault(self, method: str) -> _Answer | None:
        n, status, retry_after = self._faults.get(method, (0, 0, None))
        if n <= 0:
            return None
        self._faults[method] = (n - 1, status, retry_after)
        if status == 429:
            return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        phrase = _DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
        return _error(status, phrase, retry_after)

    def record(self, token: str, chat_id: str, text: str) -> SentMessage:
        bot = bot_id(token)
        message_id = self._last_ids.get((bot, chat_id), 0) + 1
        self._last_ids[(bot, chat_id)] = message_id
        date = int(self._clock().timestamp())
        message = SentMessage(bot, chat_id, text, message_id, date)
        self.messages.append(message)
        return message


def bot_id(token: str) -> int:
    """A bot's user id is the number before the colon of its token."""
    return int(token.split(":", 1)[0])


def bot_user(token: str) -> dict[str, Any]:
    """The User object getMe answers for the bot holding `token`."""
    number = bot_id(token)
    return {
        "id": number,
        "is_bot": True,
        "first_name": "Sandbox Bot",
        "username": f"sandbox_{number}_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def telegram_double_blueprint(
    store: TelegramDoubleStore, url_prefix: str = "/sandbox/telegram"
) -> Blueprint:
    """The double's routes: `/bot<token>/<method>` under `url_prefix` plus `GET /messages`."""
    bp = Blueprint("telegram_double", __name__, url_prefix=url_prefix)

    def get_me(token: str, params: dict[str, Any]) -> _Answer:
        return {"ok": True, "result": bot_user(token)}, 200

    def set_webhook(token: str, params: dict[str, Any]) -> _Answer:
        url = str(params.get("url") or "")
        if not url:  # documented: an empty URL removes the webhook
            return delete_webhook(token, params)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        if not url.startswith("https://" if store.require_https else ("https://", "http://")):
            return _error(400, _NEED_HTTPS)
        allowed = params.get("allowed_updates")
        previous = store.webhooks.get(token)
        if allowed is None and previous is not None:  # documented: omitted keeps the old list
            allowed = previous.allowed_updates
        hook = Webhook(url, None if secret is None else str(secret), _list(allowed))
        store.webhooks[token] = hook
        said = "Webhook is already set" if previous == hook else "Webhook was set"
        return {"ok": True, "result": True, "description": said}, 200

    def delete_webhook(token: str, params: dict[str, Any]) -> _Answer:
        had = store.webhooks.pop(token, None) is not None
        said = "Webhook was deleted" if had else "Webhook is already deleted"
        return {"ok": True, "result": True, "description": said}, 200

    def get_webhook_info(token: str, params: dict[str, Any]) -> _Answer:
        hook = store.webhooks.get(token)
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False}
        info["pending_update_count"] = 0
        if hook is not None:
            info.update(url=hook.url, max_connections=40)
            if hook.allowed_updates is not None:
                info["allowed_updates"] = hook.allowed_updates
        return {"ok": True, "result": info}, 200

    def send_message(token: str, params: dict[str, Any]) -> _Answer:
        chat_id, text = str(params.get("chat_id") or ""), params.get("text")
        refused = _check_chat(store, chat_id)
        if refused is not None:
            return refused
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        sent = store.record(token, chat_id, text)
        bot = bot_user(token)
        result = {
            "message_id": sent.message_id,
            "from": {k: bot[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": {"id": int(chat_id), "first_name": "Sandbox user", "type": "private"},
            "date": sent.date,
            "text": text,
        }
        return {"ok": True, "result": result}, 200

    def send_chat_action(token: str, params: dict[str, Any]) -> _Answer:
        chat_id, action = str(params.get("chat_id") or ""), params.get("action")
        refused = _check_chat(store, chat_id)
        if refused is not None:
            return refused
        if action not in _ACTIONS:
            return _error(400, "Bad Request: wrong parameter action in request")
        store.actions.append((chat_id, str(action)))
        return {"ok": True, "result": True}, 200

    methods: dict[str, Callable[[str, dict[str, Any]], _Answer]] = {
        "getme": get_me,
        "setwebhook": set_webhook,
        "deletewebhook": delete_webhook,
        "getwebhookinfo": get_webhook_info,
        "sendmessage": send_message,
        "sendchataction": send_chat_action,
    }

    @bp.route("/bot<token>/<method>", methods=["GET", "POST"])
    async def call(token: str, method: str) -> _Answer:
        handler = methods.get(method.lower())  # Bot API method names are case-insensitive
        if not re.match(r"\d+:", token) or handler is None:
            return _error(404, "Not Found")
        if not store.accepts(token):
            return _error(401, "Unauthorized")
        fault = store.take_fault(method.lower())
        if fault is not None:
            return fault
        return handler(token, await _params())

    @bp.get("/messages")
    async def recorded() -> _Answer:
        items = [asdict(m) for m in store.messages]  # no token in there
        return {"count": len(items), "messages": items}, 200

    return bp


def create_telegram_double_app(
    store: TelegramDoubleStore, url_prefix: str = "/sandbox/telegram"
) -> Quart:
    app = Quart(__name__)
    app.register_blueprint(telegram_double_blueprint(store, url_prefix))
    return app


def make_update(
    update_id: int,
    chat_id: int | str,
    text: str,
    first_name: str = "Ada",
    last_name: str | None = None,
    username: str | None = None,
    *,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A private-chat text `Update` as Telegram POSTs it to a webhook."""
    person: dict[str, Any] = {"first_name": first_name}
    if last_name is not None:
        person["last_name"] = last_name
    if username is not None:
        person["username"] = username
    user_id = int(chat_id)  # in a private chat the chat id is the user's id
    message: dict[str, Any] = {
        "message_id": update_id if message_id is None else message_id,
        "from": {"id": user_id, "is_bot": False, **person, "language_code": "en"},
        "chat": {"id": user_id, **person, "type": "private"},
        "date": int(time.time()) if date is None else date,
        "text": text,
    }
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if command:  # Telegram marks a leading /command as an entity
        message["entities"] = [{"offset": 0, "length": command.end(), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


async def _params() -> dict[str, Any]:
    """Telegram takes parameters from the query string, a form or a JSON body alike."""
    params: dict[str, Any] = request.args.to_dict()
    body = await request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        params.update(body)
    else:
        params.update((await request.form).to_dict())
    return params


def _check_chat(store: TelegramDoubleStore, chat_id: str) -> _Answer | None:
    if not chat_id:
        return _error(400, "Bad Request: chat_id is empty")
    if not re.fullmatch(r"-?\d+", chat_id):  # @usernames name channels, not private chats
        return _error(400, "Bad Request: chat not found")
    if chat_id in store.blocked_chats:
        return _error(403, "Forbidden: bot was blocked by the user")
    return None


def _list(value: Any) -> list[str] | None:
    if isinstance(value, str):  # form-encoded calls send the list JSON-serialized
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return [str(v) for v in value] if isinstance(value, list) else None


def _error(status: int, description: str, retry_after: int | None = None) -> _Answer:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body, status
