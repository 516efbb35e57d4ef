"""The twilio SDK's async HTTP client on one shared httpx.AsyncClient, with a movable API base."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from adapters import lean_http

DEFAULT_API_BASE_URL = "https://api.twilio.com"
_TWILIO_API_HOST = "api.twilio.com"

_logger = logging.getLogger(__name__)


class HttpxTwilioHttpClient(AsyncHttpClient):  # type: ignore[misc]
    """Serves every request of the twilio SDK with one `httpx.AsyncClient`.

    Requests to `https://api.twilio.com` go to `api_base_url` instead (path and query kept), so
    a regional edge or a test double can stand in. Network errors propagate as httpx
    exceptions. Nothing is logged but the method, the path and the status: no headers, no
    query, no body.
    """

    def __init__(
        self,
        api_base_url: str = DEFAULT_API_BASE_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float | None = None,
        logger: logging.Logger = _logger,
    ) -> None:
        super().__init__(logger, True, timeout)
        base = urlsplit(api_base_url)
        if base.scheme not in ("http", "https") or not base.netloc or base.query:
            raise ValueError("api_base_url must be an http(s) URL without a query")
        self._base = base
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))

    def rebase(self, url: str) -> str:
        """`url` moved onto the configured API base when it points at api.twilio.com."""
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname != _TWILIO_API_HOST:
            return url
        if parts.port not in (None, 443):
            return url
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's interface
        allow_redirects: bool = False,
    ) -> Response:
        """Make the request the SDK asks for; returns the SDK's Response type."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        effective = timeout if timeout is not None else self.timeout
        target = self.rebase(url)
        if allow_redirects:  # the SDK never asks for it, and Twilio's REST API never redirects
            raise ValueError("redirects are not followed")
        if params:
            target = str(httpx.URL(target).copy_merge_params(params))  # type: ignore[arg-type]
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = lean_http.basic_auth(*auth)
        answer = await lean_http.send(
            self.client, method.upper(), target, data=data or None, headers=sent, timeout=effective
        )
        status = answer.status_code
        self.logger.debug("twilio %s %s -> %s", method.upper(), urlsplit(target).path, status)
        return Response(status, answer.text, answer.headers)

    async def aclose(self) -> None:
        """Close the httpx client if this object created it (a client passed in stays open)."""
        if self._owns_client:
            await self.client.aclose()
