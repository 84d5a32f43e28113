"""Two tenants with every kind of object, and the samples the security suites call with.

Tenant A (``alphaco``) is the one attacked: an owner, an admin, an owner+admin
("boss"), a member, an auditor and a spare user; two mailboxes, one assigned to
the member and one not, each with a thread, an email with an attachment and a pool
of spare emails handed out to the calls that change or delete. Tenant B
(``betaco``) has the same people and mail. A platform operator lives in a third
tenant, as ``inboxhub run``'s bootstrap admin does.

Every text that tenant A owns carries a marker, so a response showing any of A's
data to someone else is found by looking for A's markers in its text.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container
from inboxhub.services.auth import AuthService
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.integration.conftest import settle
from tests.security.openapi_ops import ID_FIELD, Examples, Operation, operations
from tests.support.messages import dated, make_message, write_maildir

PASSWORD = "pass-word-123-security"
PDF = b"%PDF-1.4\n% security suite attachment\n"
POOL = 64  # spare emails per mailbox of A, one per call that changes or deletes one

#: who logs in, by the name the suites use: roles in their tenant
PEOPLE = {
    "owner": ("owner",),
    "admin": ("admin",),
    "boss": ("owner", "admin"),
    "member": ("member",),
    "auditor": ("auditor",),
    "spare": ("member",),  # a user the calls on users change and delete
}


class MissingSample(LookupError):
    """A parameter names an object the suite cannot yet make: the suite must learn it."""


@dataclass
class Box:
    """One mailbox's samples."""

    mailbox_id: str
    email_id: str  # has an attachment
    thread_id: str  # a thread of two emails
    attachments: dict[str, str]  # email id → its attachment id
    pool: list[str]  # spare email ids


@dataclass
class Party:
    id: str
    slug: str
    users: dict[str, str] = field(default_factory=dict)  # name → user id
    emails: dict[str, str] = field(default_factory=dict)  # name → address
    tokens: dict[str, str] = field(default_factory=dict)  # name → access token
    boxes: dict[str, Box] = field(default_factory=dict)  # "assigned" / "unassigned"
    domain: str = ""


@dataclass
class Call:
    """A request, ready to send."""

    method: str
    url: str
    params: dict[str, Any]
    body: Any
    aimed: bool = False  # names one of the party's objects in its path or query

    @property
    def text(self) -> str:
        return f"{self.url} {self.params} {self.body}"


