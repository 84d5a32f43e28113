"""Password reset by mail: a single-use link, valid for ``password_reset_ttl_seconds``.

Asking for a reset answers the same whether or not the address has an account (no
account enumeration): the work happens after the response, in the background. The
link carries a random token; only its sha256 is stored. At most
``password_resets_per_hour`` mails go to one address, so the form cannot be used to
flood someone's inbox; further requests are dropped silently.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import quote

import structlog

from inboxhub.domain.errors import InvalidInput, MailerError
from inboxhub.domain.models import User
from inboxhub.mime.system_mail import system_message
from inboxhub.ports import AccountStore, Directory, Mailer
from inboxhub.settings import Settings

log = structlog.get_logger(__name__)
RESET_PATH = "/reset-password"
INVALID = "the reset link is invalid, expired or used already: ask for a new one"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reset_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{RESET_PATH}?token={quote(token)}"


class PasswordResets:
    def __init__(
        self, directory: Directory, store: AccountStore, mailer: Mailer, settings: Settings
    ) -> None:
        self.directory, self.store, self.mailer, self.settings = directory, store, mailer, settings

    async def request(self, email: str, tenant_slug: str | None) -> list[User]:
        """Mail a reset link to each active account of ``email`` (in the tenant, if
        given); the accounts mailed. Never raises for an unknown address."""
        # Accounts without a password sign in through their tenant's single sign-on.
        found = await self.directory.find_users_by_email(email)
        accounts = [u for u, h in found if h is not None and u.status == "active"]
        if tenant_slug is not None:
            tenant = await self.directory.get_tenant_by_slug(tenant_slug)
            accounts = [u for u in accounts if tenant is not None and u.tenant_id == tenant.id]
        if not accounts or not await self._may_mail(email):
            return []
        sent = []
        for user in accounts:
            token = secrets.token_urlsafe(32)
            expires = datetime.now(UTC) + timedelta(
                seconds=self.settings.password_reset_ttl_seconds
            )
            await self.store.add_reset_token(user.tenant_id, user.id, token_hash(token), expires)
            try:
                await self.mailer.send(await self._message(user, token))
            except MailerError as exc:
                log.warning("auth.reset_mail_failed", tenant_id=user.tenant_id, error=str(exc))
                continue
            sent.append(user)
        return sent

    async def _may_mail(self, email: str) -> bool:
        subject = f"reset:{email.strip().lower()}"
        count = await self.store.add_failure("*", subject, timedelta(hours=1))
        return count <= self.settings.password_resets_per_hour

    async def _message(self, user: User, token: str) -> EmailMessage:
        tenant = await self.directory.get_tenant(user.tenant_id)
        minutes = self.settings.password_reset_ttl_seconds // 60
        text = (
            f"Someone asked to reset the password of {user.email}"
            f" at {tenant.name if tenant else 'inboxhub'}.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{reset_link(self.settings.public_url, token)}\n\n"
            "The link works once. If you did not ask for it, ignore this message:"
            " your password stays as it is.\n"
        )
        return system_message(
            self.settings.system_mail_from, user.email, "Reset your inboxhub password", text
        )

    async def holder(self, token: str) -> User:
        """The account an unused reset token is for (without using it)."""
        found = await self.store.find_reset_token(token_hash(token))
        user = await self.directory.get_user(*found) if found else None
        if user is None or user.status != "active":
            raise InvalidInput(INVALID)
        return user

    async def use(self, token: str) -> None:
        """Spend the token; ``InvalidInput`` if it was spent meanwhile."""
        if await self.store.use_reset_token(token_hash(token)) is None:
            raise InvalidInput(INVALID)
