"""The Email API routes. Every lookup is scoped to the caller's tenant, so another
tenant's ids are simply not found (404, never 403).

What a user reads is revalidated, never cached blindly: the view, the raw message
and each attachment carry a strong ``ETag`` with ``Cache-Control: private,
no-cache``, and ``If-None-Match`` answers 304 without a body. The raw message and
attachments are named by their content's SHA-256, which is their ETag; the view's
also covers what can change on a stored email (flags, labels, the parser's schema).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.domain.ids import attachment_blob_key
from inboxhub.domain.labels import scope_trash
from inboxhub.domain.models import Attachment, EmailDocument, EmailSummary
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import resolve_mailboxes
from inboxhub.ports import (
    BlobStore,
    Directory,
    EmailStore,
    EventBus,
    ListCursor,
    SearchIndex,
    SyncStore,
)
from inboxhub.services.api import cursor, states
from inboxhub.services.api.access import MailAccess
from inboxhub.services.api.dedup import Shown, deduplicated_page
from inboxhub.services.api.edits import Edit, MailEditor
from inboxhub.services.api.schemas import (
    BulkFlags,
    BulkFlagsResult,
    DownloadUrl,
    EmailItem,
    EmailPage,
    EmailPatch,
    EmailView,
    FlagsChange,
    SearchItem,
    SearchResult,
)
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal, current_principal

# Served bytes come from strangers' mail: never let a browser run them on our origin.
UNTRUSTED_CONTENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
DOWNLOAD_URL_SECONDS = 300  # how long a direct download URL works
# Per user, and to be revalidated (cheaply, by ETag) before every reuse.
CACHE_HEADERS = {"Cache-Control": "private, no-cache"}


@dataclass
class EmailApi:
    emails: EmailStore
    search: SearchIndex
    blobs: BlobStore
    directory: Directory
    audit: AuditLog
    bus: EventBus
    sync: SyncStore  # the outbox of changes for the providers
    access: MailAccess  # who sees and changes which mailboxes' mail
    editor: MailEditor = field(init=False)

    def __post_init__(self) -> None:
        self.editor = MailEditor(self.emails, self.search, self.bus, self.sync)

    async def mailbox_ids(self, principal: Principal, mailbox_id: str | None) -> list[str]:
        """The mailboxes this caller may read, narrowed to ``mailbox_id`` if given."""
        return narrowed(await self.access.readable(principal), mailbox_id)

    async def email(self, principal: Principal, email_id: str) -> EmailDocument:
        doc = await self.emails.get(principal.tenant_id, email_id)
        if doc is None or not await self.access.may_read(principal, doc.mailbox_id):
            raise NotFound(f"no email {email_id}")
        return doc

    async def attachment(
        self, principal: Principal, email_id: str, attachment_id: str
    ) -> Attachment:
        doc = await self.email(principal, email_id)
        att = next((a for a in doc.attachments if a.id == attachment_id), None)
        if att is None:
            raise NotFound(f"no attachment {attachment_id} in email {email_id}")
        return att

    async def found(
        self, principal: Principal, ids: Sequence[str]
    ) -> tuple[list[EmailSummary], list[str]]:
        """The caller's emails of ``ids`` (each once), and the ids naming none."""
        wanted = list(dict.fromkeys(ids))
        emails = await self.emails.summaries(principal.tenant_id, wanted)
        emails = await self.access.readable_only(principal, emails)
        known = {e.id for e in emails}
        return emails, [i for i in wanted if i not in known]

    async def writable(
        self, principal: Principal, ids: Sequence[str]
    ) -> tuple[list[EmailSummary], list[str]]:
        """``found``, for a change: 403 if the caller may not change them all."""
        allowed = await self.access.writable(principal)  # a reader only: 403 before any lookup
        emails, missing = await self.found(principal, ids)
        self.access.check_write(allowed, [e.mailbox_id for e in emails])
        return emails, missing

    async def edit_one(self, principal: Principal, email_id: str, edit: Edit) -> EmailDocument:
        """Apply ``edit`` to one email; the email as it is now (404 if none)."""
        allowed = await self.access.writable(principal)
        doc = await self.email(principal, email_id)
        self.access.check_write(allowed, [doc.mailbox_id])
        changed, gone = await self.editor.edit(principal.tenant_id, [doc.summary()], edit)
        if gone:
            raise NotFound(f"no email {email_id}")
        if changed:
            doc = doc.model_copy(update={"flags": changed[0].flags, "labels": changed[0].labels})
        return doc


