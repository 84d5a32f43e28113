"""A tenant's users as its owners and admins manage them.

The rules, enforced here (the store keeps the last one under concurrency too):
roles come from owner/admin/member/auditor; only an owner grants or revokes the
owner role, or changes or deletes an owner; ``platform_admin`` is neither granted
nor taken away through this API; the tenant always keeps an active owner.
A suspended or deleted user's tokens are revoked at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.domain.errors import Forbidden, NotFound
from inboxhub.domain.events import USER_DELETED, UserDeleted
from inboxhub.domain.models import Invitation, User
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.passwords import check_password_policy
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants.admin_deps import announce
from inboxhub.services.tenants.bootstrap import PLATFORM_ADMIN
from inboxhub.services.tenants.erasure import Erasure
from inboxhub.services.tenants.invitations import OWNER, Invitations, announce_user, may_grant


@dataclass
class UserAdmin:
    c: Container
    auth: AuthService
    audit: AuditLog
    invitations: Invitations

    async def get(self, tenant_id: str, user_id: str) -> User:
        user = await self.c.directory.get_user(tenant_id, user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def create(
        self, admin: Principal, email: str, roles: list[str], password: str | None, ip: str | None
    ) -> User | Invitation:
        """The account at once with a password, else an invitation mailed to ``email``."""
        if password is None:
            return await self.invitations.invite(admin, email, roles, ip)
        may_grant(admin, roles)
        check_password_policy(password, email, self.c.settings.password_min_length)
        user = await self.c.directory.create_user(
            admin.tenant_id, email, self.auth.hasher.hash(password), roles
        )
        await announce_user(self.c, user)
        await self.audit.record(
            admin.tenant_id, admin.user_id, "user.create", user.id, ip, roles=roles
        )
        return user

    def _may_touch(self, admin: Principal, target: User) -> None:
        if OWNER in target.roles and OWNER not in admin.roles:
            raise Forbidden("only an owner may change or delete an owner")

    async def update(
        self,
        admin: Principal,
        user_id: str,
        roles: list[str] | None,
        status: str | None,
        ip: str | None,
    ) -> User:
        target = await self.get(admin.tenant_id, user_id)
        self._may_touch(admin, target)
        if roles is not None:
            if (OWNER in roles) != (OWNER in target.roles) and OWNER not in admin.roles:
                raise Forbidden("only an owner may grant or revoke the owner role")
            if PLATFORM_ADMIN in target.roles:  # not this API's to take away
                roles = [*roles, PLATFORM_ADMIN]
        user = await self.c.tenancy.update_user(
            admin.tenant_id, user_id, roles=roles, status=status
        )
        if user is None:
            raise NotFound("no such user")
        if user.status != "active" and target.status == "active":
            await self.auth.revoke_user(admin.tenant_id, user_id)
        await announce(self.c.bus, admin.tenant_id, "user.updated", user_id)
        await self.audit.record(
            admin.tenant_id,
            admin.user_id,
            "user.update",
            user_id,
            ip,
            **{k: v for k, v in (("roles", roles), ("status", status)) if v is not None},
        )
        return user

    async def delete(self, admin: Principal, user_id: str, ip: str | None) -> None:
        """Remove the account (never the tenant's last owner), then erase what is theirs."""
        target = await self.get(admin.tenant_id, user_id)
        self._may_touch(admin, target)
        if not await self.c.tenancy.delete_user(admin.tenant_id, user_id):
            raise NotFound("no such user")
        # Recorded before the erasure, which waits for the audit trail to settle and
        # then puts a pseudonym in place of the user's id here too.
        await self.audit.record(admin.tenant_id, admin.user_id, "user.delete", user_id, ip)
        await self.auth.revoke_user(admin.tenant_id, user_id)
        await Erasure(self.c).erase_user(
            admin.tenant_id, user_id, admin.user_id, emails=[target.email]
        )
        event = UserDeleted(user_id=user_id)
        await self.c.bus.publish(
            USER_DELETED, [event.envelope(admin.tenant_id, f"{admin.tenant_id}:{user_id}")]
        )
