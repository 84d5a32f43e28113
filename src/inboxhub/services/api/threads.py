"""Conversations: ``GET /api/v1/threads`` and ``GET /api/v1/threads/{thread_id}``.

A conversation spans the user's mailboxes (a reply filed in Sent, the question in
the Inbox). ``mailbox_id`` narrows the list to conversations with a message there,
ordered by their latest message there; what each shows counts all its messages.
Copies of one message in several mailboxes show once (``dedup.py``). Messages in
the trash are left out of both.
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Depends, Query, Request

from inboxhub.domain.errors import NotFound
from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import Address, EmailSummary
from inboxhub.ports import ListCursor
from inboxhub.services.api import cursor
from inboxhub.services.api.dedup import Shown, collapse, list_order
from inboxhub.services.api.routes import EmailApi, narrowed
from inboxhub.services.api.schemas import EmailItem
from inboxhub.services.api.thread_schemas import (
    ThreadMessage,
    ThreadPage,
    ThreadSummary,
    ThreadView,
)
from inboxhub.services.gateway.security import Principal, current_principal


def messages(emails: list[EmailSummary]) -> list[Shown]:
    """A conversation's emails as messages, each once, oldest first."""
    return sorted(collapse(emails), key=lambda m: list_order(m.email))


def summary(thread_id: str, shown: list[Shown]) -> ThreadSummary:
    first, latest = shown[0].email, shown[-1].email
    participants: dict[str, Address] = {}
    for m in shown:
        sender = m.email.from_
        if sender is not None and (sender.email or sender.name):
            participants.setdefault((sender.email or sender.name).casefold(), sender)
    copies = [c for m in shown for c in m.copies]
    return ThreadSummary(
        thread_id=thread_id,
        subject=first.subject,
        participants=list(participants.values()),
        message_count=len(shown),
        unread_count=sum(not m.seen for m in shown),
        mailbox_ids=list(dict.fromkeys(c.mailbox_id for c in copies)),
        date=latest.sort_date,
        latest_id=latest.id,
        snippet=latest.snippet,
        has_attachments=any(c.has_attachments for c in copies),
        flagged=any(c.flags.flagged for c in copies),
        labels=list(dict.fromkeys(label for c in copies for label in c.labels)),
    )


def message_item(position: int, m: Shown) -> ThreadMessage:
    item = EmailItem.of(m.email, m.others)
    return ThreadMessage(**item.model_dump(), position=position, in_reply_to=m.email.in_reply_to)


async def _members(
    api: EmailApi, tenant_id: str, thread_ids: list[str], mailbox_ids: set[str]
) -> dict[str, list[EmailSummary]]:
    """The emails of each thread that the caller may read (those in its mailboxes),
    without those in the trash."""
    found: dict[str, list[EmailSummary]] = defaultdict(list)
    for e in await api.emails.thread_emails(tenant_id, thread_ids):
        if e.mailbox_id in mailbox_ids and not in_trash(e.labels):
            found[e.thread_id].append(e)
    return found


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_router(api: EmailApi) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["threads"])

    @router.get("/threads", response_model=ThreadPage)
    async def list_threads(
        request: Request,
        mailbox_id: str | None = None,
        limit: int = Query(50, ge=1, le=200),
        cursor_: str | None = Query(None, alias="cursor"),
        principal: Principal = Depends(current_principal),
    ) -> ThreadPage:
        """Conversations, the one with the newest message first."""
        everywhere = await api.mailbox_ids(principal, None)
        boxes = narrowed(everywhere, mailbox_id)
        after = cursor.decode(cursor_) if cursor_ else None
        heads = await api.emails.list_threads(principal.tenant_id, boxes, limit + 1, after)
        more, heads = len(heads) > limit, heads[:limit]
        members = await _members(
            api, principal.tenant_id, [h.thread_id for h in heads], set(everywhere)
        )
        items = [
            summary(h.thread_id, messages(members[h.thread_id]))
            for h in heads
            if members[h.thread_id]
        ]
        last = heads[-1] if more and heads else None
        await api.access.audited(
            principal, "thread.list", mailbox_id, _ip(request), count=len(items), cursor=cursor_
        )
        return ThreadPage(
            items=items,
            next_cursor=cursor.encode(ListCursor(last.sort_date, last.id)) if last else None,
        )

    @router.get("/threads/{thread_id}", response_model=ThreadView)
    async def view_thread(
        thread_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> ThreadView:
        """A conversation's messages, oldest first, from every mailbox of the caller."""
        boxes = set(await api.mailbox_ids(principal, None))
        members = await _members(api, principal.tenant_id, [thread_id], boxes)
        if not members[thread_id]:
            raise NotFound(f"no thread {thread_id}")
        shown = messages(members[thread_id])
        await api.audit.record(
            principal.tenant_id,
            principal.user_id,
            "thread.read",
            thread_id,
            _ip(request),
            messages=len(shown),
        )
        return ThreadView(
            **summary(thread_id, shown).model_dump(),
            messages=[message_item(i, m) for i, m in enumerate(shown)],
        )

    return router
