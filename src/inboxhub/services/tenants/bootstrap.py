"""First start: the ``default`` tenant and its first admin.

The admin's password comes from ``INBOXHUB_ADMIN_PASSWORD``; if unset, one is
generated and printed once (it is stored only as an argon2id hash).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from inboxhub.domain.errors import Conflict
from inboxhub.domain.events import TENANT_CREATED, USER_CREATED, TenantCreated, UserCreated
from inboxhub.domain.models import Tenant
from inboxhub.ports import Directory, EventBus
from inboxhub.services.auth.passwords import PasswordHasher

ADMIN_ROLES = ("owner", "admin")
PLATFORM_ADMIN = "platform_admin"  # may create and manage tenants (the `run` bootstrap admin)


@dataclass
class Bootstrapped:
    tenant: Tenant
    admin_email: str
    generated_password: str | None  # set only when this call created the admin with it


async def ensure_tenant(directory: Directory, bus: EventBus, slug: str) -> Tenant:
    tenant = await directory.get_tenant_by_slug(slug)
    if tenant is not None:
        return tenant
    try:
        tenant = await directory.create_tenant(slug, slug.capitalize())
    except Conflict:  # another process created it first
        found = await directory.get_tenant_by_slug(slug)
        assert found is not None
        return found
    event = TenantCreated(slug=slug, name=tenant.name)
    await bus.publish(TENANT_CREATED, [event.envelope(tenant.id, tenant.id)])
    return tenant


async def bootstrap(
    directory: Directory,
    bus: EventBus,
    hasher: PasswordHasher,
    slug: str,
    admin_email: str,
    admin_password: str,
    roles: tuple[str, ...] = (*ADMIN_ROLES, PLATFORM_ADMIN),
) -> Bootstrapped:
    tenant = await ensure_tenant(directory, bus, slug)
    existing = [
        u for u, _ in await directory.find_users_by_email(admin_email) if u.tenant_id == tenant.id
    ]
    if existing:
        return Bootstrapped(tenant, admin_email, None)
    generated = None if admin_password else secrets.token_urlsafe(12)
    password = admin_password or generated
    assert password is not None
    try:
        user = await directory.create_user(
            tenant.id, admin_email, hasher.hash(password), list(roles)
        )
    except Conflict:
        return Bootstrapped(tenant, admin_email, None)
    event = UserCreated(user_id=user.id, email=user.email, roles=user.roles)
    await bus.publish(USER_CREATED, [event.envelope(tenant.id, f"{tenant.id}:{user.id}")])
    return Bootstrapped(tenant, admin_email, generated)
