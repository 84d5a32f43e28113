"""Connecting a Gmail or Microsoft 365 mailbox through the provider's consent screen.

``start`` gives the admin's browser the provider's authorization URL (code flow
with PKCE). The provider sends the browser back to ``callback`` with a code; the
``state`` it carries is our own sealed, time-limited note of who asked for what
(tenant, admin, mailbox name, PKCE verifier), so nothing waits server-side and a
forged or stale callback is refused. The tokens are stored encrypted with the new
mailbox. A start from the web app names a same-origin ``return_to`` path (kept in
the sealed state): the callback then sends the browser there with ``?connected=<id>``
or ``?error=<why>`` rather than answering JSON.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.fernet import InvalidToken

from inboxhub.crypto import SecretDecryptionError
from inboxhub.domain.errors import InvalidInput, Unauthorized
from inboxhub.domain.models import Mailbox
from inboxhub.providers import oauth
from inboxhub.providers.base import ProviderError
from inboxhub.services.fetcher import registry
from inboxhub.services.tenants.mailbox_admin import MailboxAdmin

STATE_TTL_SECONDS = 600
# A path of this origin: one leading slash (not ``//host`` nor ``/\host``), no scheme.
RETURN_TO = re.compile(r"^/(?![/\\])[A-Za-z0-9/._~-]*$")


@dataclass
class OAuthConsent:
    admin: MailboxAdmin

    def _redirect_uri(self, provider: str) -> str:
        base = self.admin.c.settings.public_url.rstrip("/")
        return f"{base}/api/v1/mailboxes/oauth/{provider}/callback"

    def _endpoints(self, provider: str) -> oauth.OAuthEndpoints:
        if provider not in registry.OAUTH_PROVIDERS:
            raise InvalidInput(f"{provider!r} has no consent flow; one of gmail, graph")
        endpoints: oauth.OAuthEndpoints = registry.module(provider).oauth_endpoints(
            self.admin.c.settings
        )
        if not endpoints.client_id:
            raise InvalidInput(f"no OAuth client is configured for {provider} on this deployment")
        return endpoints

    def start(
        self,
        tenant_id: str,
        user_id: str,
        provider: str,
        name: str | None,
        return_to: str | None = None,
    ) -> str:
        endpoints = self._endpoints(provider)
        if return_to is not None and not RETURN_TO.match(return_to):
            raise InvalidInput("return_to must be a path of this site, like /admin/mailboxes")
        verifier, challenge = oauth.pkce_pair()
        note = {"t": tenant_id, "u": user_id, "p": provider, "n": name, "v": verifier}
        if return_to:
            note["r"] = return_to
        note["x"] = secrets.token_urlsafe(8)  # two starts never share a state
        state = self.admin.c.box.encrypt(json.dumps(note).encode()).decode()
        return oauth.authorization_url(endpoints, self._redirect_uri(provider), state, challenge)

    def read_state(self, provider: str, state: str) -> dict[str, Any]:
        """The note sealed into ``state`` by ``start``; 401 if forged, stale or not
        this provider's."""
        try:
            note: dict[str, Any] = json.loads(
                self.admin.c.box.decrypt(state.encode(), ttl=STATE_TTL_SECONDS)
            )
        except (SecretDecryptionError, InvalidToken, ValueError) as exc:
            raise Unauthorized("the consent state is invalid or expired: start again") from exc
        if note.get("p") != provider:
            raise Unauthorized("the consent state is for another provider")
        return note

    async def callback(self, provider: str, code: str, state: str) -> Mailbox:
        note = self.read_state(provider, state)
        endpoints = self._endpoints(provider)
        module = registry.module(provider)
        async with httpx.AsyncClient(timeout=30) as http:
            try:
                token = await oauth.exchange_code(
                    http, endpoints, code, self._redirect_uri(provider), note["v"]
                )
                address = await module.account_email(
                    http, self.admin.c.settings, token.access_token
                )
            except ProviderError as exc:
                raise InvalidInput(f"the provider refused the consent: {exc}") from exc
        settings: dict[str, Any] = {"token": token.model_dump()}
        if provider == "gmail":
            settings["email"] = address
        else:
            settings.update(user=address, auth="delegated")
        return await self.admin.create(
            note["t"], note["u"], note.get("n") or address, provider, settings
        )
