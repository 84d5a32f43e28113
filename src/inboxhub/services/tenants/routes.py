"""``/api/v1/mailboxes``: mailbox connections and their sync status.

Each user lists and reads the mailboxes whose mail they read (a member: those
assigned to them, ``/mailboxes/{id}/members``; ``services/api/access.py``); admins
connect, change, pause and disconnect them, and assign them. Secrets are
write-only: the API says which are set, never what they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from inboxhub.domain.errors import (
    Forbidden,
    InboxhubError,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from inboxhub.domain.models import Mailbox, SyncStatus
from inboxhub.runtime import Container
from inboxhub.services.api.access import MailAccess
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.fetcher.registry import PROVIDERS
from inboxhub.services.gateway.problems import declares
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.tenants.mailbox_admin import MailboxAdmin
from inboxhub.services.tenants.oauth_consent import OAuthConsent

Provider = Literal["imap", "gmail", "graph", "ews", "local"]
assert set(PROVIDERS) == set(Provider.__args__)  # type: ignore[attr-defined]


class MailboxItem(BaseModel):
    id: str
    name: str
    provider: str
    status: str
    created_at: datetime
    total: int
    unread: int = Field(description="emails not seen")
    sync: SyncStatus


class MailboxList(BaseModel):
    items: list[MailboxItem]


class MailboxLabel(BaseModel):
    name: str
    total: int
    unread: int = Field(description="emails not seen")


class MailboxDetail(MailboxItem):
    updated_at: datetime | None = None
    settings: dict[str, Any]
    secrets_set: list[str] = Field(description="secret settings that have a value")
    labels: list[MailboxLabel] = Field(
        default=[], description="its emails' labels (folders), as GET /api/v1/labels counts"
    )


class MailboxCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    provider: Provider
    settings: dict[str, Any] = {}


class MailboxUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = Field(
        default=None, description="changed settings; secrets left out keep their values"
    )
    status: Literal["active", "paused"] | None = None


class ConsentStart(BaseModel):
    authorization_url: str


class MailboxMembers(BaseModel):
    user_ids: list[str] = Field(max_length=10_000, description="users of the tenant")


def _admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only tenant admins manage mailbox connections")
    return principal


async def require_admin(principal: Principal = Depends(current_principal)) -> Principal:
    return _admin(principal)


def build_router(c: Container) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["mailboxes"])
    admin = MailboxAdmin(c, AuditLog(c.bus))
    consent = OAuthConsent(admin)
    access = MailAccess(c.directory, c.access, AuditLog(c.bus))

    async def readable(principal: Principal, mailbox_id: str) -> Mailbox:
        if not await access.may_read(principal, mailbox_id):
            raise NotFound(f"no mailbox {mailbox_id}")
        return await admin.get(principal.tenant_id, mailbox_id)

    async def items(boxes: list[Mailbox]) -> list[MailboxItem]:
        """The boxes (all of one tenant) as listed, their unread counts in one query."""
        if not boxes:
            return []
        unread = await c.emails.count_unread(boxes[0].tenant_id, [b.id for b in boxes])
        return [
            MailboxItem(
                **box.model_dump(include={"id", "name", "provider", "status", "created_at"}),
                total=await c.emails.count(box.tenant_id, [box.id]),
                unread=unread.get(box.id, 0),
                sync=await admin.status(box),
            )
            for box in boxes
        ]

    async def detail(box: Mailbox) -> MailboxDetail:
        labels = await c.emails.label_counts(box.tenant_id, [box.id])  # one grouped query
        return MailboxDetail(
            **(await items([box]))[0].model_dump(),
            updated_at=box.updated_at,
            settings=box.config,
            secrets_set=await admin.secret_names(box),
            labels=[MailboxLabel(name=n.name, total=n.total, unread=n.unread) for n in labels],
        )

    @router.get("/mailboxes", response_model=MailboxList)
    async def list_mailboxes(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> MailboxList:
        boxes = await access.mailboxes(principal)
        await access.audited(principal, "mailbox.list", None, _ip(request))
        return MailboxList(items=await items(boxes))

    @router.post("/mailboxes", response_model=MailboxDetail, status_code=201)
    async def create_mailbox(
        body: MailboxCreate, principal: Principal = Depends(require_admin)
    ) -> MailboxDetail:
        box = await admin.create(
            principal.tenant_id, principal.user_id, body.name, body.provider, body.settings
        )
        return await detail(box)

    @router.get("/mailboxes/{mailbox_id}", response_model=MailboxDetail)
    async def get_mailbox(
        mailbox_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> MailboxDetail:
        box = await readable(principal, mailbox_id)
        await access.audited(principal, "mailbox.read", mailbox_id, _ip(request))
        return await detail(box)

    @router.get("/mailboxes/{mailbox_id}/members", response_model=MailboxMembers)
    async def get_members(
        mailbox_id: str, principal: Principal = Depends(require_admin)
    ) -> MailboxMembers:
        """The members assigned to the mailbox (owners, admins and auditors see every
        mailbox without being assigned)."""
        box = await admin.get(principal.tenant_id, mailbox_id)
        return MailboxMembers(user_ids=await c.access.members(box.tenant_id, box.id))

    @router.put("/mailboxes/{mailbox_id}/members", response_model=MailboxMembers)
    async def set_members(
        mailbox_id: str, body: MailboxMembers, principal: Principal = Depends(require_admin)
    ) -> MailboxMembers:
        """Assign the mailbox to exactly these users of the tenant."""
        box = await admin.get(principal.tenant_id, mailbox_id)
        wanted = sorted(set(body.user_ids))
        for user_id in wanted:
            if await c.directory.get_user(box.tenant_id, user_id) is None:
                raise InvalidInput(f"no user {user_id} in this tenant")
        await c.access.set_members(box.tenant_id, box.id, wanted)
        await AuditLog(c.bus).record(
            box.tenant_id, principal.user_id, "mailbox.members", box.id, user_ids=wanted
        )
        return MailboxMembers(user_ids=wanted)

    @router.patch("/mailboxes/{mailbox_id}", response_model=MailboxDetail)
    async def update_mailbox(
        mailbox_id: str, body: MailboxUpdate, principal: Principal = Depends(require_admin)
    ) -> MailboxDetail:
        box = await admin.update(
            principal.tenant_id,
            principal.user_id,
            mailbox_id,
            body.name,
            body.settings,
            body.status,
        )
        return await detail(box)

    @router.delete("/mailboxes/{mailbox_id}", status_code=204)
    async def delete_mailbox(
        mailbox_id: str, principal: Principal = Depends(require_admin)
    ) -> Response:
        await admin.delete(principal.tenant_id, principal.user_id, mailbox_id)
        await c.access.set_members(principal.tenant_id, mailbox_id, [])
        return Response(status_code=204)

    @router.post("/mailboxes/{mailbox_id}/sync", status_code=202)
    async def sync_now(mailbox_id: str, principal: Principal = Depends(require_admin)) -> Response:
        """Have the fetcher sync the mailbox now rather than at its next push or poll."""
        box = await admin.get(principal.tenant_id, mailbox_id)
        await admin.push(box.tenant_id, box.id)
        return Response(status_code=202)

    @router.get("/mailboxes/oauth/{provider}/authorize", response_model=ConsentStart)
    async def start_consent(
        provider: Literal["gmail", "graph"],
        name: str | None = Query(default=None, max_length=200),
        return_to: str | None = Query(
            default=None,
            max_length=200,
            description="a path of this site the callback sends the browser back to "
            "(with ?connected=<mailbox id> or ?error=<why>) instead of answering JSON",
        ),
        principal: Principal = Depends(require_admin),
    ) -> ConsentStart:
        """The provider's consent URL; send the admin's browser there."""
        url = consent.start(principal.tenant_id, principal.user_id, provider, name, return_to)
        return ConsentStart(authorization_url=url)

    @router.get(
        "/mailboxes/oauth/{provider}/callback",
        response_model=MailboxDetail,
        status_code=201,
        responses={
            **declares(401),
            303: {"description": "started with return_to: back to that page of the web app"},
        },
    )
    async def finish_consent(
        provider: Literal["gmail", "graph"],
        state: str = Query(max_length=4096),
        code: str | None = Query(default=None, max_length=4096),
        error: str | None = Query(default=None, max_length=200),
        error_description: str | None = Query(default=None, max_length=2000),
    ) -> MailboxDetail | RedirectResponse:
        """Where the provider sends the browser back; the sealed ``state`` says who
        asked, so no bearer token is needed here. A refused consent comes back as
        ``error`` (RFC 6749 §4.1.2.1) and is reported as such."""
        try:
            return_to = consent.read_state(provider, state).get("r")
        except Unauthorized:
            return_to = None  # answered below as before: the error, or 401 for the state
        try:
            if error or not code:
                reason = f"{error or 'no code'}: {error_description or ''}".rstrip(": ")
                raise InvalidInput(f"the mailbox was not connected; the provider said {reason}")
            connected = await detail(await consent.callback(provider, code, state))
        except InboxhubError as exc:
            if not return_to:
                raise
            return _back(return_to, error=exc.detail)
        return _back(return_to, connected=connected.id) if return_to else connected

    return router


def _back(return_to: str, **outcome: str) -> RedirectResponse:
    """The web app's page the consent started from, told how it went."""
    return RedirectResponse(f"{return_to}?{urlencode(outcome)}", status_code=303)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_push_routers(c: Container) -> list[APIRouter]:
    """The endpoints Google Pub/Sub and Microsoft Graph notify (no bearer token:
    each checks its own shared secret)."""
    from inboxhub.services.fetcher import push_gmail, push_graph

    admin = MailboxAdmin(c, AuditLog(c.bus))

    async def wake_gmail(address: str, history_id: int) -> int:
        return await admin.push_by_address("gmail", address)

    return [
        push_gmail.build_router(c.settings, wake_gmail),
        push_graph.build_router(c.settings, admin.push),
    ]
