"""MessageSender over Twilio's Messages API: safe retries, lookup before any blind resend.

One class serves every channel kind that sends through Twilio's Messages API; the kind, how a
contact becomes a Twilio address and the status-callback route are constructor arguments.

Errors leave as port errors built from status codes and exception class names only, raised
outside the `except` blocks so that no library exception (whose request carries the Basic auth
header) stays attached to them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

# Importing the message module loads the SDK's lazily imported API modules now, not on the
# event loop at the first send.
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageList

from adapters.twilio.errors import UNSUBSCRIBED, described
from adapters.twilio.http_client import HttpxTwilioHttpClient
from ports.driving import ChannelDirectory
from ports.errors import NotFound, SendFailed, SendOutcomeUnknown
from ports.values import SENT, OutboundMessage, SendReceipt

_logger = logging.getLogger(__name__)

# Connection never made: the request cannot have reached Twilio.
_NOT_SENT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
_REST_ERRORS = (TwilioRestException, TwilioServiceException)
_LOOKUP_PAGE_SIZE = 50
# A non-empty mapping, so the SDK does not read TWILIO_EDGE / TWILIO_REGION from os.environ:
# TWILIO_API_BASE_URL alone decides where requests go.
_NO_ENVIRONMENT = {"TWILIO_ENVIRONMENT": "ignored"}


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why an attempt did not yield a sid.

    `kind`: `retry` (refused or never sent: send again), `unknown` (the message may exist at
    Twilio: look it up before sending again), `final` (refused for good). `answered` tells an
    unknown outcome that Twilio answered (a 5xx) from one it never answered (a timeout).
    """

    kind: Literal["retry", "unknown", "final"]
    reason: str
    code: str | None = None
    retry_after: float | None = None
    answered: bool = False


class _ResponseCapture(AsyncHttpClient):  # type: ignore[misc]
    """Per-send wrapper remembering the last response (the SDK's errors drop its headers)."""

    def __init__(self, inner: HttpxTwilioHttpClient) -> None:
        super().__init__(inner.logger, True, inner.timeout)
        self._inner = inner
        self.last: Response | None = None

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        self.last = None
        self.last = await self._inner.request(*args, **kwargs)
        return self.last


