"""Refused actions in the audit trail: a signed-in caller answered 403 or 404.

A compliance officer wants the attempts as well as the deeds: a member probing
another mailbox's email ids, an auditor trying to delete, a guessed id of another
tenant (which answers 404, never 403). Failed sign-ins are recorded by the Auth
service itself; a request without a valid token has no actor and is not recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from inboxhub.domain.audit import FAILURE
from inboxhub.domain.errors import InboxhubError
from inboxhub.services.audit.publisher import AuditLog

REFUSED = "request.refused"
#: where ``current_principal`` leaves the caller, for this module
PRINCIPAL = "principal"


def refusal_recorder(audit: AuditLog) -> Callable[[Request, InboxhubError], Awaitable[None]]:
    """The hook ``gateway/problems.install`` calls for each domain error answered."""

    async def record(request: Request, exc: InboxhubError) -> None:
        principal = getattr(request.state, PRINCIPAL, None)
        if principal is None or exc.status not in (403, 404):
            return
        route = request.scope.get("route")
        params = request.path_params
        await audit.record(
            principal.tenant_id,
            principal.user_id,
            REFUSED,
            next(iter(params.values()), None) if params else None,
            request.client.host if request.client else None,
            outcome=FAILURE,
            method=request.method,
            route=getattr(route, "path", request.url.path),
            status=exc.status,
            reason=exc.detail,
        )

    return record
