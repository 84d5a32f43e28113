"""The Auth service's local-account rows on SQLAlchemy (``ports.AccountStore``), beside
the directory's and under the same tenant wall (``SqlDirectory.tx``).

Counters and single-use claims are one conditional ``UPDATE`` each, so processes
sharing the database agree without locks of their own.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import (
    login_failures,
    password_resets,
    refresh_tokens,
    revoked_access_tokens,
    totp_credentials,
    totp_recovery_codes,
    user_token_cutoffs,
)
from inboxhub.domain.errors import Conflict
from inboxhub.ports import TotpState

FORGET_AFTER = timedelta(days=2)  # failure rows older than this and every window go


def _subject(tenant_id: str, subject: str) -> Any:
    return (login_failures.c.tenant_id == tenant_id) & (login_failures.c.subject == subject)


def _user(table: Any, tenant_id: str, user_id: str) -> Any:
    return (table.c.tenant_id == tenant_id) & (table.c.user_id == user_id)


class SqlAccountStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    # ------------------------------------------------------------ lockout

    async def locked_until(self, tenant_id: str, subject: str) -> datetime | None:
        async with self._db.tx(tenant_id) as conn:
            found = await conn.execute(
                select(login_failures.c.locked_until).where(_subject(tenant_id, subject))
            )
            row = found.first()
        if row is None or row.locked_until is None:
            return None
        until = _utc(row.locked_until)
        return until if until > _now() else None

    async def add_failure(self, tenant_id: str, subject: str, window: timedelta) -> int:
        for _ in range(3):  # a concurrent first failure may win the insert: count again
            try:
                return await self._count_failure(tenant_id, subject, window)
            except IntegrityError:
                continue
        raise RuntimeError("could not count a sign-in failure")  # pragma: no cover

    async def _count_failure(self, tenant_id: str, subject: str, window: timedelta) -> int:
        now = _now()
        stale = login_failures.c.last_failure_at < now - window
        async with self._db.tx(tenant_id) as conn:
            counted = await conn.execute(  # one statement: concurrent failures all count
                update(login_failures)
                .where(_subject(tenant_id, subject))
                .values(
                    failures=case((stale, 1), else_=login_failures.c.failures + 1),
                    last_failure_at=now,
                )
                .returning(login_failures.c.failures)
            )
            row = counted.first()
            if row is None:
                await conn.execute(
                    insert(login_failures).values(
                        tenant_id=tenant_id, subject=subject, failures=1, last_failure_at=now
                    )
                )
            count = 1 if row is None else int(row.failures)
        async with self._db.tx(PLATFORM) as conn:  # forget old failures, lockouts over
            await conn.execute(
                delete(login_failures).where(
                    login_failures.c.last_failure_at < now - max(window, FORGET_AFTER),
                    login_failures.c.locked_until.is_(None) | (login_failures.c.locked_until < now),
                )
            )
        return int(count)

    async def lock(self, tenant_id: str, subject: str, until: datetime) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(login_failures)
                .where(_subject(tenant_id, subject))
                .values(locked_until=until)
            )

    async def clear_failures(self, tenant_id: str, subject: str) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(delete(login_failures).where(_subject(tenant_id, subject)))

    # ------------------------------------------------------------ password resets

    async def add_reset_token(
        self, tenant_id: str, user_id: str, token_hash: str, expires_at: datetime
    ) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                insert(password_resets).values(
                    token_hash=token_hash,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    expires_at=expires_at,
                )
            )

    def _live_reset(self, token_hash: str) -> Any:
        return (
            (password_resets.c.token_hash == token_hash)
            & password_resets.c.used_at.is_(None)
            & (password_resets.c.expires_at > _now())
        )

    async def find_reset_token(self, token_hash: str) -> tuple[str, str] | None:
        async with self._db.tx(PLATFORM) as conn:  # the token names no tenant
            found = await conn.execute(
                select(password_resets.c.tenant_id, password_resets.c.user_id).where(
                    self._live_reset(token_hash)
                )
            )
            row = found.first()
        return (row.tenant_id, row.user_id) if row else None

    async def use_reset_token(self, token_hash: str) -> tuple[str, str] | None:
        async with self._db.tx(PLATFORM) as conn:
            claimed = await conn.execute(
                update(password_resets).where(self._live_reset(token_hash)).values(used_at=_now())
            )
            if not claimed.rowcount:
                return None
            found = await conn.execute(
                select(password_resets.c.tenant_id, password_resets.c.user_id).where(
                    password_resets.c.token_hash == token_hash
                )
            )
            row = found.one()
        return row.tenant_id, row.user_id

    async def drop_reset_tokens(self, tenant_id: str, user_id: str) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                delete(password_resets).where(_user(password_resets, tenant_id, user_id))
            )

    # ------------------------------------------------------------ TOTP

    async def put_totp(self, tenant_id: str, user_id: str, secret: bytes) -> None:
        where = _user(totp_credentials, tenant_id, user_id)
        async with self._db.tx(tenant_id) as conn:
            found = await conn.execute(select(totp_credentials.c.confirmed_at).where(where))
            row = found.first()
            if row is not None and row.confirmed_at is not None:
                raise Conflict("a second factor is in force already: disable it first")
            await conn.execute(delete(totp_credentials).where(where))
            await conn.execute(
                insert(totp_credentials).values(
                    tenant_id=tenant_id, user_id=user_id, secret=secret, created_at=_now()
                )
            )

    async def get_totp(self, tenant_id: str, user_id: str) -> TotpState | None:
        async with self._db.tx(tenant_id) as conn:
            found = await conn.execute(
                select(totp_credentials).where(_user(totp_credentials, tenant_id, user_id))
            )
            row = found.first()
        if row is None:
            return None
        return TotpState(bytes(row.secret), row.confirmed_at is not None, row.last_step)

    async def confirm_totp(self, tenant_id: str, user_id: str, recovery_hashes: list[str]) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(totp_credentials)
                .where(_user(totp_credentials, tenant_id, user_id))
                .values(confirmed_at=_now())
            )
            await conn.execute(
                delete(totp_recovery_codes).where(_user(totp_recovery_codes, tenant_id, user_id))
            )
            if recovery_hashes:
                await conn.execute(
                    insert(totp_recovery_codes),
                    [
                        {"tenant_id": tenant_id, "user_id": user_id, "code_hash": h}
                        for h in recovery_hashes
                    ],
                )

    async def use_totp_step(self, tenant_id: str, user_id: str, step: int) -> bool:
        column = totp_credentials.c.last_step
        async with self._db.tx(tenant_id) as conn:
            done = await conn.execute(
                update(totp_credentials)
                .where(
                    _user(totp_credentials, tenant_id, user_id),
                    column.is_(None) | (column < step),
                )
                .values(last_step=step)
            )
        return bool(done.rowcount)

    async def use_recovery_code(self, tenant_id: str, user_id: str, code_hash: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            done = await conn.execute(
                update(totp_recovery_codes)
                .where(
                    _user(totp_recovery_codes, tenant_id, user_id),
                    totp_recovery_codes.c.code_hash == code_hash,
                    totp_recovery_codes.c.used_at.is_(None),
                )
                .values(used_at=_now())
            )
        return bool(done.rowcount)

    async def delete_totp(self, tenant_id: str, user_id: str) -> None:
        async with self._db.tx(tenant_id) as conn:
            for table in (totp_recovery_codes, totp_credentials):
                await conn.execute(delete(table).where(_user(table, tenant_id, user_id)))

    # ------------------------------------------------------------ revocation

    async def revoke_refresh_tokens(self, tenant_id: str, user_id: str) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(refresh_tokens)
                .where(
                    _user(refresh_tokens, tenant_id, user_id), refresh_tokens.c.revoked_at.is_(None)
                )
                .values(revoked_at=_now())
            )

    async def revoke_access_token(
        self, tenant_id: str, user_id: str, jti: str, expires_at: datetime
    ) -> None:
        async with self._db.tx(PLATFORM) as conn:
            await conn.execute(  # revoked tokens that have expired need no row
                delete(revoked_access_tokens).where(revoked_access_tokens.c.expires_at < _now())
            )
        with contextlib.suppress(IntegrityError):  # revoked already
            async with self._db.tx(tenant_id) as conn:
                await conn.execute(
                    insert(revoked_access_tokens).values(
                        jti=jti, tenant_id=tenant_id, user_id=user_id, expires_at=expires_at
                    )
                )

    async def set_not_before(
        self, tenant_id: str, user_id: str, not_before: datetime, until: datetime
    ) -> None:
        where = _user(user_token_cutoffs, tenant_id, user_id)
        async with self._db.tx(PLATFORM) as conn:
            await conn.execute(
                delete(user_token_cutoffs).where(user_token_cutoffs.c.expires_at < _now())
            )
            found = await conn.execute(select(user_token_cutoffs).where(where).with_for_update())
            row = found.first()
            if row is None:
                await conn.execute(
                    insert(user_token_cutoffs).values(
                        tenant_id=tenant_id,
                        user_id=user_id,
                        not_before=not_before,
                        expires_at=until,
                    )
                )
                return
            await conn.execute(
                update(user_token_cutoffs)
                .where(where)
                .values(
                    not_before=max(_utc(row.not_before), not_before),
                    expires_at=max(_utc(row.expires_at), until),
                )
            )

    async def token_revoked(
        self, tenant_id: str, user_id: str, jti: str, issued_at: datetime
    ) -> bool:
        async with self._db.tx(tenant_id) as conn:
            one = await conn.execute(
                select(revoked_access_tokens.c.jti).where(
                    revoked_access_tokens.c.jti == jti,
                    revoked_access_tokens.c.tenant_id == tenant_id,
                )
            )
            if one.first() is not None:
                return True
            cutoff = await conn.execute(
                select(user_token_cutoffs.c.not_before).where(
                    _user(user_token_cutoffs, tenant_id, user_id)
                )
            )
            row = cutoff.first()
        return row is not None and issued_at < _utc(row.not_before)