class TwilioMessageSender:
    """Sends replies of one Twilio channel kind with the agent's own Twilio credentials
    (MessageSender port).

    `kind` is the channel kind whose settings (`account_sid`, `phone_number`, secret
    `auth_token`) are resolved for the agent; `address` turns a contact or the channel's
    number (E.164) into Twilio's `To`/`From` address; status callbacks go to
    `{status_callback_base}/webhooks/{webhook_route}/{agent_id}/status`.

    429, 5xx and connection failures are retried with full-jitter exponential backoff (or the
    `Retry-After` seconds, capped); other 4xx (21610: the person texted STOP) fail at once with
    Twilio's code. Twilio's create is not idempotent: after a 5xx or an unanswered attempt the
    message may exist all the same, so it (like `previous_attempt_at`) is first looked up in
    Twilio's message list (same To, From and body, created since the attempt began, not one of
    `known_ids`) and resent only if absent. A 429 or a connection never made is resent as is.
    """

    def __init__(
        self,
        channels: ChannelDirectory,
        http_client: HttpxTwilioHttpClient,
        *,
        kind: str,
        address: Callable[[str], str],
        webhook_route: str,
        max_attempts: int = 5,
        base_delay_s: float = 0.5,
        max_delay_s: float = 20.0,
        status_callback_base: str | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        error_words: Mapping[str, str] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not kind or not webhook_route.strip("/"):
            raise ValueError("kind and webhook_route are required")
        self._channels = channels
        self._http = http_client
        self._kind = kind
        self._address = address
        self._route = webhook_route.strip("/")
        self._max_attempts = max_attempts
        self._base_delay = base_delay_s
        self._max_delay = max_delay_s
        self._callback_base = status_callback_base.rstrip("/") if status_callback_base else None
        self._sleep = sleep
        self._error_words = error_words  # the medium's own Twilio codes, in words

    async def send(self, message: OutboundMessage) -> SendReceipt:
        account_sid, auth_token, phone = await self._credentials(message)
        capture = _ResponseCapture(self._http)
        client = Client(account_sid, auth_token, http_client=capture, environment=_NO_ENVIRONMENT)
        messages: MessageList = client.api.v2010.account.messages
        to = self._address(message.contact)
        from_ = self._address(phone)
        callback = (
            f"{self._callback_base}/webhooks/{self._route}/{message.agent_id}/status"
            if self._callback_base
            else None
        )
        content = _content(message)
        # A template's body is Twilio's rendering: a look-up can only match To, From and time
        # (and never a message another reply owns, `known_ids`).
        body = None if message.template is not None else message.body
        # Start of an attempt whose outcome is unknown, until a lookup settles it.
        unsettled: datetime | None = _utc(message.previous_attempt_at)
        failure: _Failure | None = None
        for attempt in range(1, self._max_attempts + 1):
            if failure is not None:
                await self._sleep(self._delay(attempt - 1, failure.retry_after))
            if unsettled is not None:
                found = await self._lookup(
                    messages, capture, to, from_, body, unsettled, message.known_ids
                )
                if isinstance(found, _Failure):
                    _logger.warning("message %s %s", message.message_id, found.reason)
                    if found.kind == "final":
                        raise SendOutcomeUnknown(f"send outcome unknown: {found.reason}")
                    failure = found
                    continue
                if found is not None:
                    _logger.info("message %s was already sent", message.message_id)
                    return SendReceipt(external_id=found, status=SENT)
                unsettled = None
            started = datetime.now(UTC)
            result = await self._create(messages, capture, to, from_, content, callback)
            if isinstance(result, str):
                return SendReceipt(external_id=result, status=SENT)
            failure = result
            _logger.warning(
                "message %s attempt %d failed: %s", message.message_id, attempt, failure.reason
            )
            if failure.kind == "final":
                raise SendFailed(
                    f"twilio refused the message: {failure.reason}",
                    code=failure.code,
                    opted_out=failure.code == UNSUBSCRIBED,
                )
            if failure.kind == "unknown":
                unsettled = started
        reason = failure.reason if failure else "no attempt"
        code = failure.code if failure else None
        if unsettled is not None:
            if failure is not None and failure.kind == "unknown":
                # The last POST may have created the message: one more look before giving up
                # (after a pause when it went unanswered: it may still be on its way).
                if not failure.answered:
                    await self._sleep(self._delay(self._max_attempts, None))
                found = await self._lookup(
                    messages, capture, to, from_, body, unsettled, message.known_ids
                )
                if isinstance(found, str):
                    _logger.info("message %s was sent after all", message.message_id)
                    return SendReceipt(external_id=found, status=SENT)
                if found is None:
                    raise SendFailed(
                        f"gave up after {self._max_attempts} attempts: {reason}", code=code
                    )
                reason = found.reason
            raise SendOutcomeUnknown(f"send outcome unknown: {reason}")
        raise SendFailed(f"gave up after {self._max_attempts} attempts: {reason}", code=code)

    async def _credentials(self, message: OutboundMessage) -> tuple[str, str, str]:
        try:
            channel = await self._channels.resolve(message.agent_id, self._kind)
        except NotFound:
            channel = None
        if channel is None or not channel.enabled:
            raise SendFailed(f"{self._kind} channel not configured or disabled")
        sid = channel.settings.get("account_sid")
        phone = channel.settings.get("phone_number")
        token = channel.secrets.get("auth_token")
        if not sid or not phone or not token:
            raise SendFailed(
                f"{self._kind} channel is missing account_sid, phone_number or auth_token"
            )
        return sid, token, phone

    async def _create(
        self,
        messages: MessageList,
        capture: _ResponseCapture,
        to: str,
        from_: str,
        content: dict[str, str],
        callback: str | None,
    ) -> str | _Failure:
        """One POST: the new message's sid, or why there is none."""
        try:
            if callback is None:
                created = await messages.create_async(to=to, from_=from_, **content)
            else:
                created = await messages.create_async(
                    to=to, from_=from_, status_callback=callback, **content
                )
        except _REST_ERRORS as e:
            status = _status(e)
            code = str(e.code) if e.code is not None else None
            words = described(code, self._error_words)
            reason = f"HTTP {status}" + (f", code {words}" if code else "")
            if status == 429:  # refused: nothing was created
                return _Failure("retry", reason, code, _retry_after(capture.last))
            if status >= 500:  # Twilio may have created the message before failing
                return _Failure("unknown", reason, code, _retry_after(capture.last), answered=True)
            return _Failure("final", reason, code)
        except _NOT_SENT_ERRORS as e:
            return _Failure("retry", f"not connected ({type(e).__name__})")
        except httpx.HTTPError as e:
            return _Failure("unknown", f"no answer ({type(e).__name__})")
        except ValueError:  # a 2xx whose body is not the JSON expected
            return _Failure("unknown", "unreadable answer")
        sid = getattr(created, "sid", None)
        if not isinstance(sid, str) or not sid:
            return _Failure("unknown", "answer without a sid")
        return sid

    async def _lookup(
        self,
        messages: MessageList,
        capture: _ResponseCapture,
        to: str,
        from_: str,
        body: str | None,
        since: datetime,
        exclude: frozenset[str] = frozenset(),
    ) -> str | _Failure | None:
        """The sid of a message like this one (`body` None: any body) created at or after
        `since`, None if there is none, or a failure when the list could not be read (`final`
        when retrying is futile)."""
        floor = since.replace(microsecond=0) - timedelta(seconds=1)
        try:
            found = await messages.list_async(
                to=to, from_=from_, limit=_LOOKUP_PAGE_SIZE, page_size=_LOOKUP_PAGE_SIZE
            )
        except httpx.HTTPError as e:
            return _Failure("retry", f"lookup failed ({type(e).__name__})")
        except Exception as e:  # a non-200 page is a bare TwilioException, not a REST error
            status = capture.last.status_code if capture.last is not None else 0
            if 400 <= status < 500 and status != 429:
                return _Failure("final", f"lookup HTTP {status}")
            return _Failure("retry", f"lookup failed (HTTP {status}, {type(e).__name__})")
        for item in found:
            created = item.date_created
            if (
                item.to == to
                and item.from_ == from_
                and (body is None or item.body == body)
                and isinstance(created, datetime)
                and created >= floor
                and item.sid
                and str(item.sid) not in exclude
            ):
                return str(item.sid)
        return None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self._max_delay)
        ceiling = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
        return random.uniform(0.0, ceiling)


def _content(message: OutboundMessage) -> dict[str, str]:
    """What the message says, as the create call's fields: a body, or a template (Content API:
    `ContentSid` and `ContentVariables` as JSON, and no body)."""
    if message.template is None:
        return {"body": message.body}
    return {
        "content_sid": message.template.content_sid,
        "content_variables": json.dumps(message.template.variables, ensure_ascii=False),
    }


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _status(error: Exception) -> int:
    try:
        return int(getattr(error, "status", 0))
    except (TypeError, ValueError):
        return 0


def _retry_after(response: Response | None) -> float | None:
    if response is None or response.headers is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:  # an HTTP date: fall back to backoff
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None
