"""The Email API routes. Every lookup is scoped to the caller's tenant, so another
tenant's ids are simply not found (404, never 403)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from inboxhub.domain.errors import NotFound
from inboxhub.domain.ids import attachment_blob_key
from inboxhub.domain.models import Attachment, EmailDocument
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import resolve_mailboxes
from inboxhub.ports import BlobStore, Directory, EmailStore, ListCursor, SearchIndex
from inboxhub.services.api import cursor
from inboxhub.services.api.schemas import (
    DownloadUrl,
    EmailItem,
    EmailPage,
    EmailView,
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


@dataclass
class EmailApi:
    emails: EmailStore
    search: SearchIndex
    blobs: BlobStore
    directory: Directory
    audit: AuditLog

    async def mailbox_ids(self, principal: Principal, mailbox_id: str | None) -> list[str]:
        """The mailboxes this caller may read, narrowed to ``mailbox_id`` if given."""
        if mailbox_id is not None:
            if await self.directory.get_mailbox(principal.tenant_id, mailbox_id) is None:
                raise NotFound(f"no mailbox {mailbox_id}")
            return [mailbox_id]
        return [m.id for m in await self.directory.list_mailboxes(principal.tenant_id)]

    async def email(self, principal: Principal, email_id: str) -> EmailDocument:
        doc = await self.emails.get(principal.tenant_id, email_id)
        if doc is None:
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
        mailbox_id: str | None = None,
        limit: int = Query(50, ge=1, le=500),
        cursor_: str | None = Query(None, alias="cursor"),
        principal: Principal = Depends(current_principal),
    ) -> EmailPage:
        boxes = await api.mailbox_ids(principal, mailbox_id)
        after = cursor.decode(cursor_) if cursor_ else None
        rows = await api.emails.list(principal.tenant_id, boxes, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            cursor.encode(ListCursor(rows[-1].sort_date, rows[-1].id)) if more and rows else None
        )
        return EmailPage(items=[EmailItem.of(r) for r in rows], next_cursor=next_cursor)

    @router.get("/emails/{email_id}", response_model=EmailView)
    async def view_email(
        email_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> EmailView:
        doc = await api.email(principal, email_id)
        await api.audit.record(
            principal.tenant_id, principal.user_id, "email.read", email_id, _ip(request)
        )
        return EmailView.of_document(doc)

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
        body = await _download(api.blobs, doc.blob_key, record)
        headers = {
            **UNTRUSTED_CONTENT_HEADERS,
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
        key = attachment_blob_key(principal.tenant_id, att.sha256)
        body = await _download(api.blobs, key, record)
        headers = {
            **UNTRUSTED_CONTENT_HEADERS,
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

    @router.get("/search", response_model=SearchResult)
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
        names = {
            m.name.casefold(): m.id for m in await api.directory.list_mailboxes(principal.tenant_id)
        }
        query = resolve_mailboxes(parse_query(q), names)
        boxes = await api.mailbox_ids(principal, mailbox_id)
        page = await api.search.search(
            principal.tenant_id, query, boxes, limit, cursor_, order, facets
        )
        summaries = {
            s.id: s
            for s in await api.emails.summaries(principal.tenant_id, [h.id for h in page.hits])
        }
        items = [
            SearchItem(**EmailItem.of(summaries[h.id]).model_dump(), highlights=h.highlights)
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
            facets=page.facets if facets else None,
        )

    return router


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
