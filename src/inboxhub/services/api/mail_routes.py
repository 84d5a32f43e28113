"""Labels, the trash and deletion, one email or up to 1000 at once, and the count of
emails per label (``GET /api/v1/labels``).

The trash is a label (``domain.labels``): ``/trash`` adds ``Trash``, ``/untrash``
takes the trash labels off again, and the list (``GET /api/v1/emails``) and search
leave the trash out unless asked (``?in=trash``, ``in:trash``). ``DELETE`` is for
good: the document and its index entry go (the raw message's blob stays, being
content-addressed and perhaps shared). Every change is audited and queued for the
provider (``edits.py``); another tenant's ids are not found.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.services.api.edits import Edit
from inboxhub.services.api.mail_schemas import (
    BulkDeleteResult,
    BulkIds,
    BulkLabels,
    BulkResult,
    LabelCountItem,
    LabelList,
    LabelsChange,
)
from inboxhub.services.api.routes import CACHE_HEADERS, EmailApi, view_etag
from inboxhub.services.api.schemas import EmailView
from inboxhub.services.gateway.security import Principal, current_principal


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_router(api: EmailApi) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["emails"])

    async def bulk(
        principal: Principal, request: Request, ids: list[str], edit: Edit, action: str
    ) -> BulkResult:
        found, missing = await api.writable(principal, ids)
        changed, gone = await api.editor.edit(principal.tenant_id, found, edit)
        detail = edit.labels.model_dump(exclude_none=True) if edit.labels else {}
        await api.audit.record(
            principal.tenant_id,
            principal.user_id,
            action,
            None,
            _ip(request),
            count=len(changed),
            **detail,
        )
        return BulkResult(updated=len(changed), not_found=[*missing, *gone])

    @router.post("/emails/labels", response_model=BulkResult)
    async def bulk_labels(
        body: BulkLabels, request: Request, principal: Principal = Depends(current_principal)
    ) -> BulkResult:
        """Add and remove labels (or replace them all) on up to 1000 emails."""
        change = LabelsChange.model_validate(body.model_dump(exclude={"ids"}))
        if change.empty:
            raise InvalidInput("give add, remove or replace")
        return await bulk(principal, request, body.ids, Edit(labels=change), "email.label")

    def trash_routes(name: str, into: bool) -> None:
        """``/emails/{id}/<name>`` and ``/emails/<name>`` (bulk): into or out of it."""
        action, edit = f"email.{name}", Edit(trash=into)

        @router.post(f"/emails/{{email_id}}/{name}", response_model=EmailView, name=name)
        async def one(
            email_id: str,
            request: Request,
            response: Response,
            principal: Principal = Depends(current_principal),
        ) -> EmailView:
            doc = await api.edit_one(principal, email_id, edit)
            await api.audit.record(
                principal.tenant_id, principal.user_id, action, email_id, _ip(request)
            )
            response.headers.update({"ETag": view_etag(doc), **CACHE_HEADERS})
            return EmailView.of_document(doc)

        @router.post(f"/emails/{name}", response_model=BulkResult, name=f"bulk_{name}")
        async def many(
            body: BulkIds, request: Request, principal: Principal = Depends(current_principal)
        ) -> BulkResult:
            return await bulk(principal, request, body.ids, edit, action)

    trash_routes("trash", True)  # Gmail's trash: out of the way, not gone
    trash_routes("untrash", False)  # back where it was

    @router.delete("/emails/{email_id}", status_code=204)
    async def delete_email(
        email_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        """Delete the email for good, here and at the provider (not just to the trash)."""
        found, _ = await api.writable(principal, [email_id])
        if not found or not await api.editor.delete(principal.tenant_id, found):
            raise NotFound(f"no email {email_id}")
        await api.audit.record(
            principal.tenant_id, principal.user_id, "email.delete", email_id, _ip(request)
        )
        return Response(status_code=204)

    @router.post("/emails/delete", response_model=BulkDeleteResult)
    async def bulk_delete(
        body: BulkIds, request: Request, principal: Principal = Depends(current_principal)
    ) -> BulkDeleteResult:
        """Delete up to 1000 emails for good."""
        found, missing = await api.writable(principal, body.ids)
        deleted = await api.editor.delete(principal.tenant_id, found)
        await api.audit.record(
            principal.tenant_id,
            principal.user_id,
            "email.delete",
            None,
            _ip(request),
            count=deleted,
        )
        return BulkDeleteResult(deleted=deleted, not_found=missing)

    @router.get("/labels", response_model=LabelList)
    async def labels(
        request: Request,
        mailbox_id: str | None = None,
        principal: Principal = Depends(current_principal),
    ) -> LabelList:
        """Every label of the caller's emails (of ``mailbox_id``, if given) with how
        many emails have it and how many of those are unread. An email in the trash
        counts under the trash only."""
        boxes = await api.mailbox_ids(principal, mailbox_id)
        counts = await api.emails.label_counts(principal.tenant_id, boxes)
        await api.access.audited(principal, "label.list", mailbox_id, _ip(request))
        return LabelList(
            items=[LabelCountItem(name=c.name, total=c.total, unread=c.unread) for c in counts]
        )

    return router
