"""A Twilio Messages REST double (Quart blueprint) for the local sandbox, tests and benchmarks."""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Blueprint, Quart, request

API = "/2010-04-01"
MAX_BODY = 1600
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_TOO_LONG = "The concatenated message body exceeds the 1600 character limit."
_Answer = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure of a message creation: the HTTP status (and Twilio error code)
    answered, the `Retry-After` header if any, and whether the message is created all the
    same (Twilio's create is not idempotent: a 5xx can come back for a message it created)."""

    status: int
    code: int
    retry_after: float | None = None
    created: bool = False
    delay_s: float = 0.0  # created, and answered 201 only after this long (a client timeout)


@dataclass(frozen=True, slots=True)
class Chaos:
    """Random faults for soak runs, as fractions of message creations: a 5xx for a message not
    created, a 5xx for one created all the same, a 429, and a creation answered only after
    `timeout_s` (longer than the client waits)."""

    server_error: float = 0.0
    created_error: float = 0.0
    too_many: float = 0.0
    timeout: float = 0.0
    timeout_s: float = 20.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    date_created: datetime
    # A template send (Content API): its sid and variables; Twilio renders the body itself.
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None

    def as_twilio(self) -> dict[str, Any]:
        """The Message resource as Twilio's API renders it."""
        date = format_datetime(self.date_created)
        uri = f"{API}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": date,
            "date_sent": None,
            "date_updated": date,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


class TwilioDoubleStore:
    """What the double has recorded, which credentials it accepts and which faults it injects.

    `accounts` maps account sid to auth token; None accepts any Basic auth whose user is the
    account sid of the path (`AC...`).
    """

    def __init__(
        self,
        accounts: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        chaos: Chaos | None = None,
    ) -> None:
        self.accounts = accounts
        self.chaos = chaos
        self._random = random.Random(chaos.seed if chaos else None)
        self.messages: list[RecordedMessage] = []
        self._clock = clock
        self._faults = 0
        self._fault = Fault(500, 20500)

    def fail_next(
        self,
        n: int,
        status: int = 500,
        retry_after: float | None = None,
        *,
        created: bool = False,
        code: int | None = None,
    ) -> None:
        """Answer the next `n` message creations with `status` (with `Retry-After` if given).

        `code` is the Twilio error code in the answer (default: 20429 for 429, 20500 for 500,
        else the status; 21610 is "the recipient texted STOP"). `created=True` (5xx only)
        records each of those messages as sent all the same before answering the error.
        """
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        if created and status < 500:
            raise ValueError("only a 5xx can come back for a message that was created")
        if code is None:
            code = {429: 20429, 500: 20500}.get(status, status)
        self._faults, self._fault = n, Fault(status, code, retry_after, created)

    def take_fault(self) -> Fault | None:
        """The fault for this creation, if one is still pending (it is used up)."""
        if self._faults <= 0:
            return self._chaos()
        self._faults -= 1
        return self._fault

    def _chaos(self) -> Fault | None:
        c = self.chaos
        if c is None:
            return None
        roll = self._random.random()
        for share, fault in (
            (c.server_error, Fault(500, 20500)),
            (c.created_error, Fault(500, 20500, created=True)),
            (c.too_many, Fault(429, 20429, retry_after=0.2)),
            (c.timeout, Fault(201, 0, created=True, delay_s=c.timeout_s)),
        ):
            if roll < share:
                return fault
            roll -= share
        return None

    def record(
        self,
        account_sid: str,
        to: str,
        from_: str,
        body: str,
        callback: str | None,
        content_sid: str | None = None,
        content_variables: dict[str, str] | None = None,
    ) -> RecordedMessage:
        message = RecordedMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=account_sid,
            to=to,
            from_=from_,
            body=body,
            status_callback=callback,
            date_created=self._clock().astimezone(UTC).replace(microsecond=0),
            content_sid=content_sid,
            content_variables=content_variables,
        )
        self.messages.append(message)
        return message

    def newest_first(self, account_sid: str) -> list[RecordedMessage]:
        mine = [m for m in reversed(self.messages) if m.account_sid == account_sid]
        return sorted(mine, key=lambda m: m.date_created, reverse=True)  # stable: ties stay


