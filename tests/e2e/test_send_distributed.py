"""Sending in the distributed deployment: the API process takes the message, two
``inboxhub serve sender`` processes share the outbox in PostgreSQL and deliver
through a real SMTP submission server, and the Sent copy goes through Kafka, the
processors and indexers into the Sent view."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.distributed import Deployment, Servers, deployment
from tests.support.servers.dovecot import Dovecot
from tests.support.servers.noida import Noida
from tests.support.servers.postgres import Postgres
from tests.support.servers.seaweedfs import SeaweedS3
from tests.support.servers.secantus import Secantus
from tests.support.smtp_submission import Submission

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]
ADDRESS = "sender@acme.test"
MESSAGES = 6


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: Postgres,
    seaweedfs: SeaweedS3,
    noida: Noida,
    secantus: Secantus,
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("send-distributed")
    servers = Servers(postgres, seaweedfs, noida, secantus)
    settings = {
        "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS": "true",
        "INBOXHUB_SEND_POLL_SECONDS": "0.2",
        "INBOXHUB_SEND_CONCURRENCY": "2",
    }
    with deployment(root, servers, {"processor": 1, "indexer": 1, "sender": 2}, **settings) as d:
        yield d


def _until(what: str, check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_sender_processes_deliver_each_message_once_into_sent(
    deployed: Deployment, dovecot: Dovecot, tmp_path: Path
) -> None:
    user, password = dovecot.new_user("dist")
    with Submission(tmp_path, "none", users={ADDRESS: password}).running() as smtp:
        client = deployed.login()
        settings = {
            "host": "127.0.0.1",
            "port": dovecot.imap_port,
            "security": "none",
            "username": user,
            "password": password,
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "username": ADDRESS,
            },
        }
        r = client.post(
            "/api/v1/mailboxes", json={"name": "Work", "provider": "imap", "settings": settings}
        )
        assert r.status_code == 201, r.text
        box = r.json()["id"]
        ids = []
        for i in range(MESSAGES):
            body = {"mailbox_id": box, "to": ["bob@partner.test"], "subject": f"Dist {i}"}
            headers = {"Idempotency-Key": f"dist-{i}"}
            r = client.post("/api/v1/messages", json=body, headers=headers)
            assert r.status_code == 202, r.text
            again = client.post("/api/v1/messages", json=body, headers=headers)
            assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
            ids.append(r.json()["id"])

        def states() -> list[str]:
            return [client.get(f"/api/v1/messages/{i}").json()["state"] for i in ids]

        _until("every message sent", lambda: states() == ["sent"] * MESSAGES)
        got = sorted(str(m.message["Subject"]) for m in smtp.received)
        assert got == sorted(f"Dist {i}" for i in range(MESSAGES))

        def in_sent() -> list[dict]:
            r = client.get("/api/v1/search", params={"q": "in:sent dist", "limit": 50})
            return list(r.json()["items"]) if r.status_code == 200 else []

        _until("the Sent copies searchable", lambda: len(in_sent()) >= MESSAGES)
        filed = {client.get(f"/api/v1/messages/{i}").json()["email_id"] for i in ids}
        assert {item["id"] for item in in_sent()} == filed
