"""Who may do what: every operation × every role, as one table, checked over HTTP.

Columns (everyone calls on tenant A's objects):
  own, adm, aud — users of tenant A with the one role owner, admin, auditor;
  mem — a member of A, on objects of the mailbox assigned to them;
  oth — the same member, on objects of a mailbox NOT assigned to them;
  ops — a platform operator (``platform_admin``, of another tenant).
Outcomes:
  Y — allowed: 2xx (or 304);
  N — refused: 403 or 404 (404 where the object is not theirs to know of);
  0 — a bulk call naming ids the caller may not touch: 2xx that changes nothing
      (the ids come back as not found), or 403/404;
  A — allowed, but the request cannot succeed here on its merits (no DNS record,
      no TOTP code, no IdP to reach, nothing configured yet, a blob store without
      direct URLs): any status but 401, 403 and 5xx.
Public operations (test_cross_tenant.PUBLIC) are not in the table. An operation
of the OpenAPI document missing from the table fails the test: classify it here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.security.openapi_ops import Operation
from tests.security.test_cross_tenant import PUBLIC, leaks
from tests.security.world import PASSWORD, Call, MissingSample, World

pytestmark = pytest.mark.asyncio(loop_scope="module")

COLUMNS = ("owner", "admin", "member", "other", "auditor", "ops")

MATRIX = """
operation                                                         own  adm  mem  oth  aud  ops
GET    /api/v1/mailboxes                                          Y    Y    Y    Y    Y    Y
POST   /api/v1/mailboxes                                          Y    Y    N    N    N    Y
GET    /api/v1/mailboxes/{mailbox_id}                             Y    Y    Y    N    Y    N
PATCH  /api/v1/mailboxes/{mailbox_id}                             Y    Y    N    N    N    N
DELETE /api/v1/mailboxes/{mailbox_id}                             Y    Y    N    N    N    N
POST   /api/v1/mailboxes/{mailbox_id}/sync                        Y    Y    N    N    N    N
GET    /api/v1/mailboxes/oauth/{provider}/authorize               Y    Y    N    N    N    Y
GET    /api/v1/audit                                              Y    Y    N    N    Y    Y
GET    /api/v1/audit/export                                       Y    Y    N    N    Y    Y
GET    /api/v1/audit/policy                                       Y    Y    N    N    N    Y
PUT    /api/v1/audit/policy                                       Y    Y    N    N    N    Y
GET    /api/v1/emails                                             Y    Y    Y    N    Y    N
GET    /api/v1/emails/{email_id}                                  Y    Y    Y    N    Y    N
PATCH  /api/v1/emails/{email_id}                                  Y    Y    Y    N    N    N
DELETE /api/v1/emails/{email_id}                                  Y    Y    Y    N    N    N
GET    /api/v1/emails/{email_id}/raw                              Y    Y    Y    N    Y    N
GET    /api/v1/emails/{email_id}/attachments/{attachment_id}      Y    Y    Y    N    Y    N
GET    /api/v1/emails/{email_id}/attachments/{attachment_id}/url  A    A    A    N    A    N
POST   /api/v1/emails/flags                                       Y    Y    Y    0    N    0
POST   /api/v1/emails/labels                                      Y    Y    Y    0    N    0
POST   /api/v1/emails/{email_id}/trash                            Y    Y    Y    N    N    N
POST   /api/v1/emails/trash                                       Y    Y    Y    0    N    0
POST   /api/v1/emails/{email_id}/untrash                          Y    Y    Y    N    N    N
POST   /api/v1/emails/untrash                                     Y    Y    Y    0    N    0
POST   /api/v1/emails/delete                                      Y    Y    Y    0    N    0
GET    /api/v1/search                                             Y    Y    Y    N    Y    N
GET    /api/v1/labels                                             Y    Y    Y    N    Y    N
GET    /api/v1/changes/state                                      Y    Y    Y    Y    Y    Y
GET    /api/v1/changes                                            Y    Y    Y    Y    Y    Y
GET    /api/v1/threads                                            Y    Y    Y    N    Y    N
GET    /api/v1/threads/{thread_id}                                Y    Y    Y    N    Y    N
GET    /api/v1/events                                             Y    Y    Y    Y    Y    Y
GET    /api/v1/messages                                           Y    Y    Y    Y    Y    Y
POST   /api/v1/messages                                           A    A    A    N    N    N
GET    /api/v1/messages/{message_id}                              Y    Y    Y    Y    Y    N
PATCH  /api/v1/messages/{message_id}                              N    N    Y    Y    N    N
DELETE /api/v1/messages/{message_id}                              N    N    Y    Y    N    N
POST   /api/v1/messages/{message_id}/send                         N    N    A    A    N    N
POST   /api/v1/uploads                                            A    A    A    A    N    A
GET    /api/v1/mailboxes/{mailbox_id}/members                     Y    Y    N    N    N    N
PUT    /api/v1/mailboxes/{mailbox_id}/members                     Y    Y    N    N    N    N
GET    /api/v1/domains                                            Y    Y    N    N    N    Y
POST   /api/v1/domains                                            Y    Y    N    N    N    Y
POST   /api/v1/domains/{domain}/verify                            A    A    N    N    N    N
DELETE /api/v1/domains/{domain}                                   Y    Y    N    N    N    N
POST   /api/v1/tenants/{tenant_id}/domains/{domain}/verify        N    N    N    N    N    Y
GET    /api/v1/domains/{domain}/dkim-keys                         Y    Y    N    N    N    N
POST   /api/v1/domains/{domain}/dkim-keys                         Y    Y    N    N    N    N
GET    /api/v1/domains/{domain}/dkim-keys/{selector}              Y    Y    N    N    N    N
POST   /api/v1/domains/{domain}/dkim-keys/{selector}/activate     A    A    N    N    N    N
DELETE /api/v1/domains/{domain}/dkim-keys/{selector}              Y    Y    N    N    N    N
GET    /api/v1/tenants/current                                    Y    Y    Y    Y    Y    Y
PATCH  /api/v1/tenants/current                                    Y    Y    N    N    N    Y
POST   /api/v1/tenants                                            N    N    N    N    N    Y
GET    /api/v1/tenants                                            N    N    N    N    N    Y
GET    /api/v1/tenants/{tenant_id}                                N    N    N    N    N    Y
DELETE /api/v1/tenants/{tenant_id}                                N    N    N    N    N    Y
POST   /api/v1/tenants/{tenant_id}/suspend                        N    N    N    N    N    Y
POST   /api/v1/tenants/{tenant_id}/resume                         N    N    N    N    N    Y
GET    /api/v1/users                                              Y    Y    N    N    N    Y
POST   /api/v1/users                                              Y    Y    N    N    N    Y
GET    /api/v1/users/me                                           Y    Y    Y    Y    Y    Y
GET    /api/v1/users/{user_id}                                    Y    Y    N    N    N    N
PATCH  /api/v1/users/{user_id}                                    Y    Y    N    N    N    N
DELETE /api/v1/users/{user_id}                                    Y    Y    N    N    N    N
GET    /api/v1/invitations                                        Y    Y    N    N    N    Y
POST   /api/v1/invitations                                        Y    Y    N    N    N    Y
DELETE /api/v1/invitations/{invitation_id}                        Y    Y    N    N    N    N
POST   /api/v1/auth/password                                      A    A    A    A    A    A
GET    /api/v1/auth/totp                                          Y    Y    Y    Y    Y    Y
POST   /api/v1/auth/totp                                          Y    Y    Y    Y    Y    Y
POST   /api/v1/auth/totp/confirm                                  A    A    A    A    A    A
POST   /api/v1/auth/totp/disable                                  A    A    A    A    A    A
GET    /api/v1/sso/oidc                                           A    A    N    N    N    A
PUT    /api/v1/sso/oidc                                           A    A    N    N    N    A
DELETE /api/v1/sso/oidc                                           A    A    N    N    N    A
GET    /api/v1/sso/saml                                           A    A    N    N    N    A
PUT    /api/v1/sso/saml                                           A    A    N    N    N    A
DELETE /api/v1/sso/saml                                           A    A    N    N    N    A
GET    /api/v1/webhooks                                           Y    Y    N    N    Y    Y
POST   /api/v1/webhooks                                           Y    Y    N    N    N    Y
GET    /api/v1/webhooks/{webhook_id}                              Y    Y    N    N    Y    N
PATCH  /api/v1/webhooks/{webhook_id}                              Y    Y    N    N    N    N
DELETE /api/v1/webhooks/{webhook_id}                              Y    Y    N    N    N    N
POST   /api/v1/webhooks/{webhook_id}/secret                       Y    Y    N    N    N    N
POST   /api/v1/webhooks/{webhook_id}/test                         Y    Y    N    N    N    N
GET    /api/v1/webhooks/{webhook_id}/deliveries                   Y    Y    N    N    Y    N
GET    /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}     Y    Y    N    N    Y    N
POST   /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay Y Y   N    N    N    N
"""


def parse(table: str) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for line in table.strip().splitlines()[1:]:
        method, path, *cells = line.split()
        assert len(cells) == len(COLUMNS), f"{line!r}: one outcome per column {COLUMNS}"
        assert set(cells) <= {"Y", "N", "0", "A"}, f"{line!r}: outcomes are Y, N, 0 or A"
        rows[f"{method} {path}"] = dict(zip(COLUMNS, cells, strict=True))
    return rows


EXPECTED = parse(MATRIX)


def _local_mailbox(world: World, body: Any) -> Any:
    archive = world.root / "archives" / f"box{world.n()}"
    archive.mkdir()
    return {"name": archive.name, "provider": "local", "settings": {"paths": [str(archive)]}}


#: what the schema's smallest example lacks to succeed (fields optional in the
#: schema that the service wants one of), by operation
BODIES: dict[str, Callable[[World, Any], Any]] = {
    "POST /api/v1/mailboxes": _local_mailbox,
    "POST /api/v1/emails/flags": lambda world, body: {**body, "seen": True},
    "POST /api/v1/emails/labels": lambda world, body: {**body, "add": ["Later"]},
    # a receiver on loopback (the suite allows http and private hosts for webhooks)
    "POST /api/v1/webhooks": lambda world, body: {
        "url": "http://127.0.0.1:9/hook",
        "event_types": ["email.processed"],
    },
    # the right current password (a wrong one is 403): then refused as unchanged (422)
    "POST /api/v1/auth/password": lambda world, body: {
        "current_password": PASSWORD,
        "new_password": PASSWORD,
    },
}


async def _caller(world: World, column: str) -> tuple[str, str]:
    """(token, scope of A's objects) of a column."""
    if column == "ops":
        return await world.token(world.platform, "operator"), "assigned"
    if column == "other":
        return await world.token(world.a, "member"), "unassigned"
    return await world.token(world.a, column), "assigned"


def _verdict(expected: str, status: int, body: Any) -> bool:
    ok = 200 <= status < 300 or status == 304
    if expected == "Y":
        return ok
    if expected == "N":
        return status in (403, 404)
    if expected == "A":
        return status not in (401, 403) and status < 500
    changed = isinstance(body, dict) and any(
        isinstance(v, int) and v > 0 for k, v in body.items() if k in ("updated", "deleted")
    )
    return (ok and not changed) or status in (403, 404)


async def _outcome(world: World, op: Operation, column: str) -> tuple[int, str, Call]:
    token, scope = await _caller(world, column)
    call = await world.call(op, world.a, scope, fresh=op.writes)
    if op.key in BODIES:
        call.body = BODIES[op.key](world, call.body)
    if op.streams:
        status, chunk = await world.first_chunk(call, token)
        return status, chunk.decode(errors="replace"), call
    r = await world.send(call, token)
    return r.status_code, r.text, call


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def test_every_operation_is_in_the_table(world: World) -> None:
    ops = {op.key for op in world.operations()} - set(PUBLIC)
    unclassified = sorted(ops - set(EXPECTED))
    gone = sorted(set(EXPECTED) - ops)
    assert not unclassified, "classify in MATRIX:\n" + "\n".join(unclassified)
    assert not gone, "in MATRIX but not in the API any more:\n" + "\n".join(gone)


async def test_roles_get_what_the_table_says(world: World) -> None:
    wrong = []
    ops = [op for op in world.operations() if op.key in EXPECTED]
    for op in sorted(ops, key=lambda o: (o.writes, o.method == "delete")):
        for column in COLUMNS:
            expected = EXPECTED[op.key][column]
            try:
                status, text, call = await _outcome(world, op, column)
            except MissingSample as exc:
                wrong.append(str(exc))
                break
            if not _verdict(expected, status, _body(text)):
                wrong.append(
                    f"{op.key} as {column}: expected {expected}, got {status} {text[:160]}"
                )
            elif (
                column in ("other", "ops")
                and (found := leaks(world, call, text))
                and expected != "Y"
            ):
                wrong.append(f"{op.key} as {column} shows {sorted(found)}")
    assert not wrong, f"{len(wrong)} cells differ from MATRIX:\n" + "\n".join(wrong)


#: texts only the member's unassigned mailbox holds (its subjects' marker)
UNASSIGNED_MARK = "Zq8alpha"


async def test_a_member_lists_only_their_mailboxes(world: World) -> None:
    """Every listing without an id (mailboxes, emails, search, threads, labels,
    changes, audit...) shows a member nothing of a mailbox not assigned to them."""
    private = world.a.boxes["unassigned"]
    secrets = {UNASSIGNED_MARK, private.mailbox_id, private.email_id, private.thread_id}
    shown = []
    for op in world.operations():
        if op.method != "get" or op.path_params or op.key in PUBLIC or op.streams:
            continue
        call = Call("GET", op.path, {"q": "Body"} if op.path.endswith("/search") else {}, None)
        r = await world.send(call, await world.token(world.a, "member"))
        if found := {s for s in secrets if s in r.text}:
            shown.append(f"{op.key}: {r.status_code} shows {sorted(found)}")
    assert not shown, "\n".join(shown)
