"""GDPR erasure (Art. 17): a user, or a whole tenant, gone from every store.

**A tenant**: its mailboxes go first, so its fetchers stop; then every relational row
carrying its ``tenant_id`` (tables found from the schema: ``adapters/db_erasure.py``),
its email documents, its search index and its blobs (``t/<tenant_id>/``: raw
messages and attachments); its own row last, so that a run cut short half-way is
found and finished by the next (every step is idempotent). Tenant ids are random
(128 bits), so a removed tenant's id is never given again; no tombstone is kept.
The operator's tenant audits the erasure (ids and counts only).

**A user**: their row, their refresh tokens, mailbox assignments, invitations and
every other row with their ``user_id`` go. The tenant's records of what they did stay,
naming a pseudonym (``erased:<hmac>``, the same for all of one user's entries, not
reversible without the platform's key) instead of their id, with their email
addresses and IP addresses taken out. The tenant's mail stays: it is the tenant's.
(``user.deleted`` is published by the caller, ``user_admin.py``.)

What is not erased here: events already on the bus (Kafka keeps them until its
retention; the embedded log keeps them), and an access token already issued stays
valid until it expires unless the auth service revokes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog

from inboxhub.domain.events import AUDIT_ACTION, TENANT_CONFIG_UPDATED, TenantConfigUpdated
from inboxhub.domain.ids import tenant_blob_prefix
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.consumer import wait_until_consumed

if TYPE_CHECKING:
    from inboxhub.runtime import Container

log = structlog.get_logger(__name__)

PSEUDONYM_KEY = "erasure_pseudonym_key"  # platform secret (sealed by the SecretBox)
AUDIT_GROUP = "audit"  # the audit service's consumer group (runtime.consumer_specs)
AUDIT_WAIT = 5.0  # seconds to let it catch up before rewriting a user's entries


class Erasure:
    def __init__(self, c: Container) -> None:
        self._c = c
        self._audit = AuditLog(c.bus)

    async def pseudonym(self, tenant_id: str, user_id: str) -> str:
        """``erased:`` and 100 bits of HMAC-SHA256 of the user under a platform key: the
        same for every entry of the user (and on a second run), fits ``actor_id``."""
        c = self._c
        sealed = await c.directory.create_secret(
            PSEUDONYM_KEY, c.box.encrypt(secrets.token_bytes(32))
        )
        key = c.box.decrypt(sealed)
        digest = hmac.new(key, f"{tenant_id}:{user_id}".encode(), hashlib.sha256)
        return "erased:" + digest.hexdigest()[:25]

    async def erase_user(
        self,
        tenant_id: str,
        user_id: str,
        actor_id: str | None,
        *,
        emails: Sequence[str] = (),
    ) -> None:
        """Erase the user. Their row goes too if it is still there (its email address
        is read from it); a caller that removed the row first passes ``emails``, so
        that they can be scrubbed. ``user.deleted`` is the caller's to publish, and
        the tenant's last owner the caller's to protect."""
        c = self._c
        known = await c.erasure.emails_of(tenant_id, user_id)
        everyone = sorted({*known, *(e.strip().lower() for e in emails if e.strip())})
        pseudonym = await self.pseudonym(tenant_id, user_id)
        await self._audit_settled(tenant_id)
        done = await c.erasure.erase_user_rows(tenant_id, user_id, everyone, pseudonym)
        actor = pseudonym if actor_id == user_id else actor_id
        await self._audit.record(tenant_id, actor, "user.erased", pseudonym, rows=done)
        log.info("erasure.user", tenant_id=tenant_id, rows=done)

    async def _audit_settled(self, tenant_id: str) -> None:
        """Let the audit service write what is on its way (the user's last actions)
        before their entries are rewritten; bounded, and skipped when no audit
        consumer has ever run (what comes later is written as it came)."""
        bus = self._c.bus
        # Every adapter lists each partition, uncommitted ones at 0: "never ran" is
        # "nothing committed anywhere", not an empty answer.
        if not any((await bus.committed(AUDIT_GROUP, AUDIT_ACTION)).values()):
            return
        try:
            await wait_until_consumed(
                bus, AUDIT_GROUP, AUDIT_ACTION, await bus.end_offsets(AUDIT_ACTION), AUDIT_WAIT
            )
        except TimeoutError:
            log.warning("erasure.audit_lagging", tenant_id=tenant_id)

    async def erase_tenant(self, tenant_id: str, actor_id: str | None) -> None:
        """Erase the tenant and everything of it, in every store (idempotent)."""
        c = self._c
        operator_tenant = await c.erasure.tenant_of_user(actor_id) if actor_id else None
        for box in await c.directory.list_mailboxes(tenant_id):  # the fetchers stop
            await c.directory.delete_mailbox(tenant_id, box.id)
            gone = TenantConfigUpdated(what="mailbox.deleted", object_id=box.id)
            await c.bus.publish(gone.topic, [gone.envelope(tenant_id, f"{tenant_id}:{box.id}")])
        await self._audit_settled(tenant_id)
        rows = await c.erasure.erase_tenant_rows(tenant_id)
        documents = await c.emails.delete_tenant(tenant_id)
        indexed = await c.search.delete_tenant(tenant_id)
        blobs = await c.blobs.delete_prefix(tenant_blob_prefix(tenant_id))
        dropped = await c.erasure.drop_tenant(tenant_id)
        event = TenantConfigUpdated(what="tenant.erased", object_id=tenant_id)
        await c.bus.publish(TENANT_CONFIG_UPDATED, [event.envelope(tenant_id, tenant_id)])
        counts: dict[str, Any] = {
            "rows": rows,
            "documents": documents,
            "index": indexed,
            "blobs": blobs,
            "tenant_row": dropped,
        }
        if operator_tenant and operator_tenant != tenant_id:
            await self._audit.record(
                operator_tenant, actor_id, "tenant.erased", tenant_id, **counts
            )
        log.info("erasure.tenant", tenant_id=tenant_id, **counts)
