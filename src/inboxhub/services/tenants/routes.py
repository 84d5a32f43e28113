"""``GET /api/v1/mailboxes``: the mailboxes the caller may read."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from inboxhub.ports import Directory, EmailStore
from inboxhub.services.gateway.security import Principal, current_principal


class MailboxItem(BaseModel):
    id: str
    name: str
    provider: str
    status: str
    created_at: datetime
    total: int


class MailboxList(BaseModel):
    items: list[MailboxItem]


def build_router(directory: Directory, emails: EmailStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["mailboxes"])

    @router.get("/mailboxes", response_model=MailboxList)
    async def list_mailboxes(principal: Principal = Depends(current_principal)) -> MailboxList:
        boxes = await directory.list_mailboxes(principal.tenant_id)
        items = [
            MailboxItem(
                **m.model_dump(include={"id", "name", "provider", "status", "created_at"}),
                total=await emails.count(principal.tenant_id, [m.id]),
            )
            for m in boxes
        ]
        return MailboxList(items=items)

    return router
