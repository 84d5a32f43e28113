"""Labels, the trash, deletion, label counts and the changes feed of the Email API,
over HTTP (in process) with the processor and indexer running: each action changes
the list, search and counts, is audited, and queues the right ``MailChange`` for the
provider in the mailbox's outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from inboxhub.domain.models import Flags, MailChange
from inboxhub.domain.tokens import encode_token
from inboxhub.providers.local import iter_local
from tests.integration.conftest import settle
from tests.integration.test_email_flags import Api, _audits, _search, _unread, api
from tests.support.messages import dated, make_message, write_maildir

__all__ = ["api"]  # the fixture, shared with test_email_flags
PROBLEM = "application/problem+json"


async def _tenant(a: Api) -> str:
    tenant = await a.c.directory.get_tenant_by_slug("acme")
    assert tenant is not None
    return tenant.id


async def _queued(a: Api) -> list[MailChange]:
    """What waits in the mailbox's outbox, oldest first (and is taken off it)."""
    tenant_id = await _tenant(a)
    entries = await a.c.sync.outbox_take(tenant_id, a.box, 1000)
    await a.c.sync.outbox_done(tenant_id, a.box, [e.id for e in entries])
    return [e.change for e in entries]


async def _listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    r = await client.get("/api/v1/emails", params=params)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


async def _provider_id(a: Api, email_id: str) -> str:
    doc = await a.c.emails.get(await _tenant(a), email_id)
    assert doc is not None and doc.provider_message_id
    return doc.provider_message_id


async def _changes(client: httpx.AsyncClient, since: str, limit: int = 500) -> dict[str, Any]:
    r = await client.get("/api/v1/changes", params={"since": since, "limit": limit})
    assert r.status_code == 200, r.text
    return dict(r.json())


# ---------------------------------------------------------------- labels


async def test_labels_one_email_at_a_time_search_follows_and_the_provider_is_told(
    api: Api,
) -> None:
    first = api.ids[0]
    url = f"/api/v1/emails/{first}"
    etag = (await api.admin.get(url)).headers["etag"]
    r = await api.member.patch(url, json={"labels": {"add": ["Work", "Clients/ACME"]}})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == ["Work", "Clients/ACME"] and r.headers["etag"] != etag
    r = await api.admin.patch(
        url, json={"flags": {"flagged": True}, "labels": {"remove": ["Work"], "add": ["Done"]}}
    )
    assert r.json()["labels"] == ["Clients/ACME", "Done"] and r.json()["flags"]["flagged"]
    again = await api.admin.patch(url, json={"labels": {"add": ["Done"]}})  # already so
    assert again.json()["labels"] == ["Clients/ACME", "Done"]
    r = await api.admin.patch(url, json={"labels": {"replace": ["Done", "Archive"]}})
    assert r.json()["labels"] == ["Done", "Archive"]
    await settle(api.c)
    assert await _search(api.admin, "label:archive") == {first}
    assert await _search(api.admin, "label:work") == set()
    assert (await api.admin.get(url)).json()["labels"] == ["Done", "Archive"]

    pid = await _provider_id(api, first)
    assert await _queued(api) == [
        MailChange(email_id=first, provider_message_id=pid, add_labels=["Work", "Clients/ACME"]),
        MailChange(
            email_id=first,
            provider_message_id=pid,
            labels=["Work", "Clients/ACME"],
            flags=Flags(seen=True, flagged=True),
            add_labels=["Done"],
            remove_labels=["Work"],
        ),
        MailChange(
            email_id=first,
            provider_message_id=pid,
            labels=["Clients/ACME", "Done"],
            add_labels=["Archive"],
            remove_labels=["Clients/ACME"],
        ),
    ]
    labelled = await _audits(api.c, "email.label")
    assert [(a["object_id"], a["detail"]) for a in labelled] == [
        (first, {"add": ["Work", "Clients/ACME"], "remove": []}),
        (first, {"add": ["Done"], "remove": ["Work"]}),
        (first, {"add": ["Done"], "remove": []}),
        (first, {"add": [], "remove": [], "replace": ["Done", "Archive"]}),
    ]
    assert [a["detail"] for a in await _audits(api.c, "email.flag")] == [{"flagged": True}]


async def test_flags_set_in_bulk_are_queued_for_the_provider_too(api: Api) -> None:
    r = await api.admin.post("/api/v1/emails/flags", json={"ids": api.ids, "seen": True})
    assert r.json() == {"updated": 2, "not_found": []}
    pids = [await _provider_id(api, i) for i in api.ids]
    assert await _queued(api) == [
        MailChange(email_id=i, provider_message_id=p, flags=Flags(seen=True))
        for i, p in zip(api.ids, pids, strict=True)
        if i in (api.ids[1], api.ids[3])  # the unread ones: the others are so already
    ]


