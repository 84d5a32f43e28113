"""OAuth 2.0 for the mailbox providers (RFC 6749, PKCE RFC 7636): the consent URL,
the code exchange, and access tokens that refresh themselves before they expire.

Google and Microsoft speak the same token endpoint protocol; only their URLs and
scopes differ (``OAuthEndpoints``). A refresh that the provider answers with
``invalid_grant`` means the user revoked consent or the grant expired: that is a
``ProviderAuthError`` (an admin must reconnect), not something to retry.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel

from inboxhub.providers.base import ProviderAuthError, ProviderError
from inboxhub.providers.retry_after import retry_after_seconds

REFRESH_MARGIN_SECONDS = 120.0  # refresh this long before the token expires


@dataclass(frozen=True)
class OAuthEndpoints:
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    extra_authorize_params: tuple[tuple[str, str], ...] = ()


class OAuthToken(BaseModel):
    access_token: str
    refresh_token: str | None = None
    expires_at: float = 0.0  # unix time; 0 = unknown
    token_type: str = "Bearer"
    scope: str = ""

    def expiring(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return bool(self.expires_at) and now >= self.expires_at - REFRESH_MARGIN_SECONDS


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(ep: OAuthEndpoints, redirect_uri: str, state: str, challenge: str) -> str:
    params = {
        "response_type": "code",
        "client_id": ep.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(ep.scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **dict(ep.extra_authorize_params),
    }
    return f"{ep.authorize_url}?{urlencode(params)}"


async def _token_request(
    http: httpx.AsyncClient, ep: OAuthEndpoints, form: dict[str, str], previous: str | None
) -> OAuthToken:
    form = {**form, "client_id": ep.client_id}
    if ep.client_secret:
        form["client_secret"] = ep.client_secret
    try:
        response = await http.post(ep.token_url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderError(f"token endpoint unreachable: {exc}") from exc
    body: dict[str, Any] = {}
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderError(
            f"token endpoint answered {response.status_code}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if response.status_code != 200:
        error = body.get("error", f"HTTP {response.status_code}")
        detail = body.get("error_description", "")
        if error in ("invalid_grant", "invalid_client", "unauthorized_client"):
            raise ProviderAuthError(
                f"the provider refused the grant ({error}): reconnect the mailbox. {detail}".strip()
            )
        raise ProviderError(f"token request failed: {error} {detail}".strip())
    expires_in = body.get("expires_in")
    return OAuthToken(
        access_token=body["access_token"],
        # Google omits refresh_token on refresh: the old one stays valid.
        refresh_token=body.get("refresh_token") or previous,
        expires_at=time.time() + float(expires_in) if expires_in else 0.0,
        token_type=body.get("token_type", "Bearer"),
        scope=body.get("scope", ""),
    )


async def exchange_code(
    http: httpx.AsyncClient, ep: OAuthEndpoints, code: str, redirect_uri: str, verifier: str
) -> OAuthToken:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return await _token_request(http, ep, form, None)


async def client_credentials(http: httpx.AsyncClient, ep: OAuthEndpoints) -> OAuthToken:
    """An app-only token (Microsoft application permissions)."""
    form = {"grant_type": "client_credentials", "scope": " ".join(ep.scopes)}
    return await _token_request(http, ep, form, None)


class TokenManager:
    """The current access token of one mailbox, refreshed when it is about to expire
    (or when the provider said 401) and saved through ``save``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        ep: OAuthEndpoints,
        token: OAuthToken,
        save: Callable[[OAuthToken], Awaitable[None]],
        app_only: bool = False,
    ) -> None:
        self._http, self._ep, self.token, self._save = http, ep, token, save
        self._app_only = app_only

    async def access_token(self) -> str:
        if self.token.expiring():
            await self.refresh()
        return self.token.access_token

    async def refresh(self) -> str:
        if self._app_only:
            self.token = await client_credentials(self._http, self._ep)
        elif not self.token.refresh_token:
            raise ProviderAuthError("the access token expired and there is no refresh token")
        else:
            form = {"grant_type": "refresh_token", "refresh_token": self.token.refresh_token}
            self.token = await _token_request(self._http, self._ep, form, self.token.refresh_token)
        await self._save(self.token)
        return self.token.access_token
