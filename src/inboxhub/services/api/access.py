"""Who may see and change which mail: the one policy every route asks.

* owners and admins see every mailbox of the tenant and change its mail;
* auditors see every mailbox, read only: a change is 403, and every read they make
  is audited (``audited``: the routes audit some reads for everyone already);
* members see the mailboxes assigned to them (``PUT /mailboxes/{id}/members``) and
  change their mail; anything else of the tenant is not found (404), as another
  tenant's is.

Roles add up: an auditor who is also a member reads everything and changes the mail
of their own mailboxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from inboxhub.domain.errors import Forbidden
from inboxhub.domain.models import Mailbox
from inboxhub.ports import AccessStore, Directory
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal

SEE_ALL = frozenset({"owner", "admin", "auditor"})
CHANGE_ALL = frozenset({"owner", "admin"})
AUDITOR = "auditor"


class InMailbox(Protocol):
    @property
    def mailbox_id(self) -> str: ...


T = TypeVar("T", bound=InMailbox)


def sees_all(principal: Principal) -> bool:
    return bool(SEE_ALL & set(principal.roles))


def is_auditor(principal: Principal) -> bool:
    return AUDITOR in principal.roles


@dataclass
class MailAccess:
    directory: Directory
    store: AccessStore
    audit: AuditLog

    async def mailboxes(self, principal: Principal) -> list[Mailbox]:
        """The mailboxes the caller may read, by name."""
        boxes = await self.directory.list_mailboxes(principal.tenant_id)
        if sees_all(principal):
            return boxes
        mine = await self.store.assigned(principal.tenant_id, principal.user_id)
        return [b for b in boxes if b.id in mine]

    async def readable(self, principal: Principal) -> list[str]:
        return [b.id for b in await self.mailboxes(principal)]

    async def may_read(self, principal: Principal, mailbox_id: str) -> bool:
        """Whether the caller may read the mailbox's mail (if it exists)."""
        if sees_all(principal):
            return True
        return mailbox_id in await self.store.assigned(principal.tenant_id, principal.user_id)

    async def readable_only(self, principal: Principal, items: Sequence[T]) -> list[T]:
        """Those of ``items`` (each with a ``mailbox_id``) the caller may read."""
        if sees_all(principal):
            return list(items)
        mine = await self.store.assigned(principal.tenant_id, principal.user_id)
        return [i for i in items if i.mailbox_id in mine]

    async def writable(self, principal: Principal) -> set[str] | None:
        """The mailboxes whose mail the caller may change (None: all of them);
        ``Forbidden`` if none at all (an auditor)."""
        roles = set(principal.roles)
        if CHANGE_ALL & roles:
            return None
        if "member" in roles:
            return await self.store.assigned(principal.tenant_id, principal.user_id)
        raise Forbidden("this role reads mail but does not change it")

    @staticmethod
    def check_write(allowed: set[str] | None, mailbox_ids: Sequence[str]) -> None:
        """``Forbidden`` unless ``allowed`` (what ``writable`` gave) covers every one
        of ``mailbox_ids`` (all of which the caller may read)."""
        if allowed is not None and not set(mailbox_ids) <= allowed:
            raise Forbidden("this role reads this mailbox's mail but does not change it")

    async def audited(
        self,
        principal: Principal,
        action: str,
        object_id: str | None,
        ip: str | None,
        **detail: Any,
    ) -> None:
        """Audit a read that is audited for auditors only."""
        if is_auditor(principal):
            await self.audit.record(
                principal.tenant_id, principal.user_id, action, object_id, ip, **detail
            )
