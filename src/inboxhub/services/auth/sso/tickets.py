"""One-time handles of logins in flight, kept server side: the OIDC ``state`` (with
its nonce and PKCE verifier), the id of a SAML AuthnRequest, and the code that hands
the browser its tokens. Stored by sha256 of the handle, the payload sealed with the
platform key; each is taken once and lapses soon."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from inboxhub.crypto import SecretBox
from inboxhub.ports import SsoStore

OIDC_STATE = "oidc_state"
SAML_REQUEST = "saml_request"
CODE = "code"
LOGIN_SECONDS = 600  # time to sign in at the identity provider
CODE_SECONDS = 60  # time for the browser to exchange its code


def digest(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def new_handle() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Tickets:
    store: SsoStore
    box: SecretBox

    async def put(
        self, tenant_id: str, kind: str, handle: str, data: dict[str, Any], seconds: int
    ) -> None:
        sealed = self.box.encrypt(json.dumps(data).encode())
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        await self.store.put_ticket(tenant_id, kind, digest(handle), sealed, expires)

    async def take(self, scope: str, kind: str, handle: str) -> tuple[str, dict[str, Any]] | None:
        """(tenant_id, data) of the handle, once; None if unknown, used or lapsed."""
        if not handle or len(handle) > 512:
            return None
        found = await self.store.take_ticket(scope, kind, digest(handle))
        if found is None:
            return None
        tenant_id, sealed = found
        data: dict[str, Any] = json.loads(self.box.decrypt(sealed))
        return tenant_id, data
