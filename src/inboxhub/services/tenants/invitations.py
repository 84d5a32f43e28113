"""Invitations: a tenant admin offers someone an account by mail; the link's token,
used once before it expires, lets them choose a password and signs them in.

The token is 256 random bits and only its sha256 is stored, so the table alone opens
nothing. Inviting the same address again replaces the pending invitation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from inboxhub.domain.errors import Conflict, Forbidden, MailerError, NotFound
from inboxhub.domain.events import USER_CREATED, UserCreated
from inboxhub.domain.models import Invitation, Tenant, User
from inboxhub.mime.system_mail import system_message
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.passwords import check_password_policy
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants import gate

OWNER = "owner"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_grant(actor: Principal, roles: list[str]) -> None:
    """Only an owner makes owners."""
    if OWNER in roles and OWNER not in actor.roles:
        raise Forbidden("only an owner may grant the owner role")


async def announce_user(c: Container, user: User) -> None:
    event = UserCreated(user_id=user.id, email=user.email, roles=user.roles)
    await c.bus.publish(
        USER_CREATED, [event.envelope(user.tenant_id, f"{user.tenant_id}:{user.id}")]
    )


@dataclass
class Invitations:
    c: Container
    auth: AuthService
    audit: AuditLog

    def _message(self, tenant: Tenant, invitation: Invitation, token: str) -> EmailMessage:
        s = self.c.settings
        link = f"{s.public_url.rstrip('/')}/accept-invitation?{urlencode({'token': token})}"
        text = (
            f"You have been invited to join {tenant.name} on inboxhub.\n\n"
            f"Accept the invitation and choose a password here:\n{link}\n\n"
            f'(or POST {{"token": "{token}", "password": ...}} to '
            f"/api/v1/invitations/accept)\n\n"
            f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
            "If you did not expect this, ignore this message.\n"
        )
        subject = f"You are invited to {tenant.name} on inboxhub"
        return system_message(s.system_mail_from, invitation.email, subject, text)

    async def invite(
        self, admin: Principal, email: str, roles: list[str], ip: str | None
    ) -> Invitation:
        may_grant(admin, roles)
        accounts = await self.c.directory.find_users_by_email(email)
        if any(u.tenant_id == admin.tenant_id for u, _ in accounts):
            raise Conflict(f"{email.strip().lower()} has an account in this tenant already")
        tenant = await self.c.directory.get_tenant(admin.tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        token = secrets.token_urlsafe(32)
        ttl = timedelta(hours=self.c.settings.invitation_ttl_hours)
        invitation = await self.c.tenancy.add_invitation(
            admin.tenant_id, email, roles, token_hash(token), admin.user_id, datetime.now(UTC) + ttl
        )
        try:
            await self.c.mailer.send(self._message(tenant, invitation, token))
        except MailerError:  # nobody got the link: no invitation either
            await self.c.tenancy.delete_invitation(admin.tenant_id, invitation.id)
            raise
        await self.audit.record(
            admin.tenant_id,
            admin.user_id,
            "invitation.create",
            invitation.id,
            ip,
            email=invitation.email,
            roles=roles,
        )
        return invitation

    async def revoke(self, admin: Principal, invitation_id: str, ip: str | None) -> None:
        if not await self.c.tenancy.delete_invitation(admin.tenant_id, invitation_id):
            raise NotFound("no such invitation")
        await self.audit.record(
            admin.tenant_id, admin.user_id, "invitation.revoke", invitation_id, ip
        )

    async def accept(self, token: str, password: str, ip: str | None) -> dict[str, Any]:
        """Create the invited account; its first tokens (the tenant must be active)."""
        check_password_policy(password, "", self.c.settings.password_min_length)
        user = await self.c.tenancy.accept_invitation(
            token_hash(token), self.auth.hasher.hash(password)
        )
        await announce_user(self.c, user)
        await self.audit.record(user.tenant_id, user.id, "invitation.accept", user.id, ip)
        await gate.require_active_tenant(self.c.directory, user.tenant_id)
        return await self.auth.tokens_for(user)
