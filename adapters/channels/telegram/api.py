"""Async Telegram Bot API client (getMe, webhooks, sendMessage, sendChatAction) over httpx."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ports.errors import SendFailed, SendOutcomeUnknown

DEFAULT_BASE_URL = "https://api.telegram.org"
# Sent explicitly because an omitted list keeps whatever an earlier setWebhook chose. Only new
# messages: an edit would reach the agent as a second turn of a message it already answered.
ALLOWED_UPDATES: tuple[str, ...] = ("message",)

_logger = logging.getLogger(__name__)
# Loose (Telegram has lengthened tokens before); it only stops a token from reshaping the path.
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # setWebhook's documented secret_token alphabet
_NUMERIC = re.compile(r"-?\d+")
# Connection never made: the request cannot have reached Telegram, so resending is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MISCONFIGURED = (httpx.UnsupportedProtocol, httpx.InvalidURL)
_DESCRIPTION_LIMIT = 300


class TelegramApiError(Exception):
    """Base of this client's own errors (sendMessage raises the MessageSender port's)."""


class TelegramUnavailable(TelegramApiError):
    """Telegram was unreachable, gave no answer, or answered 5xx/429: try again later."""


class TelegramRefused(TelegramApiError):
    """Telegram answered `ok: false`; `description` is Telegram's text, `code` its error_code."""

    def __init__(self, description: str, *, code: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.code = code


class InvalidToken(TelegramRefused):
    """The bot token is malformed, revoked or unknown to Telegram."""


@dataclass(frozen=True, slots=True)
class _Answer:
    """One call's outcome: Telegram's JSON, or why no answer came back (never the exception)."""

    status: int = 0  # 0: no HTTP answer at all
    body: dict[str, Any] | None = None
    transport: Literal["not_sent", "unknown", "misconfigured"] | None = None
    error: str = ""  # the exception's class name only: its text and request hold the token
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.body is not None and self.body.get("ok") is True

    @property
    def code(self) -> int:
        code = self.body.get("error_code") if self.body else None
        return code if isinstance(code, int) and not isinstance(code, bool) else self.status

    @property
    def overloaded(self) -> bool:
        """Flood control (429) or a server error: worth another attempt later."""
        return 429 in (self.status, self.code) or self.status >= 500 or self.code >= 500

    @property
    def reason(self) -> str:
        """For logs and messages: status codes and class names, nothing Telegram-supplied."""
        if self.transport == "not_sent":
            return f"not connected ({self.error})"
        if self.transport is not None:
            return f"no answer ({self.error})"
        return f"HTTP {self.status}"

    def description(self, token: str) -> str:
        text = self.body.get("description") if self.body else None
        if not isinstance(text, str) or not text:
            return self.reason
        return text.replace(token, "<token>")[:_DESCRIPTION_LIMIT]


class TelegramBotApi:
    """The Bot API methods the gateway needs, each a JSON `POST {base}/bot{token}/{method}`.

    sendMessage retries 429 after `retry_after` (capped) and 5xx/unconnected attempts with
    full-jitter backoff; an attempt that may have been delivered is never resent, since the
    Bot API cannot look up sent messages. The other methods make one attempt.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_attempts: int = 5,
        base_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._http = http
        self._base = base_url.rstrip("/")
        self._max_attempts = max_attempts
        self._base_delay = base_delay_s
        self._max_delay = max_delay_s
        self._sleep = sleep

    async def get_me(self, token: str) -> dict[str, Any]:
        """The bot's User object; InvalidToken for a token Telegram does not accept."""
        result = await self._command(token, "getMe", {}, refusal=InvalidToken)
        if not isinstance(result, dict):
            raise TelegramUnavailable("telegram getMe: answer without a User")
        return result

    async def set_webhook(
        self,
        token: str,
        url: str,
        secret_token: str,
        *,
        allowed_updates: Sequence[str] = ALLOWED_UPDATES,
    ) -> None:
        """Point the bot's updates at `url`; Telegram echoes `secret_token` in a header."""
        if not _SECRET.fullmatch(secret_token):
            raise ValueError("secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        payload = {
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": list(allowed_updates),
            "drop_pending_updates": False,
        }
        await self._command(token, "setWebhook", payload)

    async def delete_webhook(self, token: str) -> None:
        await self._command(token, "deleteWebhook", {"drop_pending_updates": False})

    async def send_message(self, token: str, chat_id: str, text: str) -> str:
        """Send `text`; returns `"{chat_id}:{message_id}"` (message ids are per chat)."""
        if not _TOKEN.fullmatch(token):
            raise SendFailed("telegram bot token is malformed")
        payload = {"chat_id": _chat(chat_id), "text": text}
        last: _Answer | None = None
        for attempt in range(1, self._max_attempts + 1):
            if last is not None:
                await self._sleep(self._delay(attempt - 1, last.retry_after))
            answer = await self._post(token, "sendMessage", payload)
            verdict = _verdict(answer)
            if verdict == "sent":
                return _external_id(answer, chat_id)
            if verdict == "unknown":
                raise SendOutcomeUnknown(f"telegram sendMessage outcome unknown: {answer.reason}")
            if verdict == "final":
                detail = answer.description(token)
                raise SendFailed(f"telegram refused the message: {detail}", code=_code(answer))
            last = answer
            _logger.warning("telegram sendMessage attempt %d failed: %s", attempt, answer.reason)
        assert last is not None  # max_attempts >= 1 and every other verdict left the loop
        reason = f"gave up after {self._max_attempts} attempts: {last.reason}"
        raise SendFailed(reason, code=_code(last))

    async def send_chat_action(self, token: str, chat_id: str, action: str = "typing") -> None:
        """Best effort "typing…": one attempt, every failure logged at debug and swallowed."""
        try:
            if not _TOKEN.fullmatch(token):
                _logger.debug("telegram sendChatAction skipped: malformed token")
                return
            payload = {"chat_id": _chat(chat_id), "action": action}
            answer = await self._post(token, "sendChatAction", payload)
            if not answer.ok:
                _logger.debug("telegram sendChatAction failed: %s", answer.reason)
        except Exception as e:  # a typing indicator must never break a reply
            _logger.debug("telegram sendChatAction failed (%s)", type(e).__name__)

    async def _command(
        self,
        token: str,
        method: str,
        payload: dict[str, Any],
        refusal: type[TelegramRefused] = TelegramRefused,
    ) -> Any:
        """One attempt at an idempotent method: its `result`, or the error to raise."""
        if not _TOKEN.fullmatch(token):
            raise InvalidToken("malformed bot token")
        answer = await self._post(token, method, payload)
        if answer.transport is not None or answer.overloaded:
            raise TelegramUnavailable(f"telegram {method}: {answer.reason}")
        if answer.status in (401, 404) or answer.code in (401, 404):
            raise InvalidToken(answer.description(token), code=answer.code)
        if answer.ok:
            return answer.body.get("result") if answer.body else None
        if answer.body is None:
            raise TelegramUnavailable(f"telegram {method}: unreadable answer ({answer.reason})")
        raise refusal(answer.description(token), code=answer.code)

    async def _post(self, token: str, method: str, payload: dict[str, Any]) -> _Answer:
        """POST once. Never raises: httpx errors carry the URL, so only their class name leaves."""
        try:
            response = await self._http.post(f"{self._base}/bot{token}/{method}", json=payload)
        except _NOT_SENT as e:
            answer = _Answer(transport="not_sent", error=type(e).__name__)
        except _MISCONFIGURED as e:
            answer = _Answer(transport="misconfigured", error=type(e).__name__)
        except Exception as e:  # read timeout, broken connection, …: it may have been delivered
            answer = _Answer(transport="unknown", error=type(e).__name__)
        else:
            answer = _read(response)
        _logger.debug("telegram %s: %s", method, answer.reason)
        return answer

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._max_delay)
        ceiling = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
        return random.uniform(0.0, ceiling)


