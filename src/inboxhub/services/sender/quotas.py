"""Send quotas: messages submitted per user and per tenant in a rolling day.

Counted when a message is submitted for sending (sent now, scheduled, or a draft
sent), not when it goes out: a scheduled message uses the quota of the day it was
scheduled on. Drafts and cancelled messages do not count. Over a quota the answer is
429 with ``Retry-After``: when the oldest message counted leaves the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from inboxhub.domain.errors import TooManyRequests
from inboxhub.ports import OutgoingStore
from inboxhub.settings import Settings

WINDOW = timedelta(days=1)


@dataclass
class Quotas:
    store: OutgoingStore
    settings: Settings

    async def check(self, tenant_id: str, user_id: str, now: datetime) -> None:
        """``TooManyRequests`` if one more message would exceed a quota."""
        s = self.settings
        for who, limit, whose in (
            (user_id, s.send_quota_user_per_day, "your"),
            (None, s.send_quota_tenant_per_day, "your organisation's"),
        ):
            if limit <= 0:
                continue
            count, oldest = await self.store.submitted_since(tenant_id, who, now - WINDOW)
            if count >= limit:
                wait = (oldest + WINDOW - now).total_seconds() if oldest else WINDOW.seconds
                raise TooManyRequests(
                    f"{whose} quota of {limit} messages a day is used up",
                    retry_after=max(1.0, wait),
                    quota=limit,
                )