def narrowed(readable: list[str], mailbox_id: str | None) -> list[str]:
    """``readable`` (the caller's mailbox ids), or only ``mailbox_id`` if given: 404
    when it is not one of them."""
    if mailbox_id is None:
        return readable
    if mailbox_id not in readable:
        raise NotFound(f"no mailbox {mailbox_id}")
    return [mailbox_id]


def view_etag(doc: EmailDocument) -> str:
    """Strong ETag of the EmailView: the message's content hash, with what may change
    on the stored document without changing the message."""
    state = json.dumps(
        [doc.sha256, doc.schema_version, doc.flags.model_dump(), doc.labels], sort_keys=True
    )
    return f'"v-{hashlib.sha256(state.encode()).hexdigest()[:40]}"'


def content_etag(sha256: str) -> str:
    """Strong ETag of immutable bytes named by their SHA-256."""
    return f'"{sha256}"'


def not_modified(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or is ``*``), compared weakly as
    RFC 9110 §13.1.2 says."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def _not_modified_response(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, **CACHE_HEADERS})


async def _download(
    blobs: BlobStore, key: str, record: Callable[[], Awaitable[None]]
) -> AsyncGenerator[bytes, None]:
    """``blobs.stream(key)`` with its first chunk already read, so that a missing blob
    is a 404 before the response starts (not a download that breaks off), and then
    the download ``record``-ed. The result closes the store's stream when it ends or
    is closed (or, never started, when the stream is collected)."""
    chunks = blobs.stream(key)
    try:
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""  # an empty blob
        await record()
    except BaseException:
        await _close(chunks)
        raise

    async def all_chunks() -> AsyncGenerator[bytes, None]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await _close(chunks)

    return all_chunks()


async def _close(chunks: AsyncIterator[bytes]) -> None:
    if isinstance(chunks, AsyncGenerator):
        await chunks.aclose()


def _attachment_disposition(filename: str) -> str:
    # RFC 6266 + RFC 8187: an ASCII fallback and the exact name percent-encoded.
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return (
        f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(filename)}"
    )


