"""An IMAP mailbox as a tenant admin connects it: a real ``inboxhub run``, a real
Dovecot, mail delivered while it runs. New mail in any selected folder becomes
searchable without polling (the poll interval is set to ten minutes), flag changes
and deletions are followed, a UIDVALIDITY change resyncs without duplicates, and a
wrong password shows as an error instead of a retry loop."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_pipeline import ADMIN, all_items, login
from tests.support.messages import dated, make_message
from tests.support.processes import running_server, wait_for
from tests.support.servers.dovecot import Dovecot

pytestmark = pytest.mark.e2e


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    env = {
        **ADMIN,
        "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS": "true",
        "INBOXHUB_FETCHER_POLL_SECONDS": "600",
    }
    with running_server(tmp_path / "data", **env) as base:
        yield login(base, ADMIN["INBOXHUB_ADMIN_EMAIL"], ADMIN["INBOXHUB_ADMIN_PASSWORD"])


def search_total(api: httpx.Client, q: str) -> int:
    r = api.get("/api/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def test_imap_mailbox_syncs_pushes_follows_and_resyncs(api: httpx.Client, dovecot: Dovecot) -> None:
    user, password = dovecot.new_user("e2e")
    dovecot.create_folder(user, "Projects")
    for i in range(20):
        dovecot.append(user, "INBOX", crlf(make_message(f"Inbox note {i}", date=dated(i))))
    for i in range(3):
        dovecot.append(
            user, "Projects", crlf(make_message(f"Project plan {i}", date=dated(50 + i)))
        )
    settings = {
        "host": "127.0.0.1",
        "port": dovecot.imap_port,
        "security": "none",
        "username": user,
        "password": password,
        "folders": ["INBOX", "Sent", "Projects"],
    }
    r = api.post(
        "/api/v1/mailboxes", json={"name": "Team", "provider": "imap", "settings": settings}
    )
    assert r.status_code == 201, r.text
    assert password not in r.text and r.json()["secrets_set"] == ["password"]
    url = f"/api/v1/mailboxes/{r.json()['id']}"
    box_id = r.json()["id"]

    def detail() -> dict[str, Any]:
        got = api.get(url)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    wait_for(lambda: detail()["total"] == 23, what="the first sync")
    assert (
        detail()["sync"]["state"] in ("idle", "syncing") and detail()["sync"]["last_error"] is None
    )
    labels = {tuple(e["labels"]) for e in all_items(api, mailbox_id=box_id)}
    assert labels == {("INBOX",), ("Projects",)}

    # New mail in Sent (not INBOX) arrives over NOTIFY/IDLE, not by polling.
    token = f"zq{uuid.uuid4().hex[:10]}"
    dovecot.append(user, "Sent", crlf(make_message(f"Sent reply {token}")))
    wait_for(
        lambda: search_total(api, token) == 1, what="new mail in Sent to be searchable", timeout=30
    )

    # Another client reads and flags a message, and deletes one.
    uids = dovecot.uids(user, "INBOX")
    dovecot.store(user, "INBOX", uids[0], "+FLAGS", ["\\Seen", "\\Flagged"])
    dovecot.expunge(user, "INBOX", [uids[1]])
    wait_for(lambda: detail()["total"] == 23, what="the deletion")

    def flagged() -> bool:
        return any(
            e["flags"] == {"seen": True, "flagged": True} for e in all_items(api, mailbox_id=box_id)
        )

    wait_for(flagged, what="the flag change")
    assert search_total(api, "is:starred") == 1

    # The server renumbers INBOX: a resync that duplicates nothing.
    before = {e["message_id"] for e in all_items(api, mailbox_id=box_id)}
    dovecot.set_uidvalidity(user, "INBOX", dovecot.uidvalidity(user, "INBOX") + 1000)
    marker = f"zq{uuid.uuid4().hex[:10]}"
    dovecot.append(user, "INBOX", crlf(make_message(f"After renumbering {marker}")))
    wait_for(
        lambda: search_total(api, marker) == 1, what="mail after the UIDVALIDITY change", timeout=60
    )
    items = all_items(api, mailbox_id=box_id)
    ids = [e["message_id"] for e in items]
    assert len(ids) == len(set(ids)) == 24
    assert before < set(ids)

    # A wrong password is shown, once, and not retried until the settings change.
    r = api.patch(url, json={"settings": {"password": "wrong-password"}})
    assert r.status_code == 200, r.text
    status = wait_for(
        lambda: (s := detail()["sync"])["state"] == "error" and s, what="the auth error"
    )
    assert user in status["last_error"] and "wrong-password" not in status["last_error"]
    time.sleep(2)
    assert detail()["sync"] == status, "an auth error is not retried on its own"
    r = api.patch(url, json={"settings": {"password": password}})
    wait_for(lambda: detail()["sync"]["state"] == "idle", what="recovery after the fix")
    assert detail()["sync"]["last_error"] is None
