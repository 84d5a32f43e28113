"""A small Gmail API v1 client: bearer tokens that refresh on 401, Google's error
bodies mapped to ``ProviderError``s, and bounded exponential backoff on throttling.

Google asks clients to back off exponentially on 429, 5xx and on 403s whose reason is
``rateLimitExceeded``/``userRateLimitExceeded`` ("Resolve errors" in the Gmail API
guides), honouring ``Retry-After`` when sent. We retry a bounded number of times within
one sync, then give up with a retryable ``ProviderError`` carrying ``retry_after`` so
the engine reschedules the mailbox instead of holding its lease.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from inboxhub.providers.base import (
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
)
from inboxhub.providers.oauth import TokenManager
from inboxhub.providers.retry_after import retry_after_seconds

THROTTLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


class GmailNotFound(ProviderError):
    """HTTP 404: the message is gone, or (history.list) the startHistoryId is too old."""


class GmailBadRequest(ProviderConfigError):
    """HTTP 400 (``invalidArgument``, ``failedPrecondition``): Google refuses the
    request as it is; sending it again will not help."""


@dataclass
class Backoff:
    """How long to wait between attempts. ``sleep`` is replaceable so tests do not wait."""

    attempts: int = 6
    base: float = 1.0
    max_wait: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential with "equal jitter", never less than the server's Retry-After."""
        ceiling = min(self.max_wait, self.base * 2**attempt)
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_wait)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(reason, message) from Google's ``{"error": {"code", "message", "errors",
    "status"}}`` body; falls back to the HTTP status when the body is something else."""
    try:
        body = response.json()
    except ValueError:
        return "", f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", f"HTTP {response.status_code}"
    errors = error.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    reason = str(first.get("reason") or error.get("status") or "")
    return reason, str(error.get("message") or f"HTTP {response.status_code}")


def _is_throttle(status: int, reason: str) -> bool:
    return status == 429 or status >= 500 or (status == 403 and reason in THROTTLE_REASONS)


class GmailApi:
    """Calls under ``{base_url}/gmail/v1/users/me`` with the mailbox's OAuth token."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, tokens: TokenManager, backoff: Backoff
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/gmail/v1/users/me"
        self._tokens = tokens
        self.backoff = backoff
        self._token_lock = asyncio.Lock()

    async def _access_token(self) -> str:
        async with self._token_lock:  # one refresh at a time, even with many fetches
            return await self._tokens.access_token()

    async def _refresh(self, rejected: str) -> None:
        async with self._token_lock:
            if self._tokens.token.access_token == rejected:  # nobody refreshed it yet
                await self._tokens.refresh()

    async def _wait(self, attempt: int, retry_after: float | None, why: str) -> None:
        """Sleep before the next attempt, or give up with a retryable error."""
        if attempt + 1 >= self.backoff.attempts or (
            retry_after is not None and retry_after > self.backoff.max_wait
        ):
            raise ProviderError(f"Gmail API: {why}; giving up for now", retry_after=retry_after)
        await self.backoff.sleep(self.backoff.delay(attempt, retry_after))

    async def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = self._base + path
        refreshed = False
        attempt = 0
        while True:
            token = await self._access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, headers=headers
                )
            except httpx.TransportError as exc:
                await self._wait(attempt, None, f"unreachable ({exc.__class__.__name__})")
                attempt += 1
                continue
            status = response.status_code
            if 200 <= status < 300:
                return response.json() if response.content else {}
            reason, message = _error_of(response)
            if status == 401:
                if refreshed:
                    raise ProviderAuthError(
                        "Google rejected a freshly refreshed access token: reconnect the mailbox"
                    )
                await self._refresh(token)
                refreshed = True
                continue
            if _is_throttle(status, reason):
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                await self._wait(attempt, retry_after, f"{status} {reason or message}")
                attempt += 1
                continue
            raise self._failure(status, reason, message)

    @staticmethod
    def _failure(status: int, reason: str, message: str) -> ProviderError:
        text = f"Gmail API {status} {reason}: {message}".replace(" :", ":")
        if status == 404:
            return GmailNotFound(text)
        if status == 400 and reason in ("failedPrecondition", "invalidArgument"):
            return GmailBadRequest(text)
        if status == 403 and reason in SCOPE_REASONS:
            return ProviderAuthError(f"{text} (the grant lacks the gmail.modify scope: reconnect)")
        if status == 403 or (status == 400 and reason in ("failedPrecondition", "invalidArgument")):
            return ProviderConfigError(text)
        return ProviderError(text)

    # --- the endpoints we use ------------------------------------------------------

    async def profile(self) -> dict[str, Any]:
        return await self.request("GET", "/profile")

    async def labels(self) -> list[dict[str, Any]]:
        body = await self.request("GET", "/labels")
        return list(body.get("labels", []))

    async def list_messages(
        self, page_token: str | None, label_id: str | None, page_size: int
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "maxResults": page_size,
            "includeSpamTrash": "true" if label_id in ("SPAM", "TRASH") else "false",
        }
        if label_id:
            params["labelIds"] = label_id
        if page_token:
            params["pageToken"] = page_token
        return await self.request("GET", "/messages", params=params)

    async def get_message(self, message_id: str, fmt: str) -> dict[str, Any] | None:
        """The message, or None when it no longer exists."""
        try:
            return await self.request("GET", f"/messages/{message_id}", params={"format": fmt})
        except GmailNotFound:
            return None

    async def history(
        self, start_history_id: str, page_token: str | None, types: tuple[str, ...], page_size: int
    ) -> dict[str, Any]:
        """One page of history; raises ``GmailNotFound`` when the start is too old."""
        params: dict[str, Any] = {
            "startHistoryId": start_history_id,
            "historyTypes": list(types),
            "maxResults": page_size,
        }
        if page_token:
            params["pageToken"] = page_token
        return await self.request("GET", "/history", params=params)

    async def modify(self, message_id: str, add: list[str], remove: list[str]) -> None:
        body = {"addLabelIds": add, "removeLabelIds": remove}
        await self.request("POST", f"/messages/{quote(message_id, safe='')}/modify", json=body)

    async def trash(self, message_id: str) -> None:
        await self.request("POST", f"/messages/{quote(message_id, safe='')}/trash")

    async def untrash(self, message_id: str) -> None:
        await self.request("POST", f"/messages/{quote(message_id, safe='')}/untrash")

    async def delete(self, message_id: str) -> None:
        """For good (needs the https://mail.google.com/ scope)."""
        await self.request("DELETE", f"/messages/{quote(message_id, safe='')}")

    async def watch(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", "/watch", json=body)

    async def stop(self) -> None:
        await self.request("POST", "/stop")