def _read(response: httpx.Response) -> _Answer:
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    body = parsed if isinstance(parsed, dict) else None
    params = body.get("parameters") if body else None
    wait = params.get("retry_after") if isinstance(params, dict) else None
    try:
        seconds = float(wait if wait is not None else response.headers.get("Retry-After", "nan"))
    except (TypeError, ValueError):
        seconds = math.nan
    retry_after = seconds if math.isfinite(seconds) else None
    return _Answer(response.status_code, body, retry_after=retry_after)


def _verdict(answer: _Answer) -> Literal["sent", "retry", "unknown", "final"]:
    if answer.transport == "not_sent":
        return "retry"
    if answer.transport == "unknown":
        return "unknown"
    if answer.transport == "misconfigured":
        return "final"
    if answer.ok:
        return "sent"
    if answer.overloaded:
        return "retry"
    if answer.body is None and 200 <= answer.status < 300:
        return "unknown"  # accepted but unreadable: it may well have been sent
    return "final"


def _external_id(answer: _Answer, chat_id: str) -> str:
    result = answer.body.get("result") if answer.body else None
    message = result if isinstance(result, dict) else {}
    message_id = message.get("message_id")
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        # Sent (ok: true) but unidentifiable; resending would duplicate it.
        raise SendOutcomeUnknown("telegram accepted sendMessage but returned no message_id")
    chat = message.get("chat")
    sent_to = chat.get("id") if isinstance(chat, dict) else None
    if isinstance(sent_to, int) and not isinstance(sent_to, bool):
        chat_id = str(sent_to)
    return f"{chat_id}:{message_id}"


def _code(answer: _Answer) -> str | None:
    return str(answer.code) if answer.code else None


def _chat(chat_id: str) -> int | str:
    """Numeric ids go as integers (Telegram's documented type); `@username` stays a string."""
    return int(chat_id) if _NUMERIC.fullmatch(chat_id) else chat_id
