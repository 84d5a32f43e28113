"""What a tenant admin does to webhooks, checked and audited (the routes are thin).

The signing secret is shown once, when made (create, rotate); no read shows it
again. A rotation signs with the new secret at once and with the old one as well
for ``webhook_secret_grace_hours``, so a receiver can switch without losing a
request. ``test`` and ``replay`` queue a delivery for the workers and answer at
once; the log shows how it went.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from inboxhub.domain.errors import Conflict, NotFound
from inboxhub.domain.ids import new_event_id
from inboxhub.domain.webhooks import TEST_EVENT, Delivery, NewDelivery, Webhook
from inboxhub.ports import WebhookStore
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.services.webhooks import outbound, payloads, signing
from inboxhub.services.webhooks.worker import max_attempts, url_policy
from inboxhub.settings import Settings


def _shown(url: str) -> str:
    """The URL as the audit trail keeps it: without its query (it may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class WebhookAdmin:
    def __init__(self, store: WebhookStore, settings: Settings, audit: AuditLog) -> None:
        self.store = store
        self._s = settings
        self._audit = audit

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook:
        found = await self.store.get(tenant_id, webhook_id)
        if found is None:
            raise NotFound("no such webhook")
        return found

    async def _check_url(self, url: str) -> None:
        await outbound.resolve(url, url_policy(self._s))

    async def _record(
        self, admin: Principal, action: str, object_id: str, ip: str | None, **detail: Any
    ) -> None:
        await self._audit.record(admin.tenant_id, admin.user_id, action, object_id, ip, **detail)

    async def create(
        self,
        admin: Principal,
        url: str,
        event_types: Sequence[str],
        description: str,
        ip: str | None,
    ) -> tuple[Webhook, str]:
        await self._check_url(url)
        secret = signing.new_secret()
        made = await self.store.create(
            admin.tenant_id,
            url=url,
            event_types=list(dict.fromkeys(event_types)),
            description=description,
            secret=secret,
            created_by=admin.user_id,
        )
        await self._record(
            admin,
            "webhook.create",
            made.id,
            ip,
            url=_shown(url),
            event_types=list(made.event_types),
        )
        return made, secret

    async def update(
        self,
        admin: Principal,
        webhook_id: str,
        changes: dict[str, Any],
        ip: str | None,
    ) -> Webhook:
        await self.get(admin.tenant_id, webhook_id)
        if changes.get("url") is not None:
            await self._check_url(changes["url"])
        if changes.get("event_types") is not None:
            changes["event_types"] = list(dict.fromkeys(changes["event_types"]))
        done = await self.store.update(admin.tenant_id, webhook_id, **changes)
        if done is None:
            raise NotFound("no such webhook")
        shown = {k: (_shown(v) if k == "url" else v) for k, v in changes.items() if v is not None}
        await self._record(admin, "webhook.update", webhook_id, ip, **shown)
        return done

    async def delete(self, admin: Principal, webhook_id: str, ip: str | None) -> None:
        if not await self.store.delete(admin.tenant_id, webhook_id):
            raise NotFound("no such webhook")
        await self._record(admin, "webhook.delete", webhook_id, ip)

    async def rotate(
        self, admin: Principal, webhook_id: str, ip: str | None
    ) -> tuple[Webhook, str]:
        secret = signing.new_secret()
        until = datetime.now(UTC) + timedelta(hours=self._s.webhook_secret_grace_hours)
        done = await self.store.rotate_secret(admin.tenant_id, webhook_id, secret, until)
        if done is None:
            raise NotFound("no such webhook")
        await self._record(admin, "webhook.secret.rotate", webhook_id, ip)
        return done, secret

    async def test(self, admin: Principal, webhook_id: str, ip: str | None) -> Delivery:
        """Queue a ``webhook.test`` ping, whatever the subscription's event types."""
        hook = await self._sendable(admin.tenant_id, webhook_id)
        now = datetime.now(UTC)
        event_id = new_event_id()
        data = {"webhook_id": hook.id, "message": "a test event sent from inboxhub"}
        body = payloads.body(event_id, TEST_EVENT, now, admin.tenant_id, data)
        new = NewDelivery(admin.tenant_id, hook.id, event_id, TEST_EVENT, body)
        [made] = await self.store.enqueue([new], max_attempts(self._s), now)
        await self._record(admin, "webhook.test", webhook_id, ip, delivery_id=made)
        return await self.delivery(admin.tenant_id, webhook_id, made)

    async def replay(
        self, admin: Principal, webhook_id: str, delivery_id: str, ip: str | None
    ) -> Delivery:
        """One more attempt of a finished delivery: the same body, signed anew when
        sent. A delivery still pending is left as it is."""
        await self._sendable(admin.tenant_id, webhook_id)
        await self.delivery(admin.tenant_id, webhook_id, delivery_id)
        done = await self.store.replay(admin.tenant_id, webhook_id, delivery_id, datetime.now(UTC))
        if done is None:
            raise NotFound("no such delivery")
        await self._record(
            admin, "webhook.delivery.replay", webhook_id, ip, delivery_id=delivery_id
        )
        return done

    async def _sendable(self, tenant_id: str, webhook_id: str) -> Webhook:
        hook = await self.get(tenant_id, webhook_id)
        if not hook.active:
            raise Conflict("the webhook is disabled: enable it first (PATCH enabled=true)")
        return hook

    async def delivery(self, tenant_id: str, webhook_id: str, delivery_id: str) -> Delivery:
        found = await self.store.delivery(tenant_id, webhook_id, delivery_id)
        if found is None:
            raise NotFound("no such delivery")
        return found
