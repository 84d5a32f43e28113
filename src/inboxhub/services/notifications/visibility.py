"""Who sees an event: the caller's tenant only (the hub keys clients by tenant), and
of it the mailboxes the caller reads (``services/api/access.py``), re-read now and
then so a change of assignment reaches open streams too."""

from __future__ import annotations

import time

from inboxhub.domain.events import Envelope
from inboxhub.services.api.access import MailAccess, sees_all
from inboxhub.services.gateway.security import Principal

ACCESS_SECONDS = 30.0  # how long a member's mailbox list is trusted before re-reading


class Visible:
    """Whether an event is about a mailbox the caller reads."""

    def __init__(self, access: MailAccess, principal: Principal) -> None:
        self.access, self.principal = access, principal
        self.mailboxes: set[str] = set()
        self.read_at = float("-inf")

    async def __call__(self, env: Envelope) -> bool:
        if env.tenant_id != self.principal.tenant_id:
            return False
        if sees_all(self.principal):
            return True
        if time.monotonic() - self.read_at > ACCESS_SECONDS:
            self.mailboxes = set(await self.access.readable(self.principal))
            self.read_at = time.monotonic()
        return env.data.get("mailbox_id") in self.mailboxes