def build_router(api: EmailApi) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["emails"])

    @router.get("/emails", response_model=EmailPage)
    async def list_emails(
        request: Request,
        mailbox_id: str | None = None,
        limit: int = Query(50, ge=1, le=500),
        cursor_: str | None = Query(None, alias="cursor"),
        in_: Literal["trash", "anywhere"] | None = Query(
            None, alias="in", description="the trash only, or everything (default: not it)"
        ),
        principal: Principal = Depends(current_principal),
    ) -> EmailPage:
        """Newest first, without the trash unless ``in`` asks for it. Across all
        mailboxes (no ``mailbox_id``), a message delivered to several of them is
        listed once, with all its mailboxes (``dedup.py``)."""
        boxes = await api.mailbox_ids(principal, mailbox_id)
        after = cursor.decode(cursor_) if cursor_ else None
        trash = {"trash": True, "anywhere": None}.get(in_ or "", False)
        state = states.encode(await api.emails.change_state(principal.tenant_id))
        if mailbox_id is None:
            shown, more = await deduplicated_page(
                api.emails, principal.tenant_id, boxes, limit, after, trash
            )
        else:
            rows = await api.emails.list(principal.tenant_id, boxes, limit + 1, after, trash)
            shown, more = [Shown(r, []) for r in rows[:limit]], len(rows) > limit
        last = shown[-1].email if more and shown else None
        next_cursor = cursor.encode(ListCursor(last.sort_date, last.id)) if last else None
        await api.access.audited(
            principal, "email.list", mailbox_id, _ip(request), count=len(shown), cursor=cursor_
        )
        return EmailPage(
            items=[EmailItem.of(s.email, s.others) for s in shown],
            next_cursor=next_cursor,
            state=state,
        )

    @router.get(
        "/emails/{email_id}",
        response_model=EmailView,
        responses={304: {"description": "The ETag in If-None-Match is current"}},
    )
    async def view_email(
        email_id: str,
        request: Request,
        response: Response,
        principal: Principal = Depends(current_principal),
    ) -> EmailView | Response:
        doc = await api.email(principal, email_id)
        etag = view_etag(doc)
        unchanged = not_modified(request, etag)
        await api.audit.record(
            principal.tenant_id,
            principal.user_id,
            "email.read",
            email_id,
            _ip(request),
            **({"not_modified": True} if unchanged else {}),
        )
        if unchanged:
            return _not_modified_response(etag)
        response.headers.update({"ETag": etag, **CACHE_HEADERS})
        return EmailView.of_document(doc)

    @router.patch("/emails/{email_id}", response_model=EmailView)
    async def update_email(
        email_id: str,
        body: EmailPatch,
        request: Request,
        response: Response,
        principal: Principal = Depends(current_principal),
    ) -> EmailView:
        """Change the email's flags (only those given) and/or labels; search follows
        within moments, and the provider when its fetcher next runs."""
        doc = await api.edit_one(principal, email_id, Edit(body.flags, body.labels))
        record = partial(
            api.audit.record,
            principal.tenant_id,
            principal.user_id,
            object_id=email_id,
            ip=_ip(request),
        )
        if body.labels is None or body.flags != FlagsChange():
            await record("email.flag", **body.flags.model_dump(exclude_none=True))
        if body.labels is not None:
            await record("email.label", **body.labels.model_dump(exclude_none=True))
        response.headers.update({"ETag": view_etag(doc), **CACHE_HEADERS})
        return EmailView.of_document(doc)

    @router.post("/emails/flags", response_model=BulkFlagsResult)
    async def bulk_flags(
        body: BulkFlags, request: Request, principal: Principal = Depends(current_principal)
    ) -> BulkFlagsResult:
        """Set ``seen`` and/or ``flagged`` on up to 1000 emails of the tenant."""
        change = FlagsChange.model_validate(body.model_dump(include={"seen", "flagged"}))
        if change == FlagsChange():
            raise InvalidInput("give seen and/or flagged")
        found, missing = await api.writable(principal, body.ids)
        changed, gone = await api.editor.edit(principal.tenant_id, found, Edit(flags=change))
        await api.audit.record(
            principal.tenant_id,
            principal.user_id,
            "email.flag",
            None,
            _ip(request),
            count=len(changed),
            **change.model_dump(exclude_none=True),
        )
        return BulkFlagsResult(updated=len(changed), not_found=[*missing, *gone])

    @router.get(
        "/emails/{email_id}/raw",
        response_class=Response,
        responses={200: {"content": {"message/rfc822": {}}}},
    )
    async def raw_email(
        email_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        doc = await api.email(principal, email_id)
        record = partial(
            api.audit.record,
            principal.tenant_id,
            principal.user_id,
            "email.download_raw",
            email_id,
            _ip(request),
        )
        etag = content_etag(doc.sha256)
        if not_modified(request, etag):
            await record(not_modified=True)
            return _not_modified_response(etag)
        body = await _download(api.blobs, doc.blob_key, record)
        headers = {
            **UNTRUSTED_CONTENT_HEADERS,
            **CACHE_HEADERS,
            "ETag": etag,
            "Content-Disposition": _attachment_disposition(f"{email_id}.eml"),
        }
        return StreamingResponse(body, media_type="message/rfc822", headers=headers)

    @router.get(
        "/emails/{email_id}/attachments/{attachment_id}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    async def attachment(
        email_id: str,
        attachment_id: str,
        request: Request,
        principal: Principal = Depends(current_principal),
    ) -> Response:
        att = await api.attachment(principal, email_id, attachment_id)
        record = partial(
            api.audit.record,
            principal.tenant_id,
            principal.user_id,
            "attachment.download",
            email_id,
            _ip(request),
            attachment_id=attachment_id,
        )
        etag = content_etag(att.sha256)
        if not_modified(request, etag):
            await record(not_modified=True)
            return _not_modified_response(etag)
        key = attachment_blob_key(principal.tenant_id, att.sha256)
        body = await _download(api.blobs, key, record)
        headers = {
            **UNTRUSTED_CONTENT_HEADERS,
            **CACHE_HEADERS,
            "ETag": etag,
            "Content-Disposition": _attachment_disposition(att.filename or "attachment"),
        }
        return StreamingResponse(body, media_type=att.content_type, headers=headers)

    @router.get(
        "/emails/{email_id}/attachments/{attachment_id}/url",
        response_model=DownloadUrl,
        responses={404: {"description": "No such attachment, or no direct downloads"}},
    )
    async def attachment_url(
        email_id: str,
        attachment_id: str,
        request: Request,
        response: Response,
        principal: Principal = Depends(current_principal),
    ) -> DownloadUrl:
        """A URL the attachment downloads from directly (from the blob store, without
        passing through this API), for the next five minutes. 404 when the blob store
        has no such URLs (the embedded one): use the attachment's own endpoint."""
        att = await api.attachment(principal, email_id, attachment_id)
        expires_at = datetime.now(UTC) + timedelta(seconds=DOWNLOAD_URL_SECONDS)
        url = await api.blobs.presigned_url(
            attachment_blob_key(principal.tenant_id, att.sha256),
            DOWNLOAD_URL_SECONDS,
            filename=att.filename or "attachment",
            content_type=att.content_type,
        )
        if url is None:
            raise NotFound(
                "this blob store has no direct download URLs: download the attachment "
                f"from /api/v1/emails/{email_id}/attachments/{attachment_id}"
            )
        await api.audit.record(
            principal.tenant_id,
            principal.user_id,
            "attachment.download_url",
            email_id,
            _ip(request),
            attachment_id=attachment_id,
        )
        response.headers["Cache-Control"] = "no-store"  # the URL is a credential
        return DownloadUrl(url=url, expires_at=expires_at)

    @router.get(
        "/search",
        response_model=SearchResult,
        responses={400: {"description": "the query string cannot be parsed"}},
    )
    async def search(
        request: Request,
        q: str = Query("", max_length=2000),
        mailbox_id: str | None = None,
        limit: int = Query(50, ge=1, le=500),
        cursor_: str | None = Query(None, alias="cursor"),
        order: str = Query("relevance", pattern="^(relevance|date)$"),
        facets: bool = False,
        principal: Principal = Depends(current_principal),
    ) -> SearchResult:
        mailboxes = await api.access.mailboxes(principal)
        names = {m.name.casefold(): m.id for m in mailboxes}
        query = resolve_mailboxes(scope_trash(parse_query(q)), names)
        boxes = narrowed([m.id for m in mailboxes], mailbox_id)
        page = await api.search.search(
            principal.tenant_id, query, boxes, limit, cursor_, order, facets
        )
        summaries = {
            s.id: s
            for s in await api.emails.summaries(principal.tenant_id, [h.id for h in page.hits])
        }
        items = [
            SearchItem.of(summaries[h.id], highlights=h.highlights)
            for h in page.hits
            if h.id in summaries
        ]
        await api.audit.record(
            principal.tenant_id, principal.user_id, "email.search", None, _ip(request), query=q
        )
        return SearchResult(
            items=items,
            next_cursor=page.next_cursor,
            total=page.total,
            total_exact=page.total_exact,
            facets=page.facets if facets else None,
        )

    return router


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
