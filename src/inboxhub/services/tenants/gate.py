"""Is a tenant let in? A suspended (or deleted) tenant's users may not sign in, refresh
their tokens or use the ones they hold.

Every request asks, so the answer is cached for a few seconds per process: a
suspension takes effect at once in the process that made it (``forget``) and within
``TTL`` seconds everywhere else.
"""

from __future__ import annotations

import time

from inboxhub.domain.errors import Unauthorized
from inboxhub.ports import Directory

TTL = 5.0
SUSPENDED = "the tenant is suspended"
_known: dict[str, tuple[float, bool]] = {}  # tenant id → (valid until, active)


async def tenant_active(directory: Directory, tenant_id: str) -> bool:
    now = time.monotonic()
    cached = _known.get(tenant_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    tenant = await directory.get_tenant(tenant_id)
    active = tenant is not None and tenant.status == "active"
    _known[tenant_id] = (now + TTL, active)
    return active


async def require_active_tenant(directory: Directory, tenant_id: str) -> None:
    if not await tenant_active(directory, tenant_id):
        raise Unauthorized(SUSPENDED, www_authenticate="Bearer")


def forget(tenant_id: str) -> None:
    """The tenant's status changed here: ask the directory next time."""
    _known.pop(tenant_id, None)
