"""Whose account a single sign-on opens.

The IdP speaks only for addresses in the tenant's *verified* domains: the tenant
showed it owns those domains. Otherwise a tenant admin who configures an IdP could
sign in as any account of the tenant, its owners included. Within them, an active
account with the email signs in; with just-in-time creation on, a new address gets
an account (the configured role). Anything else is refused. A platform operator's
account never signs in through a tenant's IdP (its admins run that IdP).
"""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.domain.errors import Conflict, Forbidden
from inboxhub.domain.events import USER_CREATED, UserCreated
from inboxhub.domain.models import User
from inboxhub.ports import Directory, EventBus, TenancyStore
from inboxhub.services.auth.sso.config import JitSettings
from inboxhub.services.tenants.bootstrap import PLATFORM_ADMIN


@dataclass
class SsoAccounts:
    directory: Directory
    tenancy: TenancyStore
    bus: EventBus

    async def account_for(self, tenant_id: str, email: str, policy: JitSettings) -> User:
        domain = email.rsplit("@", 1)[-1].lower()
        verified = {d.domain for d in await self.tenancy.list_domains(tenant_id) if d.verified}
        if domain not in verified:
            raise Forbidden(f"{domain} is not a verified domain of the tenant")
        user = await self._existing(tenant_id, email)
        if user is None:
            user = await self._create(tenant_id, email, policy)
        if user.status != "active":
            raise Forbidden("this account is not active")
        if PLATFORM_ADMIN in user.roles:
            raise Forbidden("platform operators sign in with their password")
        return user

    async def _existing(self, tenant_id: str, email: str) -> User | None:
        for user, _ in await self.directory.find_users_by_email(email):
            if user.tenant_id == tenant_id:
                return user
        return None

    async def _create(self, tenant_id: str, email: str, policy: JitSettings) -> User:
        if not policy.jit:
            raise Forbidden("no account for this email in the tenant, and no new ones by SSO")
        try:
            user = await self.directory.create_user(tenant_id, email, None, [policy.default_role])
        except Conflict:  # created by a sign-in at the same moment
            found = await self._existing(tenant_id, email)
            if found is None:
                raise
            return found
        event = UserCreated(user_id=user.id, email=user.email, roles=user.roles)
        await self.bus.publish(USER_CREATED, [event.envelope(tenant_id, f"{tenant_id}:{user.id}")])
        return user
