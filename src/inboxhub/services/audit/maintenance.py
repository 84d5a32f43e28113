"""``inboxhub audit verify`` and ``inboxhub audit purge``: over one tenant or all."""

from __future__ import annotations

from datetime import UTC, datetime

from inboxhub.domain.audit import AuditVerification
from inboxhub.domain.errors import NotFound
from inboxhub.runtime import Container, open_container
from inboxhub.settings import Settings


async def tenant_ids(c: Container, slug: str | None) -> list[str]:
    if slug is None:
        return await c.directory.list_tenant_ids()
    tenant = await c.directory.get_tenant_by_slug(slug)
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return [tenant.id]


async def verify_trails(settings: Settings, slug: str | None) -> list[AuditVerification]:
    """Each tenant's chain checked, up to the first broken one."""
    c = await open_container(settings)
    try:
        done = []
        for tenant_id in await tenant_ids(c, slug):
            result = await c.audit.verify(tenant_id)
            done.append(result)
            if not result.ok:
                break
        return done
    finally:
        await c.close()


async def purge_trails(settings: Settings, slug: str | None) -> dict[str, int]:
    """Records purged per tenant (by its retention, none under legal hold)."""
    c = await open_container(settings)
    try:
        now = datetime.now(UTC)
        return {t: await c.audit.purge(t, now) for t in await tenant_ids(c, slug)}
    finally:
        await c.close()