def twilio_double_blueprint(
    store: TwilioDoubleStore, url_prefix: str = "/sandbox/twilio"
) -> Blueprint:
    """The double's routes: Twilio's Messages API under `url_prefix` plus `GET /messages`."""
    bp = Blueprint("twilio_double", __name__, url_prefix=url_prefix)
    messages_path = f"{API}/Accounts/<account_sid>/Messages.json"

    @bp.post(messages_path)
    async def create_message(account_sid: str) -> _Answer:
        if not _authorized(store, account_sid):
            return _error(401, 20003, "Authenticate")
        fault = store.take_fault()
        if fault is not None and not fault.created:
            return _fault_answer(fault)
        form = await request.form
        to, from_, body = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        content_sid = form.get("ContentSid")
        variables: dict[str, str] | None = None
        if content_sid is not None:  # a template: Twilio renders its body
            if not _CONTENT_SID.match(content_sid):
                return _error(400, 21655, "The ContentSid is Invalid")
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                variables = None
            if not isinstance(variables, dict) or not all(
                isinstance(v, str) for v in variables.values()
            ):
                return _error(400, 21656, "The ContentVariables Parameter is invalid")
            body = body or ""
        elif not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return _error(400, 21617, _TOO_LONG)
        message = store.record(
            account_sid, to, from_, body, form.get("StatusCallback"), content_sid, variables
        )
        if fault is not None and fault.delay_s:  # created; the answer comes too late
            await asyncio.sleep(fault.delay_s)
        elif fault is not None:  # created, and yet the answer is an error
            return _fault_answer(fault)
        return message.as_twilio(), 201

    @bp.get(messages_path)
    async def list_messages(account_sid: str) -> _Answer:
        if not _authorized(store, account_sid):
            return _error(401, 20003, "Authenticate")
        to, from_ = request.args.get("To"), request.args.get("From")
        try:
            size = min(max(int(request.args.get("PageSize", "50")), 1), 1000)
            page = max(int(request.args.get("Page", "0")), 0)
        except ValueError:
            return _error(400, 20001, "Invalid paging parameter")
        found = [
            m
            for m in store.newest_first(account_sid)
            if (not to or m.to == to) and (not from_ or m.from_ == from_)
        ]
        chunk = found[page * size : (page + 1) * size]
        filters = [(k, v) for k, v in (("To", to), ("From", from_)) if v]

        def uri(p: int) -> str:
            query = urlencode([*filters, ("PageSize", size), ("Page", p)])
            return f"{API}/Accounts/{account_sid}/Messages.json?{query}"

        more = len(found) > (page + 1) * size
        return {
            "messages": [m.as_twilio() for m in chunk],
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0),
            "uri": uri(page),
            "first_page_uri": uri(0),
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "next_page_uri": uri(page + 1) if more else None,
        }, 200

    @bp.get(f"{API}/Accounts/<account_sid>/Messages/<message_sid>.json")
    async def fetch_message(account_sid: str, message_sid: str) -> _Answer:
        if not _authorized(store, account_sid):
            return _error(401, 20003, "Authenticate")
        for m in store.messages:
            if m.sid == message_sid and m.account_sid == account_sid:
                return m.as_twilio(), 200
        return _error(404, 20404, f"The requested resource {request.path} was not found")

    @bp.get("/messages")
    async def recorded() -> _Answer:
        items = [
            {
                **m.as_twilio(),
                "status_callback": m.status_callback,
                "content_sid": m.content_sid,
                "content_variables": m.content_variables,
            }
            for m in store.messages
        ]
        return {"count": len(items), "messages": items}, 200

    return bp


def create_twilio_double_app(
    store: TwilioDoubleStore, url_prefix: str = "/sandbox/twilio"
) -> Quart:
    app = Quart(__name__)
    app.register_blueprint(twilio_double_blueprint(store, url_prefix))
    return app


async def run_twilio_double(
    host: str,
    port: int,
    store: TwilioDoubleStore,
    *,
    url_prefix: str = "/sandbox/twilio",
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Serve the double alone on Hypercorn until `shutdown_trigger` returns."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    app = create_twilio_double_app(store, url_prefix)
    await serve(app, config, shutdown_trigger=shutdown_trigger)


def _authorized(store: TwilioDoubleStore, account_sid: str) -> bool:
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username != account_sid:
        return False
    if store.accounts is None:
        return account_sid.startswith("AC")
    expected = store.accounts.get(account_sid)
    return expected is not None and hmac.compare_digest(expected, auth.password or "")


def _fault_answer(fault: Fault) -> _Answer:
    headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    return (*_error(fault.status, fault.code, "Injected fault"), headers)


def _error(status: int, code: int, message: str) -> tuple[dict[str, Any], int]:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}, status


def _segments(body: str) -> int:
    """SMS segments: GSM-7-ish text splits at 153 characters, anything else at 67 (UCS-2)."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)
