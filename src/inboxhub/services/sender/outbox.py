"""The sending API's service: drafts, submissions, edits and cancellations, each
checked (who may, what state), counted against the quotas, and audited with its
outcome.

Who may what: a message is its author's. They see, change, send and cancel it while
they may still write to its mailbox; owners, admins and auditors see every message
of the tenant (an auditor's look is audited) but change none of another's. Anyone
else gets 404, as for another tenant's message.

Idempotency: a create with an ``Idempotency-Key`` the author used before returns the
message that key made (200) when the request is the same, and 422 when it differs
(IETF draft-ietf-httpapi-idempotency-key-header); the key is unique per author, so
two concurrent requests with it make one message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inboxhub.domain.audit import FAILURE
from inboxhub.domain.errors import Conflict, Forbidden, InboxhubError, InvalidInput, NotFound
from inboxhub.domain.ids import new_id
from inboxhub.domain.models import Mailbox
from inboxhub.domain.outgoing import (
    EDITABLE,
    MessageCreate,
    MessagePatch,
    OutgoingMessage,
    State,
)
from inboxhub.mime.compose import new_message_id
from inboxhub.ports import Directory, OutgoingStore
from inboxhub.services.api.access import MailAccess, sees_all
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.services.sender.compose import Composer
from inboxhub.services.sender.quotas import Quotas


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def request_hash(body: MessageCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def submission(send_at: datetime | None, now: datetime) -> dict[str, Any]:
    """The fields of a message submitted for sending ``now``: due now, or scheduled."""
    if send_at is not None and send_at > now:
        return {"state": "scheduled", "send_at": send_at, "next_attempt_at": send_at}
    return {"state": "queued", "next_attempt_at": now}


def _require_recipients(m: OutgoingMessage) -> None:
    if not m.recipients:
        raise InvalidInput("a message to send needs at least one recipient", field="to")


@dataclass
class Outbox:
    store: OutgoingStore
    directory: Directory
    access: MailAccess
    composer: Composer
    quotas: Quotas
    audit: AuditLog
    clock: Callable[[], datetime] = utcnow

    @contextlib.asynccontextmanager
    async def audited(
        self, principal: Principal, action: str, object_id: str | None, ip: str | None
    ) -> AsyncIterator[None]:
        """Audit a refusal of ``action`` (with its status and reason) and re-raise it."""
        try:
            yield
        except InboxhubError as exc:
            await self.audit.record(
                principal.tenant_id,
                principal.user_id,
                action,
                object_id,
                ip,
                outcome=FAILURE,
                status=exc.status,
                reason=exc.detail,
            )
            raise

    async def _record(
        self, principal: Principal, action: str, m: OutgoingMessage, ip: str | None, **more: Any
    ) -> None:
        await self.audit.record(
            principal.tenant_id,
            principal.user_id,
            action,
            m.id,
            ip,
            mailbox_id=m.mailbox_id,
            state=m.state,
            recipients=len(m.recipients),
            **more,
        )

    async def sending_mailbox(self, principal: Principal, mailbox_id: str) -> Mailbox:
        """The mailbox, if the caller may send from it: 403 for a reader only (an
        auditor), 404 for a mailbox they cannot see."""
        allowed = await self.access.writable(principal)
        box = await self.directory.get_mailbox(principal.tenant_id, mailbox_id)
        if box is None or not await self.access.may_read(principal, box.id):
            raise NotFound(f"no mailbox {mailbox_id}")
        self.access.check_write(allowed, [box.id])
        return box

    # -- reading -------------------------------------------------------------------

    async def visible(self, principal: Principal, message_id: str) -> OutgoingMessage:
        m = await self.store.get(principal.tenant_id, message_id)
        if m is not None and sees_all(principal):
            return m
        if (
            m is None
            or m.user_id != principal.user_id
            or not await self.access.may_read(principal, m.mailbox_id)
        ):
            raise NotFound(f"no message {message_id}")
        return m

    async def own(self, principal: Principal, message_id: str) -> OutgoingMessage:
        """The caller's own message: 403 for one they only see, else 404."""
        m = await self.visible(principal, message_id)
        if m.user_id != principal.user_id:
            raise Forbidden("only its author changes or sends a message")
        await self.sending_mailbox(principal, m.mailbox_id)
        return m

    # -- creating ------------------------------------------------------------------

    async def _replay(self, found: OutgoingMessage, digest: str) -> OutgoingMessage:
        if found.request_hash != digest:
            raise InvalidInput(
                "this Idempotency-Key was used for a different request", field="Idempotency-Key"
            )
        return found

    async def create(
        self, principal: Principal, body: MessageCreate, key: str | None, ip: str | None
    ) -> tuple[OutgoingMessage, bool]:
        """The new message, and whether it is an earlier one replayed (same key)."""
        digest = request_hash(body)
        if key is not None:
            found = await self.store.by_idempotency_key(principal.tenant_id, principal.user_id, key)
            if found is not None:
                return await self._replay(found, digest), True
        action = "message.draft" if body.draft else "message.send"
        async with self.audited(principal, action, None, ip):
            m = await self._new(principal, body, key, digest)
            try:
                await self.store.create(m)
            except Conflict:
                assert key is not None  # the only unique field a caller chooses
                found = await self.store.by_idempotency_key(
                    principal.tenant_id, principal.user_id, key
                )
                if found is None:
                    raise
                return await self._replay(found, digest), True
        await self._record(principal, action, m, ip, mode=m.mode, send_at=_iso(m.send_at))
        return m, False

    async def _new(
        self, principal: Principal, body: MessageCreate, key: str | None, digest: str
    ) -> OutgoingMessage:
        now = self.clock()
        await self.access.writable(principal)  # a reader only: 403 before any lookup
        mailbox_id = body.mailbox_id
        if mailbox_id is None:
            assert body.original_email_id is not None
            original = await self.composer.readable_email(principal, body.original_email_id)
            mailbox_id = original.mailbox_id
        box = await self.sending_mailbox(principal, mailbox_id)
        fields = await self.composer.compose(principal, box, body, now)
        send_at = _utc(body.send_at)
        state: dict[str, Any] = {"state": "draft", "send_at": send_at}
        if not body.draft:
            state = {**submission(send_at, now), "queued_at": now}
        m = OutgoingMessage(
            id=new_id(),
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            mailbox_id=box.id,
            mode=body.mode,
            original_email_id=body.original_email_id,
            internet_message_id=new_message_id(fields["sender"].rpartition("@")[2]),
            idempotency_key=key,
            request_hash=digest,
            created_at=now,
            updated_at=now,
            **fields,
            **state,
        )
        self.composer.check_limits(m)
        if not body.draft:
            _require_recipients(m)
            await self.quotas.check(principal.tenant_id, principal.user_id, now)
        return m

    # -- changing ------------------------------------------------------------------

    async def update(
        self, principal: Principal, message_id: str, patch: MessagePatch, ip: str | None
    ) -> OutgoingMessage:
        async with self.audited(principal, "message.update", message_id, ip):
            m = await self.own(principal, message_id)
            if m.state not in EDITABLE:
                raise Conflict(f"a {m.state} message cannot be edited")
            now = self.clock()
            values = await self.composer.changes(principal, patch, now)
            values["eml_key"] = None  # built again from what it says now
            if "send_at" in values:
                values["send_at"] = _utc(values["send_at"])
                if m.state == "scheduled":
                    values.update(submission(values["send_at"], now))
            changed = m.model_copy(update=values)
            self.composer.check_limits(changed)
            if m.state == "scheduled":
                _require_recipients(changed)
            done = await self.store.change(
                principal.tenant_id, m.id, values, states=EDITABLE, now=now
            )
            if done is None:
                raise Conflict("the message is being sent, or was changed meanwhile")
        await self._record(principal, "message.update", done, ip, fields=sorted(values))
        return done

    async def send(self, principal: Principal, message_id: str, ip: str | None) -> OutgoingMessage:
        """Send a draft (at its ``send_at`` if that is still ahead), a scheduled message
        now, or a failed one again. A message already on its way is left as it is."""
        async with self.audited(principal, "message.send", message_id, ip):
            m = await self.own(principal, message_id)
            if m.state in ("queued", "sending", "sent"):
                return m
            if m.state == "cancelled":
                raise Conflict("a cancelled message cannot be sent")
            now = self.clock()
            _require_recipients(m)
            values: dict[str, Any] = {"attempts": 0, "last_error": None, "rejected": {}}
            if m.state == "draft":
                values.update(submission(m.send_at, now))
            else:
                values.update(submission(None, now))
            if m.queued_at is None:
                await self.quotas.check(principal.tenant_id, principal.user_id, now)
                values["queued_at"] = now
            states: tuple[State, ...] = ("draft", "scheduled", "failed")
            done = await self.store.change(
                principal.tenant_id, m.id, values, states=states, now=now
            )
            if done is None:
                raise Conflict("the message is being sent, or was changed meanwhile")
        await self._record(principal, "message.send", done, ip, send_at=_iso(done.send_at))
        return done

    async def cancel(self, principal: Principal, message_id: str, ip: str | None) -> None:
        """Discard a draft (or a failed or cancelled message), or cancel a queued or
        scheduled message that no worker has taken yet: 409 once it is being sent."""
        async with self.audited(principal, "message.cancel", message_id, ip):
            m = await self.own(principal, message_id)
            now = self.clock()
            if m.state in ("draft", "failed", "cancelled"):
                action = "message.discard"
                done = await self.store.delete(
                    principal.tenant_id, m.id, states=(m.state,), now=now
                )
            elif m.state in ("queued", "scheduled"):
                action = "message.cancel"
                done = (
                    await self.store.change(
                        principal.tenant_id,
                        m.id,
                        {"state": "cancelled", "next_attempt_at": None},
                        states=("queued", "scheduled"),
                        now=now,
                    )
                    is not None
                )
            else:
                raise Conflict(f"a {m.state} message cannot be cancelled")
            if not done:
                raise Conflict("the message is being sent, or was changed meanwhile")
        await self._record(principal, action, m, ip)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
