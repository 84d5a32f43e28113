"""The distributed deployment, end to end: every service its own process on the real
servers (Kafka protocol, S3, MongoDB wire, Elasticsearch API, PostgreSQL), two
processors and two indexers in one consumer group each, Traefik in front with the
routes of deploy/traefik. `make test-distributed` runs only this, verbosely."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.distributed import Deployment, Servers, deployment
from tests.support.messages import dated, make_message, write_maildir
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
    with deployment(root, Servers(postgres, seaweedfs, noida, secantus)) as d:
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
