"""``GET /api/v1/changes?since=``: what changed in the caller's emails since a state,
as JMAP's ``Email/changes``, so that a client syncs incrementally instead of listing
everything again.

A client takes a state (``GET /api/v1/changes/state``, or the ``state`` of the first
page of a full listing, read before it), and later asks for the changes since it:
the ids created, updated (flags, labels, the trash, a thread) and destroyed, and a
new state to ask from next. ``has_more``: more are waiting, ask again at once.

The guarantee is at-least-once: every change after a state is reported by asking
from it (or from the states that follow it), possibly twice, and possibly as an
``updated`` that changed nothing a client shows. On the embedded store states are
exact; on MongoDB the state lags the clock by a few seconds so that the writes of
several processes at once are not missed (``EmailStore`` docstring), so a change
shows up in the feed those few seconds after it is made. A state older than the
store remembers deletions for (30 days) is answered with 410 ``cannot calculate
changes``: list everything again and start from a new state.

The feed covers the mailboxes the caller reads (``access.py``): every mailbox of the
tenant for most roles; for a member, ``created`` and ``updated`` only name emails of
the mailboxes assigned to them (``destroyed`` ids name nothing any longer, and pass
unfiltered). The emails of a mailbox removed since the state are among the
destroyed; those of a mailbox a member is no longer assigned to are not: re-list.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from inboxhub.services.api import states
from inboxhub.services.api.access import sees_all
from inboxhub.services.api.mail_schemas import Changes, ChangeState
from inboxhub.services.api.routes import EmailApi
from inboxhub.services.gateway.security import Principal, current_principal


def build_router(api: EmailApi) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["changes"])

    async def readable(principal: Principal, *ids: list[str]) -> list[list[str]]:
        """Each list of ids without those of emails the caller may not read."""
        if sees_all(principal):
            return list(ids)
        summaries = await api.emails.summaries(principal.tenant_id, [i for i_ in ids for i in i_])
        shown = {e.id for e in await api.access.readable_only(principal, summaries)}
        return [[i for i in i_ if i in shown] for i_ in ids]

    @router.get("/changes/state", response_model=ChangeState)
    async def change_state(principal: Principal = Depends(current_principal)) -> ChangeState:
        """The state now: what changes after it, ``/changes?since=`` tells."""
        return ChangeState(state=states.encode(await api.emails.change_state(principal.tenant_id)))

    @router.get(
        "/changes",
        response_model=Changes,
        responses={410: {"description": "The state is too old: list everything again"}},
    )
    async def changes(
        request: Request,
        since: str | None = Query(None, max_length=500, description="a state from this API"),
        limit: int = Query(500, ge=1, le=5000),
        principal: Principal = Depends(current_principal),
    ) -> Changes:
        """The emails created, updated and destroyed since ``since``, at most ``limit``;
        without ``since``, none, and the state now."""
        if since is None:
            now = states.encode(await api.emails.change_state(principal.tenant_id))
            return Changes(
                old_state=now, new_state=now, created=[], updated=[], destroyed=[], has_more=False
            )
        found = await api.emails.changes(principal.tenant_id, states.decode(since), limit)
        created, updated = await readable(principal, found.created, found.updated)
        await api.access.audited(
            principal,
            "email.changes",
            None,
            request.client.host if request.client else None,
            created=len(created),
            updated=len(updated),
        )
        return Changes(
            old_state=since,
            new_state=states.encode(found.new_state),
            created=created,
            updated=updated,
            destroyed=found.destroyed,
            has_more=found.has_more,
        )

    return router