async def test_labels_in_bulk(api: Api) -> None:
    ids = [*api.ids[1:3], api.ids[1], "nope", api.theirs]
    r = await api.admin.post("/api/v1/emails/labels", json={"ids": ids, "add": ["Q1"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"updated": 2, "not_found": ["nope", api.theirs]}
    r = await api.admin.post(
        "/api/v1/emails/labels", json={"ids": api.ids, "add": ["Q1", "Later"], "remove": ["Q1"]}
    )
    assert r.status_code == 422  # Q1 both added and removed
    r = await api.admin.post("/api/v1/emails/labels", json={"ids": api.ids, "add": ["Q1"]})
    assert r.json() == {"updated": 2, "not_found": []}  # the two without it
    await settle(api.c)
    assert await _search(api.admin, "label:q1") == set(api.ids)
    assert (await api.other.get(f"/api/v1/emails/{api.theirs}")).json()["labels"] == []
    changes = await _queued(api)
    assert [(c.email_id, c.add_labels, c.labels) for c in changes] == [
        (api.ids[1], ["Q1"], []),
        (api.ids[2], ["Q1"], []),
        (api.ids[0], ["Q1"], []),
        (api.ids[3], ["Q1"], []),
    ]
    assert [a["detail"] for a in await _audits(api.c, "email.label")] == [
        {"count": 2, "add": ["Q1"], "remove": []},
        {"count": 2, "add": ["Q1"], "remove": []},
    ]


async def test_bad_labels_are_refused_as_problems(api: Api) -> None:
    url = f"/api/v1/emails/{api.ids[0]}"
    for labels in (
        {"add": [""]},
        {"add": ["   "]},
        {"add": ["x" * 256]},
        {"add": ["bell\x07"]},
        {"add": ["line\nbreak"]},
        {"add": ["Trash"]},  # the trash has its own endpoints
        {"remove": ["Deleted Items"]},
        {"add": ["A"], "remove": ["A"]},
        {"add": ["A"], "replace": ["B"]},
        {"add": ["A"] * 101},
        {"rename": ["A"]},
    ):
        r = await api.admin.patch(url, json={"labels": labels})
        assert r.status_code == 422, (labels, r.text)
        assert r.headers["content-type"] == PROBLEM and "Traceback" not in r.text
    for body in (
        {"ids": [api.ids[0]]},  # nothing to do
        {"ids": [], "add": ["A"]},
        {"ids": ["x"] * 1001, "add": ["A"]},
    ):
        r = await api.admin.post("/api/v1/emails/labels", json=body)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert (await api.admin.get(url)).json()["labels"] == []
    assert await _queued(api) == []
    r = await api.admin.patch(url, json={"labels": {"add": ["Ünïcode ✓ label"]}})
    assert r.status_code == 200 and r.json()["labels"] == ["Ünïcode ✓ label"]


# ---------------------------------------------------------------- the trash and deletion


async def test_the_trash_leaves_the_list_and_search_and_untrash_brings_it_back(
    api: Api,
) -> None:
    second = api.ids[1]  # unread
    await api.admin.patch(f"/api/v1/emails/{second}", json={"labels": {"add": ["Work"]}})
    r = await api.member.post(f"/api/v1/emails/{second}/trash")
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == ["Work", "Trash"] and r.headers["etag"]
    await settle(api.c)
    everything = list(reversed(api.ids))
    assert await _listed(api.admin) == [i for i in everything if i != second]
    assert await _listed(api.admin, mailbox_id=api.box) == [i for i in everything if i != second]
    assert await _listed(api.admin, **{"in": "trash"}) == [second]
    assert await _listed(api.admin, **{"in": "anywhere"}) == everything
    assert (await api.admin.get("/api/v1/emails", params={"in": "spam"})).status_code == 422
    assert await _unread(api.admin, api.box) == (1, 1)
    assert (await api.admin.get(f"/api/v1/emails/{second}")).status_code == 200  # still there

    assert await _search(api.admin, "") == set(api.ids) - {second}
    assert await _search(api.admin, "Report") == {api.ids[0], api.ids[2]}
    assert await _search(api.admin, "in:trash") == {second}
    assert await _search(api.admin, "in:trash Report") == {second}
    assert await _search(api.admin, "label:trash") == {second}
    assert await _search(api.admin, "in:anywhere Report") == set(api.ids[:3])
    assert await _search(api.admin, "is:unread") == {api.ids[3]}
    ranked = await api.admin.get("/api/v1/search", params={"q": "Status"})
    items = ranked.json()["items"]
    assert {i["id"] for i in items} == {api.ids[0], api.ids[2]}
    assert all(i["highlights"] for i in items)  # still ranked and highlighted by the text

    r = await api.admin.post(
        "/api/v1/emails/trash", json={"ids": [second, api.ids[2], "nope", api.theirs]}
    )
    assert r.json() == {"updated": 1, "not_found": ["nope", api.theirs]}
    r = await api.admin.post(f"/api/v1/emails/{second}/untrash")
    assert r.status_code == 200 and r.json()["labels"] == ["Work"]
    r = await api.admin.post("/api/v1/emails/untrash", json={"ids": api.ids})
    assert r.json() == {"updated": 1, "not_found": []}
    await settle(api.c)
    assert await _listed(api.admin) == everything
    assert await _listed(api.admin, **{"in": "trash"}) == []
    assert await _search(api.admin, "Report") == set(api.ids[:3])
    assert await _unread(api.admin, api.box) == (2, 2)

    pids = {i: await _provider_id(api, i) for i in api.ids[1:3]}
    assert [c for c in await _queued(api) if not c.add_labels] == [
        MailChange(email_id=second, provider_message_id=pids[second], labels=["Work"], trash=True),
        MailChange(email_id=api.ids[2], provider_message_id=pids[api.ids[2]], trash=True),
        MailChange(
            email_id=second,
            provider_message_id=pids[second],
            labels=["Work", "Trash"],
            untrash=True,
        ),
        MailChange(
            email_id=api.ids[2],
            provider_message_id=pids[api.ids[2]],
            labels=["Trash"],
            untrash=True,
        ),
    ]
    trashed = await _audits(api.c, "email.trash")
    assert [(a["object_id"], a["detail"]) for a in trashed] == [(second, {}), (None, {"count": 1})]
    assert len(await _audits(api.c, "email.untrash")) == 2


async def test_the_trash_and_deletion_of_another_tenants_email_are_not_found(api: Api) -> None:
    theirs = api.theirs
    for method, url in (
        ("POST", f"/api/v1/emails/{theirs}/trash"),
        ("POST", f"/api/v1/emails/{theirs}/untrash"),
        ("DELETE", f"/api/v1/emails/{theirs}"),
        ("PATCH", f"/api/v1/emails/{theirs}"),
        ("DELETE", "/api/v1/emails/nope"),
    ):
        r = await api.admin.request(method, url, json={"labels": {"add": ["X"]}})
        assert r.status_code == 404, (method, url, r.text)
        assert r.headers["content-type"] == PROBLEM
    r = await api.admin.post("/api/v1/emails/delete", json={"ids": [theirs]})
    assert r.json() == {"deleted": 0, "not_found": [theirs]}
    view = (await api.other.get(f"/api/v1/emails/{theirs}")).json()
    assert view["labels"] == [] and await _search(api.other, "Theirs") == {theirs}
    assert await _queued(api) == []


async def test_delete_removes_the_email_and_its_index_entry_but_not_the_blob(api: Api) -> None:
    first, second = api.ids[0], api.ids[1]
    tenant_id = await _tenant(api)
    doc = await api.c.emails.get(tenant_id, first)
    assert doc is not None
    await api.admin.post(f"/api/v1/emails/{second}/trash")
    r = await api.member.delete(f"/api/v1/emails/{first}")
    assert r.status_code == 204 and r.content == b""
    assert (await api.admin.get(f"/api/v1/emails/{first}")).status_code == 404
    assert (await api.admin.delete(f"/api/v1/emails/{first}")).status_code == 404
    r = await api.admin.post("/api/v1/emails/delete", json={"ids": [second, first, "nope"]})
    assert r.json() == {"deleted": 1, "not_found": [first, "nope"]}
    await settle(api.c)
    assert await api.c.emails.get_many(tenant_id, [first, second]) == []
    assert await api.c.search.existing_ids(tenant_id, [first, second]) == set()
    assert await _search(api.admin, "in:anywhere") == set(api.ids[2:])
    assert await _listed(api.admin, **{"in": "anywhere"}) == list(reversed(api.ids[2:]))
    assert await api.c.blobs.exists(doc.blob_key)  # content-addressed, maybe shared
    assert await _unread(api.admin, api.box) == (1, 1)

    queued = await _queued(api)
    assert [(c.email_id, c.delete, c.trash, c.labels) for c in queued] == [
        (second, False, True, []),
        (first, True, False, []),
        (second, True, False, ["Trash"]),
    ]
    assert queued[1].provider_message_id == doc.provider_message_id
    deleted = await _audits(api.c, "email.delete")
    assert [(a["object_id"], a["detail"]) for a in deleted] == [
        (first, {}),
        (None, {"count": 1}),
    ]


# ---------------------------------------------------------------- label counts


async def test_label_counts_per_mailbox_and_in_the_mailbox_detail(api: Api) -> None:
    first, second, third, fourth = api.ids  # first and third seen
    for email, labels in ((first, ["INBOX", "Work"]), (second, ["INBOX", "Work"])):
        await api.admin.patch(f"/api/v1/emails/{email}", json={"labels": {"add": labels}})
    await api.admin.post("/api/v1/emails/labels", json={"ids": [third, fourth], "add": ["INBOX"]})
    await api.admin.post(f"/api/v1/emails/{fourth}/trash")
    expected = [
        {"name": "INBOX", "total": 3, "unread": 1},
        {"name": "Trash", "total": 1, "unread": 1},
        {"name": "Work", "total": 2, "unread": 1},
    ]
    for params in ({}, {"mailbox_id": api.box}):
        r = await api.member.get("/api/v1/labels", params=params)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == expected
    detail = (await api.admin.get(f"/api/v1/mailboxes/{api.box}")).json()
    assert detail["labels"] == expected
    assert (await api.other.get("/api/v1/labels")).json()["items"] == []
    r = await api.other.get("/api/v1/labels", params={"mailbox_id": api.box})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


# ---------------------------------------------------------------- changes


async def test_changes_since_a_state_created_updated_destroyed_then_nothing(
    api: Api, tmp_path: Path
) -> None:
    r = await api.admin.get("/api/v1/changes/state")
    assert r.status_code == 200, r.text
    start = r.json()["state"]
    listed = (await api.admin.get("/api/v1/emails")).json()
    assert listed["state"] == start  # nothing changed between
    empty = await _changes(api.admin, start)
    assert empty == {
        "old_state": start,
        "new_state": start,
        "created": [],
        "updated": [],
        "destroyed": [],
        "has_more": False,
    }
    plain = await api.admin.get("/api/v1/changes")
    assert plain.json()["new_state"] == start and plain.json()["created"] == []

    await api.admin.patch(f"/api/v1/emails/{api.ids[0]}", json={"flags": {"flagged": True}})
    await api.admin.post(f"/api/v1/emails/{api.ids[1]}/trash")
    await api.admin.post("/api/v1/emails/labels", json={"ids": [api.ids[0]], "add": ["X"]})
    await api.admin.delete(f"/api/v1/emails/{api.ids[2]}")
    maildir = write_maildir(tmp_path / "more", [make_message("Later", date=dated(9))])
    await api.c.ingest().run(await _tenant(api), api.box, iter_local(maildir))
    await settle(api.c)
    [new] = set(await _listed(api.admin)) - set(api.ids)

    found = await _changes(api.admin, start)
    assert found["old_state"] == start and found["new_state"] != start
    assert (found["created"], sorted(found["updated"]), found["destroyed"]) == (
        [new],
        sorted(api.ids[:2]),
        [api.ids[2]],
    )
    assert not found["has_more"]
    again = await _changes(api.admin, found["new_state"])
    assert (again["created"], again["updated"], again["destroyed"]) == ([], [], [])
    theirs = await api.other.get("/api/v1/changes", params={"since": start})
    assert theirs.status_code == 200
    assert (theirs.json()["created"], theirs.json()["updated"]) == ([], [])

    state, seen, pages = start, [], 0
    while True:
        page = await _changes(api.member, state, limit=1)
        seen += page["created"] + page["updated"] + page["destroyed"]
        state, pages = page["new_state"], pages + 1
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted([new, *api.ids[:3]]) and pages == 4  # one change a page


async def test_bad_and_forgotten_states_are_problems(api: Api) -> None:
    for since in (
        "nonsense",
        encode_token({}),
        encode_token([]),
        encode_token({"m": -1}),
        encode_token({"m": "1"}),
        encode_token({"m": 1, "i": 2}),
    ):
        r = await api.admin.get("/api/v1/changes", params={"since": since})
        assert r.status_code == 422, (since, r.text)
        assert r.headers["content-type"] == PROBLEM
    start = (await api.admin.get("/api/v1/changes/state")).json()["state"]
    api.c.emails.tombstone_retention = timedelta(0)  # type: ignore[attr-defined]
    await api.admin.delete(f"/api/v1/emails/{api.ids[0]}")
    await api.admin.delete(f"/api/v1/emails/{api.ids[1]}")  # forgets the first deletion
    r = await api.admin.get("/api/v1/changes", params={"since": start})
    assert r.status_code == 410 and r.headers["content-type"] == PROBLEM
    assert r.json()["title"] == "Cannot calculate changes"
    fresh = (await api.admin.get("/api/v1/changes/state")).json()["state"]
    assert (await _changes(api.admin, fresh))["destroyed"] == []
