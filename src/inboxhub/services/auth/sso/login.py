"""Sign-in through a tenant's identity provider, from the first redirect to the
tokens: the browser comes back to ``<public_url>/#sso_code=<code>``, and the web app
trades that one-time code (60 s, stored hashed) for an inboxhub token pair."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from inboxhub.adapters.db import PLATFORM
from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import Forbidden, NotFound, Unauthorized
from inboxhub.domain.models import SsoConfig, Tenant
from inboxhub.ports import SsoStore
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.sso import urls
from inboxhub.services.auth.sso.accounts import SsoAccounts
from inboxhub.services.auth.sso.config import JitSettings, OidcSettings, SamlSettings
from inboxhub.services.auth.sso.oidc import Identity, OidcLogin
from inboxhub.services.auth.sso.saml import SamlLogin, Sp
from inboxhub.services.auth.sso.saml_sp import (
    SpKeys,
    load_sp_keys,
    require_xmlsec,
    sp_config,
    sp_metadata,
)
from inboxhub.services.auth.sso.tickets import CODE, CODE_SECONDS, Tickets, new_handle


@dataclass
class SsoLogin:
    auth: AuthService
    store: SsoStore
    box: SecretBox
    accounts: SsoAccounts
    tickets: Tickets
    oidc: OidcLogin
    saml: SamlLogin
    public_url: str
    _keys: SpKeys | None = None
    _keys_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _tenant(self, slug: str) -> Tenant:
        tenant = await self.auth.directory.get_tenant_by_slug(slug)
        if tenant is None:
            raise NotFound("no such tenant")
        if tenant.status != "active":
            raise Forbidden("the tenant is suspended")
        return tenant

    async def _config(self, tenant: Tenant, protocol: str) -> SsoConfig:
        found = await self.store.get_config(tenant.id, protocol)
        if found is None:
            raise NotFound(f"the tenant has no {protocol.upper()} sign-on")
        return found

    async def _sp(self, slug: str) -> Sp:
        require_xmlsec()  # 503 saying so, before anything else
        async with self._keys_lock:
            if self._keys is None:
                self._keys = await load_sp_keys(self.auth.directory, self.box)
        return Sp(
            urls.saml_metadata(self.public_url, slug),
            urls.saml_acs(self.public_url, slug),
            self._keys,
        )

    # ------------------------------------------------------------ OIDC

    async def oidc_start(self, slug: str) -> str:
        tenant = await self._tenant(slug)
        config = OidcSettings.model_validate((await self._config(tenant, "oidc")).settings)
        return await self.oidc.start(tenant.id, config, urls.oidc_callback(self.public_url, slug))

    async def oidc_finish(self, slug: str, query: dict[str, str], ip: str | None) -> str:
        tenant = await self._tenant(slug)
        stored = await self._config(tenant, "oidc")
        config = OidcSettings.model_validate(stored.settings)
        assert stored.secret is not None
        secret = self.box.decrypt(stored.secret).decode()
        callback = urls.oidc_callback(self.public_url, slug)
        return await self._deliver(
            tenant, "oidc", config, self.oidc.finish(tenant.id, config, secret, callback, query), ip
        )

    # ------------------------------------------------------------ SAML

    async def saml_metadata(self, slug: str) -> bytes:
        tenant = await self.auth.directory.get_tenant_by_slug(slug)
        if tenant is None:
            raise NotFound("no such tenant")
        sp = await self._sp(slug)
        config = sp_config(sp.entity_id, sp.acs_url, sp.keys, None)
        return await asyncio.to_thread(sp_metadata, config)

    async def saml_start(self, slug: str) -> str:
        tenant = await self._tenant(slug)
        config = SamlSettings.model_validate((await self._config(tenant, "saml")).settings)
        return await self.saml.start(tenant.id, await self._sp(slug), config)

    async def saml_finish(self, slug: str, saml_response: str, ip: str | None) -> str:
        tenant = await self._tenant(slug)
        config = SamlSettings.model_validate((await self._config(tenant, "saml")).settings)
        sp = await self._sp(slug)
        identity = self.saml.finish(tenant.id, sp, config, saml_response)
        return await self._deliver(tenant, "saml", config, identity, ip)

    # ------------------------------------------------------------ both

    async def _deliver(
        self, tenant: Tenant, protocol: str, policy: JitSettings, identity: Any, ip: str | None
    ) -> str:
        """Await the identity, find or create the account, and hand out a code."""
        try:
            who: Identity = await identity
            user = await self.accounts.account_for(tenant.id, who.email, policy)
        except (Unauthorized, Forbidden) as exc:
            await self._audit(tenant.id, None, "auth.login_failed", ip, protocol, exc.detail)
            raise
        code = new_handle()
        await self.tickets.put(
            tenant.id, CODE, code, {"user_id": user.id, "protocol": protocol}, CODE_SECONDS
        )
        return urls.delivery(self.public_url, code)

    async def exchange(self, code: str, ip: str | None) -> dict[str, object]:
        taken = await self.tickets.take(PLATFORM, CODE, code)
        if taken is None:
            raise Unauthorized("unknown, used or expired sign-in code")
        tenant_id, data = taken
        user = await self.auth.directory.get_user(tenant_id, data["user_id"])
        if user is None or user.status != "active":
            raise Unauthorized("the account is gone")
        await self._audit(tenant_id, user.id, "auth.login", ip, data["protocol"])
        return await self.auth.tokens_for(user)

    async def _audit(
        self,
        tenant_id: str,
        actor: str | None,
        action: str,
        ip: str | None,
        protocol: str,
        reason: str | None = None,
    ) -> None:
        if self.auth.audit is None:
            return
        detail: dict[str, Any] = {"method": "sso", "protocol": protocol}
        if reason:
            detail["reason"] = reason
        await self.auth.audit.record(tenant_id, actor, action, None, ip, **detail)
