"""Tenants as platform operators manage them: create (with a first admin), suspend,
resume, delete; and a tenant's own admins renaming it.

A slug names a tenant in logins (``tenant``) and is unique. Given, it must be valid
and free; derived from the name, it takes the first free ``name``, ``name-2``, ...
Operators may not suspend or delete the tenant they are signed in with: that would
lock every operator out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from inboxhub.domain.errors import Conflict, InvalidInput, NotFound
from inboxhub.domain.events import TENANT_CREATED, USER_CREATED, TenantCreated, UserCreated
from inboxhub.domain.models import Tenant, User
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth.passwords import PasswordHasher, check_password_policy
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants import gate
from inboxhub.services.tenants.admin_deps import announce
from inboxhub.services.tenants.bootstrap import ADMIN_ROLES
from inboxhub.services.tenants.erasure import Erasure

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SLUG_RULE = "a slug is 1-63 of a-z, 0-9 and '-', not starting or ending with '-'"
SLUG_TRIES = 50


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:63].rstrip("-")
    return slug or "tenant"


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidInput(SLUG_RULE)
    return slug


@dataclass
class TenantAdmin:
    c: Container
    hasher: PasswordHasher
    audit: AuditLog

    async def get(self, tenant_id: str) -> Tenant:
        tenant = await self.c.directory.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        return tenant

    async def _new_tenant(self, name: str, slug: str | None) -> Tenant:
        if slug is not None:
            return await self.c.directory.create_tenant(check_slug(slug), name)
        base = slugify(name)
        for n in range(1, SLUG_TRIES + 1):
            candidate = base if n == 1 else f"{base[: 63 - len(str(n)) - 1]}-{n}"
            try:
                return await self.c.directory.create_tenant(candidate, name)
            except Conflict:
                continue
        raise Conflict(f"no free slug like {base!r}: give one")

    async def create(
        self,
        operator: Principal,
        name: str,
        slug: str | None,
        admin_email: str,
        admin_password: str,
        ip: str | None,
    ) -> tuple[Tenant, User]:
        check_password_policy(admin_password, admin_email, self.c.settings.password_min_length)
        tenant = await self._new_tenant(name, slug)
        bus = self.c.bus
        created = TenantCreated(slug=tenant.slug, name=tenant.name)
        await bus.publish(TENANT_CREATED, [created.envelope(tenant.id, tenant.id)])
        admin = await self.c.directory.create_user(
            tenant.id, admin_email, self.hasher.hash(admin_password), list(ADMIN_ROLES)
        )
        event = UserCreated(user_id=admin.id, email=admin.email, roles=admin.roles)
        await bus.publish(USER_CREATED, [event.envelope(tenant.id, f"{tenant.id}:{admin.id}")])
        for where in (operator.tenant_id, tenant.id):
            await self.audit.record(
                where, operator.user_id, "tenant.create", tenant.id, ip, slug=tenant.slug
            )
        return tenant, admin

    def _not_own(self, operator: Principal, tenant_id: str, what: str) -> None:
        if operator.tenant_id == tenant_id:
            raise Conflict(f"operators may not {what} the tenant they are signed in with")

    async def set_status(
        self, operator: Principal, tenant_id: str, status: str, ip: str | None
    ) -> Tenant:
        await self.get(tenant_id)
        if status != "active":
            self._not_own(operator, tenant_id, "suspend")
        tenant = await self.c.tenancy.update_tenant(tenant_id, status=status)
        if tenant is None:
            raise NotFound("no such tenant")
        gate.forget(tenant_id)
        action, what = (
            ("tenant.resume", "tenant.resumed")
            if status == "active"
            else ("tenant.suspend", "tenant.suspended")
        )
        await announce(self.c.bus, tenant_id, what, tenant_id)
        for where in (operator.tenant_id, tenant_id):
            await self.audit.record(where, operator.user_id, action, tenant_id, ip)
        return tenant

    async def delete(self, operator: Principal, tenant_id: str, ip: str | None) -> None:
        tenant = await self.get(tenant_id)
        self._not_own(operator, tenant_id, "delete")
        await Erasure(self.c).erase_tenant(tenant_id, operator.user_id)
        gate.forget(tenant_id)
        await self.audit.record(
            operator.tenant_id, operator.user_id, "tenant.delete", tenant_id, ip, slug=tenant.slug
        )

    async def rename(self, admin: Principal, name: str, ip: str | None) -> Tenant:
        tenant = await self.c.tenancy.update_tenant(admin.tenant_id, name=name)
        if tenant is None:
            raise NotFound("no such tenant")
        await announce(self.c.bus, tenant.id, "tenant.renamed", tenant.id)
        await self.audit.record(tenant.id, admin.user_id, "tenant.rename", tenant.id, ip, name=name)
        return tenant
