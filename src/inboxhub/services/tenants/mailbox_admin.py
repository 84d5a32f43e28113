"""Mailbox connections: create, read back (never the secrets), change, pause, delete.

Settings are validated by the provider's own model; the fields it names secret are
sealed with the platform key (``crypto.SecretBox``) into a column of their own and
never leave the service again. A host a tenant admin enters must not lead the
fetcher into our own network (``providers/net_guard``). Every change announces
``tenant.config.updated``, which the fetcher acts on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.domain.events import TenantConfigUpdated
from inboxhub.domain.models import Mailbox, SyncStatus
from inboxhub.providers.base import ConnectorSettings, ProviderConfigError
from inboxhub.providers.net_guard import resolve_allowed
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.fetcher import registry
from inboxhub.services.fetcher.engine import MAILBOX_CHANGED
from inboxhub.services.fetcher.mailbox_sync import build_connector, load_secrets, seal_secrets

log = structlog.get_logger(__name__)
PAGE = 500
DISCONNECT_SECONDS = 10.0


@dataclass
class MailboxAdmin:
    c: Container
    audit: AuditLog

    async def _check(self, provider: str, config: ConnectorSettings) -> None:
        allow = self.c.settings.allow_private_mail_hosts
        try:
            preflight = getattr(registry.module(provider), "preflight", None)
            if preflight is not None:
                preflight(config, self.c.settings)
            for host, port in config.mail_hosts():
                await resolve_allowed(host, port, allow)
        except ProviderConfigError as exc:
            raise InvalidInput(str(exc)) from exc
        if provider == "local":
            self._check_local(config.model_dump().get("paths", []))
        if provider == "imap" and config.model_dump().get("security") == "none" and not allow:
            raise InvalidInput(
                "IMAP without TLS would send the password in the clear: "
                "use security 'ssl' or 'starttls'"
            )
        smtp = config.model_dump().get("smtp") if provider == "imap" else None
        if smtp and smtp.get("security") == "none" and not allow:
            raise InvalidInput(
                "SMTP without TLS would send the password in the clear: "
                "use smtp security 'starttls' or 'tls'"
            )

    def _check_local(self, paths: list[str]) -> None:
        root = self.c.settings.local_mail_root
        if not root:
            raise InvalidInput(
                "local archives are connected by an operator (`inboxhub import`); "
                "tenant admins may use them only under INBOXHUB_LOCAL_MAIL_ROOT"
            )
        base = Path(root).resolve()
        for p in paths:
            if not Path(p).resolve().is_relative_to(base):
                raise InvalidInput(f"{p} is not under the allowed root for local archives")

    async def _announce(self, tenant_id: str, what: str, mailbox_id: str) -> None:
        event = TenantConfigUpdated(what=what, object_id=mailbox_id)
        await self.c.bus.publish(
            event.topic, [event.envelope(tenant_id, f"{tenant_id}:{mailbox_id}")]
        )

    async def create(
        self, tenant_id: str, actor_id: str, name: str, provider: str, settings: dict[str, Any]
    ) -> Mailbox:
        config = registry.validate(provider, settings)
        await self._check(provider, config)
        public, secrets = registry.split_secrets(provider, config)
        sealed = seal_secrets(self.c, secrets) if secrets else None
        box = await self.c.directory.create_mailbox(tenant_id, name, provider, public, sealed)
        await self._announce(tenant_id, "mailbox.created", box.id)
        await self.audit.record(tenant_id, actor_id, "mailbox.connect", box.id, provider=provider)
        return box

    async def get(self, tenant_id: str, mailbox_id: str) -> Mailbox:
        box = await self.c.directory.get_mailbox(tenant_id, mailbox_id)
        if box is None:
            raise NotFound("no such mailbox")
        return box

    async def secret_names(self, box: Mailbox) -> list[str]:
        return sorted(await load_secrets(self.c, box.tenant_id, box.id))

    async def status(self, box: Mailbox) -> SyncStatus:
        status = await self.c.sync.get_status(box.tenant_id, box.id)
        if box.status == "paused":
            status.state = "paused"
        return status

    async def update(
        self,
        tenant_id: str,
        actor_id: str,
        mailbox_id: str,
        name: str | None,
        settings: dict[str, Any] | None,
        status: str | None,
    ) -> Mailbox:
        box = await self.get(tenant_id, mailbox_id)
        public: dict[str, Any] | None = None
        sealed: bytes | None = None
        if settings is not None:
            old_secrets = await load_secrets(self.c, tenant_id, mailbox_id)
            # Secrets left out keep their values; settings given replace the old ones.
            merged = {**box.config, **old_secrets, **settings}
            config = registry.validate(box.provider, merged)
            await self._check(box.provider, config)
            public, secrets = registry.split_secrets(box.provider, config)
            sealed = seal_secrets(self.c, secrets)
        if status not in (None, "active", "paused"):
            raise InvalidInput("status is 'active' or 'paused'")
        updated = await self.c.directory.update_mailbox(
            tenant_id, mailbox_id, name=name, config=public, credentials=sealed, status=status
        )
        if updated is None:
            raise NotFound("no such mailbox")
        what = {"paused": "mailbox.paused", "active": "mailbox.resumed"}.get(status or "")
        await self._announce(tenant_id, what or "mailbox.updated", mailbox_id)
        await self.audit.record(
            tenant_id,
            actor_id,
            "mailbox.update",
            mailbox_id,
            fields=sorted(
                k
                for k, v in {"name": name, "settings": settings, "status": status}.items()
                if v is not None
            ),
        )
        return updated

    async def delete(self, tenant_id: str, actor_id: str, mailbox_id: str) -> None:
        """Disconnect the mailbox and remove its messages from the document store and
        the index. (Raw blobs are content-addressed and may be shared; erasing them
        is the tenant erasure's job.)"""
        box = await self.get(tenant_id, mailbox_id)
        await self._disconnect(box)
        if not await self.c.directory.delete_mailbox(tenant_id, box.id):
            raise NotFound("no such mailbox")
        await self._announce(tenant_id, "mailbox.deleted", box.id)
        while page := await self.c.emails.list(tenant_id, [box.id], PAGE):
            ids = [e.id for e in page]
            await self.c.search.delete_many(tenant_id, ids)
            await self.c.emails.delete_many(tenant_id, ids)
        await self.audit.record(tenant_id, actor_id, "mailbox.disconnect", box.id)

    async def _disconnect(self, box: Mailbox) -> None:
        """Ask the provider to stop pushing to us (best effort, bounded in time)."""
        connector: Any = None
        try:
            connector = await build_connector(self.c, box)
            if hasattr(connector, "disconnect"):
                cursor = await self.c.directory.get_sync_state(box.tenant_id, box.id)
                await asyncio.wait_for(connector.disconnect(cursor), DISCONNECT_SECONDS)
        except Exception as exc:  # the mailbox goes anyway
            log.warning("mailbox.disconnect_failed", mailbox=box.id, error=str(exc))
        finally:
            if connector is not None:
                with contextlib.suppress(Exception):
                    await connector.close()

    async def push(self, tenant_id: str, mailbox_id: str) -> None:
        """A provider said the mailbox changed: have its fetcher sync it now."""
        await self._announce(tenant_id, MAILBOX_CHANGED, mailbox_id)

    async def push_by_address(self, provider: str, address: str) -> int:
        """Wake every mailbox of ``provider`` whose account is ``address`` (Gmail's
        Pub/Sub notification names only the address); how many."""
        woken = 0
        for tenant_id in await self.c.directory.list_tenant_ids():
            for box in await self.c.directory.list_mailboxes(tenant_id):
                if (
                    box.provider == provider
                    and str(box.config.get("email", "")).lower() == address.lower()
                ):
                    await self.push(tenant_id, box.id)
                    woken += 1
        return woken
