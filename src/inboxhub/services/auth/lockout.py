"""Lockout with growing backoff after repeated failed sign-ins.

Failures are counted per account (tenant + email) and per source IP, in the
relational store, so every process of a deployment sees the same counts. Once a
subject reaches its threshold it is locked for ``base`` seconds, doubled with each
further failure, at most ``cap``; while locked, attempts are refused (429 with
Retry-After) before the password is even looked at, so a right guess tells the
guesser nothing. A success clears the account's count but not the IP's (an
attacker holding one good account must not be able to reset its address).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inboxhub.domain.errors import TooManyRequests
from inboxhub.ports import AccountStore
from inboxhub.settings import Settings

PLATFORM = "*"  # the tenant of subjects that belong to none (an IP address)

Subject = tuple[str, str]  # (tenant_id, "email:<address>" | "ip:<address>")


def account_subject(tenant_id: str, email: str) -> Subject:
    return tenant_id, f"email:{email.strip().lower()}"


def ip_subject(ip: str | None) -> Subject:
    return PLATFORM, f"ip:{ip or 'unknown'}"


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    max_failures_per_ip: int = 50
    window: timedelta = timedelta(hours=1)
    base_seconds: float = 30.0
    cap_seconds: float = 900.0

    @classmethod
    def from_settings(cls, s: Settings) -> LockoutPolicy:
        return cls(
            s.login_max_failures,
            s.login_max_failures_per_ip,
            timedelta(seconds=s.login_failure_window_seconds),
            s.login_lockout_seconds,
            s.login_lockout_max_seconds,
        )

    def threshold(self, subject: Subject) -> int:
        return self.max_failures_per_ip if subject[1].startswith("ip:") else self.max_failures

    def lock_seconds(self, failures: int, threshold: int) -> float | None:
        """How long this many failures lock a subject (None: not yet)."""
        if failures < threshold:
            return None
        return min(self.base_seconds * 2 ** min(failures - threshold, 32), self.cap_seconds)


class Lockout:
    def __init__(self, store: AccountStore, policy: LockoutPolicy) -> None:
        self.store, self.policy = store, policy

    async def retry_after(self, subjects: list[Subject]) -> int | None:
        """Seconds until the last of these subjects' lockouts ends, if any is locked."""
        now = datetime.now(UTC)
        ends = [u for s in subjects if (u := await self.store.locked_until(*s)) is not None]
        if not ends:
            return None
        return max(1, math.ceil((max(ends) - now).total_seconds()))

    async def check(self, subjects: list[Subject]) -> None:
        wait = await self.retry_after(subjects)
        if wait is not None:
            raise TooManyRequests(
                f"too many failed sign-ins: try again in {wait} s", retry_after=wait
            )

    async def failed(self, subjects: list[Subject]) -> None:
        for subject in subjects:
            count = await self.store.add_failure(*subject, self.policy.window)
            seconds = self.policy.lock_seconds(count, self.policy.threshold(subject))
            if seconds is not None:
                until = datetime.now(UTC) + timedelta(seconds=seconds)
                await self.store.lock(*subject, until)

    async def succeeded(self, subject: Subject) -> None:
        await self.store.clear_failures(*subject)
