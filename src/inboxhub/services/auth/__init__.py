"""Auth service: password login with lockout and an optional TOTP second factor,
password change and reset, EdDSA access tokens (revocable), rotating refresh tokens,
JWKS. What users see of it is in docs/auth.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inboxhub.domain.audit import FAILURE
from inboxhub.domain.errors import Forbidden, InvalidInput, TooManyRequests, Unauthorized
from inboxhub.domain.models import User
from inboxhub.ports import AccountStore, Directory, Mailer
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth.lockout import (
    Lockout,
    LockoutPolicy,
    Subject,
    account_subject,
    ip_subject,
)
from inboxhub.services.auth.passwords import PasswordHasher, check_password_policy
from inboxhub.services.auth.reset import PasswordResets
from inboxhub.services.auth.revocation import Revocations
from inboxhub.services.auth.tokens import AccessClaims, TokenService
from inboxhub.services.auth.totp import MfaTickets, TotpFactor
from inboxhub.services.tenants.gate import tenant_active
from inboxhub.settings import Settings

FAILED = "wrong email or password"
MFA_REQUIRED = "a second factor is required: POST the ticket and a code to /auth/login/totp"


@dataclass
class AuthService:
    directory: Directory
    tokens: TokenService
    hasher: PasswordHasher
    audit: AuditLog | None = None
    accounts: AccountStore = field(kw_only=True)
    mailer: Mailer = field(kw_only=True)
    settings: Settings = field(kw_only=True)

    def __post_init__(self) -> None:
        s = self.settings
        self.lockout = Lockout(self.accounts, LockoutPolicy.from_settings(s))
        self.revocations = Revocations(
            self.accounts, s.access_token_ttl_seconds, s.token_revocation_cache_seconds
        )
        self.totp = TotpFactor(self.accounts, self.tokens.box, s.totp_issuer)
        self.tickets = MfaTickets(self.tokens.box, s.mfa_ticket_ttl_seconds)
        self.resets = PasswordResets(self.directory, self.accounts, self.mailer, s)

    # ------------------------------------------------------------ sign-in

    async def authenticate(
        self, email: str, password: str, tenant_slug: str | None, ip: str | None = None
    ) -> User:
        """The account these credentials open; the same error whatever was wrong, and
        429 while the account or the address is locked out (even for the right
        password)."""
        accounts = await self._accounts(email, tenant_slug)
        subjects = [account_subject(u.tenant_id, email) for u, _ in accounts] or [
            account_subject("*", email)  # unknown addresses lock out the same way
        ]
        subjects.append(ip_subject(ip))
        try:
            await self.lockout.check(subjects)
        except TooManyRequests:
            self.hasher.verify(None, password)  # a refusal costs what a check costs
            await self._audit_failed([u for u, _ in accounts], ip, "locked")
            raise
        opened = [(u, h) for u, h in accounts if self.hasher.verify(h, password)]
        if not accounts:
            self.hasher.verify(None, password)  # same cost as a real check
        if not opened:
            await self.lockout.failed(subjects)
            await self._audit_failed([u for u, _ in accounts], ip, "password")
            raise Unauthorized(FAILED)
        if len(opened) > 1:
            raise InvalidInput("this email has accounts in several tenants: give `tenant`")
        user, password_hash = opened[0]
        if password_hash and self.hasher.needs_rehash(password_hash):
            await self.directory.set_password_hash(
                user.tenant_id, user.id, self.hasher.hash(password)
            )
        return user

    async def _accounts(self, email: str, tenant_slug: str | None) -> list[tuple[User, str]]:
        """Active accounts with a password, of active tenants, for this email."""
        found = await self.directory.find_users_by_email(email)
        if tenant_slug is not None:
            tenant = await self.directory.get_tenant_by_slug(tenant_slug)
            found = [(u, h) for u, h in found if tenant and u.tenant_id == tenant.id]
        return [
            (u, h)
            for u, h in found
            if h and u.status == "active" and await tenant_active(self.directory, u.tenant_id)
        ]

    async def login(
        self, email: str, password: str, tenant_slug: str | None, ip: str | None
    ) -> dict[str, object]:
        """Tokens for the password, or 401 ``mfa_required`` with a ticket for
        ``login_totp`` when the account has a second factor."""
        user = await self.authenticate(email, password, tenant_slug, ip)
        if await self.totp.enabled(user):
            # The count of failures stays until the code is right too: otherwise the
            # password, once known, would reset it between guesses of the code.
            ticket = self.tickets.issue(user)
            raise Unauthorized(MFA_REQUIRED, mfa_required=True, mfa_ticket=ticket)
        return await self._signed_in(user, ip, "password")

    async def login_totp(self, ticket: str, code: str, ip: str | None) -> dict[str, object]:
        user = await self.user(*self.tickets.open(ticket))
        subjects = self._subjects(user, ip)
        await self._check_lockout(user, subjects, ip)
        if not await self.totp.verify(user, code):
            await self.lockout.failed(subjects)
            await self._audit_failed([user], ip, "totp")
            raise Unauthorized("the code is wrong or was used already")
        return await self._signed_in(user, ip, "password+totp")

    async def _signed_in(self, user: User, ip: str | None, method: str) -> dict[str, object]:
        await self.lockout.succeeded(account_subject(user.tenant_id, user.email))
        await self._record(user, "auth.login", ip, method=method)
        return await self.tokens_for(user)

    async def tokens_for(self, user: User, family: str | None = None) -> dict[str, object]:
        return {
            "access_token": self.tokens.issue_access(user),
            "refresh_token": await self.tokens.issue_refresh(user, family),
            "token_type": "bearer",
            "expires_in": self.tokens.access_ttl,
        }

    # ------------------------------------------------------------ tokens

    async def check_token(self, claims: AccessClaims) -> None:
        """``Unauthorized`` for a revoked access token (``current_principal``'s hook)."""
        await self.revocations.check(claims)

    async def logout(
        self, refresh_token: str | None, access_token: str | None, ip: str | None = None
    ) -> None:
        if refresh_token:
            await self.tokens.revoke(refresh_token)
        if access_token:
            try:
                claims = await self.tokens.verify(access_token)
            except Unauthorized:
                return  # expired or forged: nothing to revoke
            await self.revocations.revoke_token(claims)
            if self.audit is not None:
                await self.audit.record(claims.tenant_id, claims.user_id, "auth.logout", None, ip)

    async def revoke_user(self, tenant_id: str, user_id: str) -> None:
        """Sign the user out everywhere: every refresh token, and every access token
        issued until now (the user is deleted or suspended)."""
        await self.revocations.revoke_user(tenant_id, user_id)

    # ------------------------------------------------------------ passwords

    async def change_password(
        self, tenant_id: str, user_id: str, current: str, new: str, ip: str | None
    ) -> dict[str, object]:
        """Set ``new`` if ``current`` is right; other sessions end, this one gets new
        tokens."""
        user = await self.user(tenant_id, user_id)
        await self._confirm_password(user, current, ip)
        if new == current:
            raise InvalidInput("the new password is the current one")
        await self._set_password(user, new)
        await self._record(user, "auth.password_changed", ip)
        return await self.tokens_for(user)

    async def request_reset(self, email: str, tenant_slug: str | None, ip: str | None) -> None:
        for user in await self.resets.request(email, tenant_slug):
            await self._record(user, "auth.password_reset_requested", ip)

    async def confirm_reset(self, token: str, new: str, ip: str | None) -> None:
        user = await self.resets.holder(token)
        check_password_policy(new, user.email, self.settings.password_min_length)
        await self.resets.use(token)
        await self._set_password(user, new)
        await self.lockout.succeeded(account_subject(user.tenant_id, user.email))
        await self._record(user, "auth.password_reset", ip)

    async def _set_password(self, user: User, new: str) -> None:
        check_password_policy(new, user.email, self.settings.password_min_length)
        await self.directory.set_password_hash(user.tenant_id, user.id, self.hasher.hash(new))
        await self.accounts.drop_reset_tokens(user.tenant_id, user.id)
        await self.revocations.revoke_user(user.tenant_id, user.id, this_second=False)

    async def _confirm_password(self, user: User, password: str, ip: str | None) -> None:
        """A signed-in user proving it is them; failures count toward the lockout."""
        subjects = self._subjects(user, ip)
        await self._check_lockout(user, subjects, ip)
        hashes = [h for u, h in await self.directory.find_users_by_email(user.email) if u == user]
        if not self.hasher.verify(hashes[0] if hashes else None, password):
            await self.lockout.failed(subjects)
            await self._audit_failed([user], ip, "password")
            raise Forbidden("the password is wrong")

    # ------------------------------------------------------------ second factor

    async def confirm_totp(
        self, tenant_id: str, user_id: str, code: str, ip: str | None
    ) -> list[str]:
        """Put the enrolled second factor in force; its recovery codes."""
        user = await self.user(tenant_id, user_id)
        codes = await self.totp.confirm(user, code)
        await self._record(user, "auth.totp_enabled", ip)
        return codes

    async def disable_totp(
        self, tenant_id: str, user_id: str, password: str | None, code: str | None, ip: str | None
    ) -> None:
        user = await self.user(tenant_id, user_id)
        if password:
            await self._confirm_password(user, password, ip)
        elif code:
            subjects = self._subjects(user, ip)
            await self._check_lockout(user, subjects, ip)
            if not await self.totp.verify(user, code):
                await self.lockout.failed(subjects)
                await self._audit_failed([user], ip, "totp")
                raise Forbidden("the code is wrong or was used already")
        else:
            raise InvalidInput("give the password or a code")
        await self.totp.disable(user)
        await self._record(user, "auth.totp_disabled", ip)

    # ------------------------------------------------------------ helpers

    async def user(self, tenant_id: str, user_id: str) -> User:
        user = await self.directory.get_user(tenant_id, user_id)
        if user is None or user.status != "active":
            raise Unauthorized("the account is gone")
        return user

    @staticmethod
    def _subjects(user: User, ip: str | None) -> list[Subject]:
        return [account_subject(user.tenant_id, user.email), ip_subject(ip)]

    async def _check_lockout(self, user: User, subjects: list[Subject], ip: str | None) -> None:
        try:
            await self.lockout.check(subjects)
        except TooManyRequests:
            await self._audit_failed([user], ip, "locked")
            raise

    async def _audit_failed(self, users: list[User], ip: str | None, reason: str) -> None:
        for user in users:
            await self._record(user, "auth.login_failed", ip, outcome=FAILURE, reason=reason)

    async def _record(self, user: User, action: str, ip: str | None, **detail: Any) -> None:
        if self.audit is not None:
            await self.audit.record(user.tenant_id, user.id, action, None, ip, **detail)
