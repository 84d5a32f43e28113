"""A small Microsoft Graph v1.0 HTTP client: bearer tokens, one refresh on 401, and
throttling handled as Microsoft documents it.

Throttling (https://learn.microsoft.com/graph/throttling): Graph answers 429 (and
sometimes 503/504) with a ``Retry-After`` header in seconds; the client must wait
that long before retrying. We ride out a bounded number of such answers inside one
call, then give up with a retryable ``ProviderError`` carrying ``retry_after`` so the
engine backs off. The sleep is injectable so tests never wait.

Error bodies look like ``{"error": {"code", "message", "innerError": {...}}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import httpx

from inboxhub.providers.base import ProviderAuthError, ProviderConfigError, ProviderError
from inboxhub.providers.oauth import TokenManager
from inboxhub.providers.retry_after import retry_after_seconds

THROTTLE_STATUSES = frozenset({429, 503, 504})
MAX_THROTTLE_RETRIES = 6  # waits inside one call before handing back to the engine
MAX_THROTTLE_WAIT = 120.0  # seconds; a longer Retry-After is the engine's to wait out
DEFAULT_BACKOFF = 2.0  # first wait when a throttling answer has no Retry-After

# Ids that survive moves between folders (https://learn.microsoft.com/graph/outlook-immutable-id).
PREFER_IMMUTABLE_ID = 'IdType="ImmutableId"'

Sleep = Callable[[float], Awaitable[None]]


class GraphRequestError(ProviderError):
    """Graph refused a request in a way retrying will not fix (a 4xx we do not handle)."""

    retryable = False

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def error_code(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of a Graph error body; empty strings when there is none."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return "", ""
    if not isinstance(error, dict):
        return str(error), ""
    return str(error.get("code", "")), str(error.get("message", ""))


class GraphClient:
    """Requests against ``base_url`` (the Graph v1.0 root) for one mailbox."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        tokens: TokenManager,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.http, self.tokens, self.sleep = http, tokens, sleep
        self.base_url = base_url.rstrip("/")
        self._refreshing = asyncio.Lock()  # concurrent 401s refresh the token once

    def url(self, path_or_link: str) -> str:
        """An absolute URL for a path, or a nextLink/deltaLink Graph handed us.

        Links are followed only when they point at our Graph root: the bearer token
        must never travel to another host."""
        if path_or_link.startswith(("http://", "https://")):
            if not path_or_link.startswith(self.base_url + "/"):
                raise ProviderError(f"Graph returned a link outside {self.base_url}")
            return path_or_link
        return f"{self.base_url}/{path_or_link.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        prefer: Collection[str] = (PREFER_IMMUTABLE_ID,),
        allow: Collection[int] = (),
    ) -> httpx.Response:
        """Send one request; returns 2xx answers and those whose status is in ``allow``.

        401 → refresh the token once and retry; throttling → wait and retry (bounded);
        anything else → the matching ``ProviderError``."""
        url = self.url(path)
        refreshed = False
        throttled = 0
        while True:
            token = await self.tokens.access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if prefer:
                headers["Prefer"] = ", ".join(prefer)
            try:
                response = await self.http.request(
                    method, url, params=params, json=json, headers=headers
                )
            except httpx.HTTPError as exc:
                raise ProviderError(f"Graph unreachable: {exc.__class__.__name__}: {exc}") from exc
            status = response.status_code
            if status < 300 or status in allow:
                return response
            if status == 401 and not refreshed:
                refreshed = True
                async with self._refreshing:
                    if self.tokens.token.access_token == token:  # nobody refreshed it yet
                        await self.tokens.refresh()
                continue
            if status in THROTTLE_STATUSES:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is None:
                    wait = DEFAULT_BACKOFF * 2**throttled
                if throttled < MAX_THROTTLE_RETRIES and wait <= MAX_THROTTLE_WAIT:
                    throttled += 1
                    await self.sleep(wait)
                    continue
                raise ProviderError(
                    f"Graph is throttling this mailbox (HTTP {status})", retry_after=wait
                )
            raise self._error(response)

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.request(method, path, **kwargs)
        body = response.json()
        if not isinstance(body, dict):
            raise ProviderError(f"Graph answered {method} {path} with a non-object")
        return body

    @staticmethod
    def _error(response: httpx.Response) -> ProviderError:
        status = response.status_code
        code, message = error_code(response)
        text = f"Graph answered HTTP {status} {code}: {message}".strip()
        if status == 401:
            return ProviderAuthError(f"{text} (reconnect the mailbox)")
        if status == 403:
            return ProviderAuthError(
                f"{text} (the app lacks the Mail.ReadWrite permission for this mailbox, or an "
                "application access policy excludes it)"
            )
        if status == 404 and code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI"):
            return ProviderConfigError(f"{text} (check the mailbox's user)")
        if status >= 500:
            return ProviderError(
                text, retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            )
        return GraphRequestError(text, status, code)
