"""The distributed deployment, end to end: every service its own process on the real
servers (Kafka protocol, S3, MongoDB wire, Elasticsearch API, PostgreSQL), two
processors and two indexers in one consumer group each, Traefik in front with the
routes of deploy/traefik. `make test-distributed` runs only this, verbosely."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.distributed import Deployment, Servers, deployment
from tests.support.messages import dated, make_message, write_maildir
from tests.support.processes import wait_for
from tests.support.servers.dovecot import Dovecot
from tests.support.servers.noida import Noida
from tests.support.servers.postgres import Postgres
from tests.support.servers.seaweedfs import SeaweedS3
from tests.support.servers.secantus import Secantus

pytestmark = pytest.mark.e2e

MESSAGES = 150
PDF = b"%PDF-1.4\n% distributed\n" + bytes(range(256))


def messages() -> list[bytes]:
    out = [
        make_message(
            f"Shipment {i:03d} token{i:03d}x",
            date=dated(i),
            sender=f"Sender {i % 7} <s{i % 7}@supplier{i % 3}.example>",
            text=f"Shipment number {i} left the warehouse.\n",
            attachments=[("manifest.pdf", "application/pdf", PDF)] if i % 10 == 0 else [],
        )
        for i in range(MESSAGES - 1)
    ]
    out.append(b"not a mail message\x00\xff at all")  # stored raw and marked, not dropped
    return out


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: Postgres,
    seaweedfs: SeaweedS3,
    noida: Noida,
    secantus: Secantus,
) -> Iterator[tuple[Deployment, Path, list[bytes]]]:
    root = tmp_path_factory.mktemp("distributed")
    mail = messages()
    maildir = write_maildir(root / "Maildir", mail, seen_every=4)
    fetchers = {
        "INBOXHUB_FETCHER_LEASE_SECONDS": "3",
        "INBOXHUB_FETCHER_POLL_SECONDS": "600",
        "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS": "true",
    }
    servers = Servers(postgres, seaweedfs, noida, secantus)
    with deployment(root, servers, {"fetcher": 2}, **fetchers) as d:
        yield d, maildir, mail


def all_items(client: httpx.Client) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": 40, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/emails", params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_every_message_is_listed_viewable_and_searchable_exactly_once(deployed) -> None:
    d, maildir, mail = deployed
    imported = d.import_maildir(maildir, "Warehouse")
    assert imported.returncode == 0, imported.stderr
    client = d.login()

    items = all_items(client)
    assert len(items) == MESSAGES and len({i["id"] for i in items}) == MESSAGES
    dates = [i["date"] for i in items if i["date"]]
    assert dates == sorted(dates, reverse=True), "newest first"

    for item in items:
        view = client.get(f"/api/v1/emails/{item['id']}")
        assert view.status_code == 200, view.text
        raw = client.get(f"/api/v1/emails/{item['id']}/raw")
        assert raw.content in mail
    broken = [i for i in items if not i["subject"]]
    assert len(broken) == 1
    assert client.get(f"/api/v1/emails/{broken[0]['id']}").json()["parse_errors"]

    for n in range(MESSAGES - 1):
        hits = client.get("/api/v1/search", params={"q": f"token{n:03d}x"}).json()
        assert [h["subject"] for h in hits["items"]] == [f"Shipment {n:03d} token{n:03d}x"]
    everything = client.get("/api/v1/search", params={"q": "", "facets": "true"}).json()
    assert everything["total"] == MESSAGES
    assert sum(everything["facets"]["has_attachment"].values()) == MESSAGES

    with_pdf = next(i for i in items if i["has_attachments"])
    att = client.get(f"/api/v1/emails/{with_pdf['id']}").json()["attachments"][0]
    got = client.get(f"/api/v1/emails/{with_pdf['id']}/attachments/{att['id']}")
    assert got.status_code == 200 and got.content == PDF
    direct = client.get(f"/api/v1/emails/{with_pdf['id']}/attachments/{att['id']}/url").json()
    presigned = httpx.get(direct["url"])  # straight from the S3 server, no token
    assert presigned.status_code == 200 and presigned.content == PDF
    assert "manifest.pdf" in presigned.headers["content-disposition"]


def test_the_consumer_groups_shared_the_work(deployed) -> None:
    """Both members of each group took part (4 partitions between two processes)."""
    d, _, _ = deployed
    for group in ("processor", "indexer"):
        members = d.of(group)
        assert len(members) == 2
        counts = [d.metric(m, "inboxhub_consumer_records_total", group=group) for m in members]
        assert sum(counts) >= MESSAGES and all(c > 0 for c in counts), counts


def test_importing_again_adds_nothing(deployed) -> None:
    d, maildir, _ = deployed
    again = d.import_maildir(maildir, "Warehouse")
    assert again.returncode == 0, again.stderr
    assert len(all_items(d.login())) == MESSAGES


def test_traefik_routes_each_prefix_to_its_service(deployed) -> None:
    d, _, _ = deployed
    jwks = httpx.get(f"{d.base_url}/.well-known/jwks.json").json()
    assert jwks["keys"] and jwks["keys"][0]["alg"] == "EdDSA"
    ready = httpx.get(f"{d.base_url}/readyz").json()
    assert set(ready["checks"]) == {"bus", "blobs", "documents", "search", "database"}
    unauthorised = httpx.get(f"{d.base_url}/api/v1/emails")
    assert unauthorised.status_code == 401
    assert unauthorised.headers["content-type"] == "application/problem+json"
    client = d.login()
    boxes = client.get("/api/v1/mailboxes").json()["items"]
    assert [b["name"] for b in boxes] == ["Warehouse"]


def test_imap_mailboxes_spread_over_fetchers_and_outlive_a_killed_one(
    deployed, dovecot: Dovecot
) -> None:
    """Twelve IMAP mailboxes between two fetcher processes; one is killed (-9) and
    its mailboxes move to the other when their leases run out, new mail included.
    (Last in this module: it adds mailboxes the tests above do not expect.)"""
    d, _, _ = deployed
    client = d.login()
    boxes: dict[str, str] = {}  # mailbox id -> Dovecot user
    for i in range(12):
        user, password = dovecot.new_user("dist")
        for j in range(2):
            dovecot.append(user, "INBOX", make_message(f"{user} note {j}").replace(b"\n", b"\r\n"))
        settings = {
            "host": "127.0.0.1",
            "port": dovecot.imap_port,
            "security": "none",
            "username": user,
            "password": password,
        }
        r = client.post(
            "/api/v1/mailboxes",
            json={"name": f"IMAP {i}", "provider": "imap", "settings": settings},
        )
        assert r.status_code == 201, r.text
        boxes[r.json()["id"]] = user

    def details() -> dict[str, dict[str, Any]]:
        return {b: client.get(f"/api/v1/mailboxes/{b}").json() for b in boxes}

    def synced() -> dict[str, dict[str, Any]] | None:
        now = details()
        return now if all(x["total"] == 2 and x["sync"]["worker"] for x in now.values()) else None

    first = wait_for(synced, what="every IMAP mailbox synced", timeout=90)
    pids = {int(x["sync"]["worker"].split(":")[1]) for x in first.values()}
    fetcher_pids = {s.process.pid for s in d.of("fetcher")}
    assert pids == fetcher_pids, "both fetcher processes hold some of the mailboxes"

    victim = next(s for s in d.of("fetcher"))
    orphaned = [
        b for b, x in first.items() if int(x["sync"]["worker"].split(":")[1]) == victim.process.pid
    ]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(10)
    for b in orphaned:
        dovecot.append(boxes[b], "INBOX", make_message("after the crash").replace(b"\n", b"\r\n"))

    def taken_over() -> bool:
        now = details()
        return all(
            now[b]["total"] == 3
            and int(now[b]["sync"]["worker"].split(":")[1]) != victim.process.pid
            for b in orphaned
        )

    wait_for(
        taken_over, what="the survivor to take over the killed fetcher's mailboxes", timeout=90
    )
    final = details()
    assert sum(x["total"] for x in final.values()) == 2 * 12 + len(orphaned)
