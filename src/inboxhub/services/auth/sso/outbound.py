"""Requests to an identity provider a tenant admin named (discovery, JWKS, token
endpoint, SAML metadata): https only, and never into our own network (SSRF) unless
an operator allows private hosts (``allow_private_mail_hosts``; tests run their IdPs
on loopback over plain HTTP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from inboxhub.domain.errors import InvalidInput, Unavailable
from inboxhub.providers.base import ProviderConfigError
from inboxhub.providers.net_guard import resolve_allowed

TIMEOUT = 10.0
MAX_BYTES = 1 << 20  # a discovery document, a key set or metadata is far smaller


class OutboundRefused(InvalidInput):
    """The URL may not be fetched from here."""


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not https (plain http only with private hosts allowed) or
    that resolves into our network."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_private):
        raise OutboundRefused(f"{url!r} is not an https URL")
    if not parts.hostname:
        raise OutboundRefused(f"{url!r} names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await resolve_allowed(parts.hostname, port, allow_private)
    except ProviderConfigError as exc:
        raise OutboundRefused(str(exc)) from exc


async def get(url: str, allow_private: bool, *, admin: bool = False) -> bytes:
    """The body of ``url``. A failure is the admin's to fix when ``admin`` (422),
    else the identity provider is down (503)."""
    await check_url(url, allow_private)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return _fail(f"{url} could not be fetched: {exc.__class__.__name__}", admin)
    if response.status_code != 200:
        return _fail(f"{url} answered HTTP {response.status_code}", admin)
    if len(response.content) > MAX_BYTES:
        return _fail(f"{url} sent more than {MAX_BYTES} bytes", admin)
    return response.content


async def get_json(url: str, allow_private: bool, *, admin: bool = False) -> dict[str, Any]:
    body = await get(url, allow_private, admin=admin)
    try:
        document = httpx.Response(200, content=body).json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return _fail(f"{url} did not send a JSON object", admin)  # type: ignore[return-value]
    return document


def _fail(message: str, admin: bool) -> bytes:
    if admin:
        raise InvalidInput(message)
    raise Unavailable(f"the identity provider is unavailable: {message}")
