"""Where a webhook may be sent, and the sending: a tenant admin types a URL that our
servers then POST to from inside the deployment (SSRF).

A URL must be https (plain http only where an operator allows it, for development
and tests), carry no user name or password, and its host must resolve to public
addresses only (``providers/net_guard.py``, unless an operator allows private ones).
It is checked when saved and again at every attempt, and the attempt connects to the
address that check resolved (the TLS name and ``Host`` header stay the URL's), so a
DNS answer that changes in between (rebinding) cannot reach inside. Redirects are
not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.webhooks import AttemptResult
from inboxhub.providers.base import ProviderConfigError
from inboxhub.providers.net_guard import resolve_allowed

EXCERPT_BYTES = 1000  # of the receiver's answer, kept in the log


class WebhookUrlRefused(InvalidInput):
    """The URL may not receive webhooks."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool
    allow_private: bool


def check_form(url: str, policy: UrlPolicy) -> SplitResult:
    """The URL's parts, if its form is acceptable."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise WebhookUrlRefused(f"{url!r} is not a URL") from exc
    if parts.scheme != "https" and not (parts.scheme == "http" and policy.allow_http):
        raise WebhookUrlRefused(f"{url!r} is not an https URL")
    if not parts.hostname:
        raise WebhookUrlRefused(f"{url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("a webhook URL may not carry credentials: verify the signature")
    if parts.fragment:
        raise WebhookUrlRefused("a webhook URL has no #fragment")
    return parts


async def resolve(url: str, policy: UrlPolicy) -> tuple[SplitResult, list[str]]:
    """The URL's parts and the addresses to connect to; ``WebhookUrlRefused`` if the
    URL is not acceptable or its host does not resolve to allowed addresses."""
    parts = check_form(url, policy)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve_allowed(parts.hostname, port, policy.allow_private)
    except ProviderConfigError as exc:  # (its advice names the mail hosts' setting)
        why = str(exc).replace("ALLOW_PRIVATE_MAIL_HOSTS", "WEBHOOK_ALLOW_PRIVATE_HOSTS")
        raise WebhookUrlRefused(why) from exc
    return parts, addresses


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: UrlPolicy,
) -> AttemptResult:
    """One attempt; never raises for the receiver's or the network's failures."""
    started = time.monotonic()

    def result(status: int | None, error: str | None, excerpt: str | None) -> AttemptResult:
        elapsed = int((time.monotonic() - started) * 1000)
        return AttemptResult(status, error, excerpt, elapsed)

    try:
        parts, addresses = await resolve(url, policy)
    except WebhookUrlRefused as exc:
        return result(None, f"refused: {exc.detail}", None)
    assert parts.hostname is not None
    request_headers = {**headers, "Host": parts.netloc}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        for n, address in enumerate(addresses):  # the next one if nothing listens there
            pinned = httpx.URL(url).copy_with(host=address)
            try:
                async with client.stream(
                    "POST", pinned, content=body, headers=request_headers, extensions=extensions
                ) as response:
                    excerpt = await _excerpt(response)
                break
            except httpx.ConnectError:
                if n + 1 == len(addresses):
                    raise
    except httpx.TimeoutException:
        return result(None, "timed out", None)
    except httpx.HTTPError as exc:
        return result(None, f"{type(exc).__name__}: {exc}"[:1000], None)
    error = None
    if response.is_redirect:
        error = f"redirect to {response.headers.get('location', '?')!r} not followed"
    elif not response.is_success:
        error = f"HTTP {response.status_code}"
    return result(response.status_code, error, excerpt)


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer (read no further: a receiver may send a lot)."""
    got = b""
    async for chunk in response.aiter_bytes():
        got += chunk
        if len(got) >= EXCERPT_BYTES:
            break
    return got[:EXCERPT_BYTES].decode("utf-8", errors="replace")
