"""Auth service: password login, EdDSA access tokens, rotating refresh tokens, JWKS."""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.domain.errors import InvalidInput, Unauthorized
from inboxhub.domain.models import User
from inboxhub.ports import Directory
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth.passwords import PasswordHasher
from inboxhub.services.auth.tokens import TokenService

FAILED = "wrong email or password"


@dataclass
class AuthService:
    directory: Directory
    tokens: TokenService
    hasher: PasswordHasher
    audit: AuditLog | None = None

    async def authenticate(self, email: str, password: str, tenant_slug: str | None) -> User:
        """The account these credentials open; the same error whatever was wrong."""
        accounts = await self.directory.find_users_by_email(email)
        if tenant_slug is not None:
            tenant = await self.directory.get_tenant_by_slug(tenant_slug)
            accounts = [(u, h) for u, h in accounts if tenant and u.tenant_id == tenant.id]
        if not accounts:
            self.hasher.verify(None, password)  # same cost as a real check
            raise Unauthorized(FAILED)
        opened = [
            (u, h) for u, h in accounts if u.status == "active" and self.hasher.verify(h, password)
        ]
        if not opened:
            raise Unauthorized(FAILED)
        if len(opened) > 1:
            raise InvalidInput("this email has accounts in several tenants: give `tenant`")
        user, password_hash = opened[0]
        if password_hash and self.hasher.needs_rehash(password_hash):
            await self.directory.set_password_hash(
                user.tenant_id, user.id, self.hasher.hash(password)
            )
        return user

    async def tokens_for(self, user: User, family: str | None = None) -> dict[str, object]:
        return {
            "access_token": self.tokens.issue_access(user),
            "refresh_token": await self.tokens.issue_refresh(user, family),
            "token_type": "bearer",
            "expires_in": self.tokens.access_ttl,
        }