@dataclass
class World:
    c: Container
    app: FastAPI
    auth: AuthService
    client: httpx.AsyncClient
    a: Party
    b: Party
    platform: Party
    root: Path
    markers: set[str] = field(default_factory=set)  # texts only tenant A's data holds
    counter: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def doc(self) -> dict[str, Any]:
        return self.app.openapi()

    def operations(self) -> list[Operation]:
        return list(operations(self.doc))

    async def send(self, call: Call, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.request(
            call.method, call.url, params=call.params, json=call.body, headers=headers
        )

    async def first_chunk(self, call: Call, token: str | None) -> tuple[int, bytes]:
        """The status and first body chunk of a streaming response, then hang up
        (an in-process client would wait for an endless stream to end)."""
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": call.method,
            "scheme": "http",
            "path": call.url,
            "raw_path": call.url.encode(),
            "query_string": b"",
            "headers": [(b"host", b"test"), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }
        got: list[dict[str, Any]] = []
        hang_up = asyncio.Event()
        sent_request = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await hang_up.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            got.append(message)
            if message["type"] == "http.response.body":
                hang_up.set()

        await self.app(scope, receive, send)
        start = next(m for m in got if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in got if m["type"] == "http.response.body")
        return start["status"], body

    # -- samples -----------------------------------------------------------------

    async def call(self, op: Operation, party: Party, scope: str, fresh: bool) -> Call:
        """``op`` aimed at ``party``'s objects of ``scope``; with ``fresh`` at objects
        made for this call alone (it may change or delete them)."""
        known: dict[str, Any] = {}
        box = party.boxes[scope]

        async def sample(name: str) -> Any:
            if name not in known:
                known[name] = await self._sample(name, op, party, box, fresh, known)
            return known[name]

        examples = Examples(self.doc)
        path, aimed = op.path, False
        for p in op.params("path"):
            schema = examples.resolve(p.get("schema", {}))
            value = await sample(p["name"])
            aimed = aimed or value is not None
            if value is None and ("enum" in schema or "const" in schema):
                value = examples.value(schema)
            if value is None:
                raise MissingSample(f"{op.key}: add a sample for {{{p['name']}}}")
            path = path.replace("{" + p["name"] + "}", str(value))
        params: dict[str, Any] = {}
        for p in op.params("query"):
            value = await sample(p["name"]) if _names_object(p["name"]) else None
            aimed = aimed or value is not None
            if value is None and p.get("required"):
                value = examples.value(p.get("schema", {}), p["name"])
            if value is not None:
                params[p["name"]] = value
        body = None
        if op.body_schema is not None:
            for name in _id_fields(examples, op.body_schema):
                await sample(name)
            body = examples.value(op.body_schema, fill=known.get)
        return Call(op.method.upper(), path, params, body, aimed)

    async def _sample(
        self, name: str, op: Operation, party: Party, box: Box, fresh: bool, known: dict[str, Any]
    ) -> Any:
        if name in ("email_id", "ids", "email_ids"):
            if fresh and not box.pool:
                raise MissingSample("out of spare emails: raise world.POOL")
            email = box.pool.pop() if fresh else box.email_id
            known["email_id"] = email
            return email if name == "email_id" else [email]
        if name == "attachment_id":
            email = known.get("email_id") or box.email_id
            return box.attachments[email]
        if name == "mailbox_id":
            return await self.new_mailbox(party, box) if fresh else box.mailbox_id
        if name == "thread_id":
            return box.thread_id
        if name in ("user_id", "user_ids"):
            user = await self.new_user(party) if fresh else party.users["spare"]
            return user if name == "user_id" else [user]
        if name == "tenant_id":  # a new one for the calls on the tenant itself (suspend...)
            itself = fresh and op.path_params[-1:] == ["tenant_id"]
            return (
                (await self.c.directory.create_tenant(f"t{self.n()}", "Spare")).id
                if itself
                else party.id
            )
        if name == "tenant_slug":
            return party.slug
        if name in ("domain", "domain_id"):
            return await self.new_domain(party) if fresh else party.domain
        if name == "selector":  # a DKIM key of the domain the path names
            return await self.new_dkim_key(party, known.get("domain") or party.domain)
        maker = EXTRA_SAMPLES.get(name)
        return None if maker is None else await maker(self, party, fresh)

    async def token(self, party: Party, name: str) -> str:
        """A new access token of one of ``party``'s people: a call before may have
        revoked the last one (a logout, a password change of the caller)."""
        user = await self.c.directory.get_user(party.id, party.users[name])
        assert user is not None
        return self.auth.tokens.issue_access(user)

    def n(self) -> int:
        return next(self.counter)

    async def new_user(self, party: Party) -> str:
        """A user who never signs in (no password hash worth the argon2 time)."""
        user = await self.c.directory.create_user(
            party.id, f"spare{self.n()}@{party.slug}.example", "!", ["member"]
        )
        return user.id

    async def new_mailbox(self, party: Party, box: Box) -> str:
        made = await self.c.directory.get_or_create_mailbox(party.id, f"Spare {self.n()}", "local")
        if box is party.boxes["assigned"]:
            await self.assign(party, made.id, party.users["member"])
        return made.id

    async def new_domain(self, party: Party) -> str:
        name = f"d{self.n()}.{party.slug}.example"
        await self.c.tenancy.add_domain(party.id, name)
        return name

    async def new_dkim_key(self, party: Party, domain: str) -> str:
        selector = f"k{self.n()}"
        await self.c.dkim.add(
            party.id,
            domain,
            selector,
            algorithm="rsa",
            private_key_pem=b"sample key",
            dns_value="v=DKIM1; k=rsa; p=c2FtcGxl",
            created_by=None,
        )
        return selector

    async def assign(self, party: Party, mailbox_id: str, user_id: str) -> None:
        """Gives ``user_id`` the mailbox through the API, if it has the endpoint yet
        (helper C2's ``PUT /api/v1/mailboxes/{mailbox_id}/members``)."""
        op = next(
            (o for o in self.operations() if o.key == "PUT /api/v1/mailboxes/{mailbox_id}/members"),
            None,
        )
        if op is None or op.body_schema is None:
            return
        body = Examples(self.doc).value(
            op.body_schema, fill={"user_ids": [user_id], "user_id": user_id}.get
        )
        call = Call("PUT", f"/api/v1/mailboxes/{mailbox_id}/members", {}, body)
        r = await self.send(call, await self.token(party, "boss"))
        assert r.status_code < 300, f"assigning a mailbox failed: {r.status_code} {r.text}"


def _names_object(name: str) -> bool:
    return bool(ID_FIELD.match(name))


def _id_fields(examples: Examples, schema: dict[str, Any]) -> list[str]:
    props = examples.resolve(schema).get("properties", {})
    return [name for name in props if ID_FIELD.match(name)]


Maker = Callable[[World, Party, bool], Awaitable[Any]]


async def _invitation(world: World, party: Party, fresh: bool) -> str | None:
    """An invitation of ``party`` (helper C1's ``POST /api/v1/invitations``), if the
    endpoint exists yet."""
    op = next((o for o in world.operations() if o.key == "POST /api/v1/invitations"), None)
    if op is None or op.body_schema is None:
        return None
    body = Examples(world.doc).value(op.body_schema)
    if isinstance(body, dict) and "email" in body:
        body["email"] = f"invited{world.n()}@{party.slug}.example"
    call = Call("POST", "/api/v1/invitations", {}, body)
    r = await world.send(call, await world.token(party, "boss"))
    assert r.status_code < 300, f"inviting failed: {r.status_code} {r.text}"
    return str(r.json()["id"])


#: per tenant, a delivery of the webhook ``_webhook`` handed out last (the paths
#: name the webhook first, so ``_delivery`` is asked right after)
_LAST_DELIVERY: dict[str, str] = {}


async def _webhook(world: World, party: Party, fresh: bool) -> str:
    """A webhook of ``party`` with one (pending) delivery, made in the store: the
    security suites run no delivery worker, nothing is sent."""
    from datetime import UTC, datetime

    from inboxhub.domain.webhooks import NewDelivery

    hook = await world.c.webhooks.create(
        party.id,
        url=f"https://hooks.{party.slug}.example/in",
        event_types=["email.processed"],
        description="",
        secret="whsec_sample",
        created_by=None,
    )
    new = NewDelivery(party.id, hook.id, f"sample-{hook.id}", "email.processed", b"{}")
    [delivery] = await world.c.webhooks.enqueue([new], 1, datetime.now(UTC))
    _LAST_DELIVERY[party.id] = delivery
    if party is world.a:
        world.markers |= {hook.id, delivery}
    return hook.id


async def _delivery(world: World, party: Party, fresh: bool) -> str | None:
    return _LAST_DELIVERY.get(party.id)


async def _outgoing(world: World, party: Party, fresh: bool) -> str:
    """A draft of ``party``'s member in their assigned mailbox (the sending API's
    ``{message_id}``): its author sees and changes it, owners, admins and auditors
    see it. Made in the store: the suite's local mailboxes cannot send."""
    from datetime import UTC, datetime

    from inboxhub.domain.ids import new_id
    from inboxhub.domain.outgoing import OutgoingMessage

    now = datetime.now(UTC)
    draft = OutgoingMessage(
        id=new_id(),
        tenant_id=party.id,
        user_id=party.users["member"],
        mailbox_id=party.boxes["assigned"].mailbox_id,
        state="draft",
        sender=party.emails["member"],
        subject="Draft",
        internet_message_id=f"<{new_id()}@{party.slug}.example>",
        created_at=now,
        updated_at=now,
    )
    await world.c.outgoing.create(draft)
    return draft.id


#: samples of objects that other parts of the system make (filled in as they land)
EXTRA_SAMPLES: dict[str, Maker] = {
    "invitation_id": _invitation,
    "webhook_id": _webhook,
    "delivery_id": _delivery,
    "message_id": _outgoing,
}


# -- building -------------------------------------------------------------------


def _messages(slug: str, mark: str, pool: int) -> list[bytes]:
    first = f"<thread-{mark}@{slug}.example>"
    sender = f"Chief {mark} <ceo-{mark}@{slug}.example>"

    def one(i: int, subject: str, **kw: Any) -> bytes:
        return make_message(
            f"{subject} {mark}", sender=sender, date=dated(i), text=f"Body {mark}.\n", **kw
        )

    attach = [(f"contract-{mark}.pdf", "application/pdf", PDF)]
    return [
        one(0, "Plan", message_id=first),
        one(1, "Re: Plan", in_reply_to=first),
        one(2, "Contract", attachments=attach),
        *(one(10 + i, f"Spare {i}", attachments=attach) for i in range(pool)),
    ]


async def _fill_box(c: Container, party: Party, name: str, mark: str, root: Path, pool: int) -> Box:
    made = await c.directory.get_or_create_mailbox(party.id, name, "local")
    maildir = write_maildir(root / f"{party.slug}-{name}", _messages(party.slug, mark, pool))
    await c.ingest().run(party.id, made.id, iter_local(maildir))
    return Box(made.id, "", "", {}, [])


async def _read_box(c: Container, party: Party, box: Box) -> None:
    summaries = await c.emails.list(party.id, [box.mailbox_id], 1000)
    docs = await c.emails.get_many(party.id, [s.id for s in summaries])
    for doc in docs:
        if doc.attachments:
            box.attachments[doc.id] = doc.attachments[0].id
        if doc.subject.startswith("Contract"):
            box.email_id = doc.id
        elif doc.subject.startswith("Spare"):
            box.pool.append(doc.id)
        else:
            box.thread_id = doc.thread_id
    assert box.email_id and box.thread_id


async def _login(client: httpx.AsyncClient, email: str) -> str:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _party(c: Container, auth: AuthService, slug: str) -> Party:
    party: Party | None = None
    for name, roles in PEOPLE.items():
        email = f"{name}@{slug}.example"
        done = await bootstrap(c.directory, c.bus, auth.hasher, slug, email, PASSWORD, roles)
        party = party or Party(done.tenant.id, slug)
        users = await c.directory.find_users_by_email(email)
        party.users[name] = next(u.id for u, _ in users if u.tenant_id == party.id)
        party.emails[name] = email
    assert party is not None
    party.domain = f"{slug}.example"
    await c.tenancy.add_domain(party.id, party.domain)
    return party


async def build_world(
    c: Container, auth: AuthService, app: FastAPI, client: httpx.AsyncClient, root: Path
) -> World:
    a, b = await _party(c, auth, "alphaco"), await _party(c, auth, "betaco")
    operator = "operator@platform.example"
    done = await bootstrap(c.directory, c.bus, auth.hasher, "platform", operator, PASSWORD)
    platform = Party(done.tenant.id, "platform")
    platform.emails["operator"] = operator
    found = await c.directory.find_users_by_email(operator)
    platform.users["operator"] = next(u.id for u, _ in found if u.tenant_id == platform.id)
    for party, marks, pool in ((a, ("Zq7alpha", "Zq8alpha"), POOL), (b, ("Yb1beta", "Yb2beta"), 0)):
        for scope, name, mark in zip(
            ("assigned", "unassigned"), ("Shared", "Private"), marks, strict=True
        ):
            party.boxes[scope] = await _fill_box(c, party, name, mark, root, pool)
    await settle(c)
    for party in (a, b):
        for box in party.boxes.values():
            await _read_box(c, party, box)
    for party in (a, b, platform):
        for name, email in party.emails.items():
            party.tokens[name] = await _login(client, email)
    world = World(c, app, auth, client, a, b, platform, root)
    for party in (a, b):
        box = party.boxes["assigned"]
        await world.assign(party, box.mailbox_id, party.users["member"])
    world.markers = {
        a.id,
        "Zq7alpha",
        "Zq8alpha",
        *a.users.values(),
        *a.emails.values(),
        a.domain,
        *(v for box in a.boxes.values() for v in (box.mailbox_id, box.email_id, box.thread_id)),
        *(v for box in a.boxes.values() for v in box.pool),
    }  # (attachment ids are part numbers like "1": they identify nothing alone)
    return world
