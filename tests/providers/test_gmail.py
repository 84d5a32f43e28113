"""The Gmail API connector against the fake Gmail (tests/fakes/gmail.py) over HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi import FastAPI

from inboxhub.domain.labels import in_trash
from inboxhub.providers.base import ConnectorContext, ProviderAuthError, ProviderError
from inboxhub.providers.gmail import (
    GmailConnector,
    GmailSettings,
    account_email,
    oauth_endpoints,
    parse_push_notification,
)
from inboxhub.providers.oauth import authorization_url, exchange_code, pkce_pair
from inboxhub.services.fetcher.push_gmail import build_router
from inboxhub.services.gateway import problems
from inboxhub.settings import Settings
from tests.fakes.gmail import FakeGmail, pubsub_body, serve
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets

EMAIL = "alice@example.com"
REDIRECT = "https://inboxhub.example/api/v1/oauth/google/callback"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGmail]:
    with serve() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGmail) -> FakeGmail:
    server.reset()
    server.add_mailbox(EMAIL)
    return server


class Sleeps:
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Harness:
    def __init__(self, fake: FakeGmail, tmp_path: Path, **app: Any) -> None:
        self.fake = fake
        self.app = Settings(
            data_dir=tmp_path,
            secret_key="x",
            gmail_api_url=fake.url,
            google_token_url=fake.token_url,
            google_auth_url=fake.auth_url,
            google_client_id=fake.client_id,
            google_client_secret=fake.client_secret,
            **app,
        )
        self.items = MemoryItemMap()
        self.saved = SavedSecrets()
        self.sink = MemorySink()
        self.sleeps = Sleeps()
        self.token = fake.issue_token(EMAIL)
        self.connectors: list[GmailConnector] = []

    def connector(self, labels: list[str] | None = None) -> GmailConnector:
        ctx = ConnectorContext("t1", "m1", self.app, self.items, self.saved)
        config = GmailSettings(email=EMAIL, labels=labels)
        conn = GmailConnector(config, {"token": self.token}, ctx)
        conn.backoff.sleep = self.sleeps
        self.connectors.append(conn)
        return conn

    async def sync(self, labels: list[str] | None = None) -> dict[str, Any]:
        conn = self.connector(labels)
        try:
            return await conn.sync(self.sink.cursor, self.sink)
        finally:
            await conn.close()


@pytest.fixture
def h(fake: FakeGmail, tmp_path: Path) -> Harness:
    return Harness(fake, tmp_path)


def eml(n: int, body: str = "") -> bytes:
    """A message whose bytes a careless decoder would change (CRLF, 8-bit, no final EOL)."""
    return (
        f"From: bob{n}@example.org\r\nTo: {EMAIL}\r\nSubject: message {n}\r\n"
        f"Message-ID: <{n}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\nhéllo {n}\r\n{body}\n-- \r\nbob"
    ).encode()


async def test_first_sync_pages_labels_flags_bytes(h: Harness, fake: FakeGmail) -> None:
    work = fake.add_label(EMAIL, "Work/Projects")
    base = 1_700_000_000_000
    ids = {}
    for n in range(1001):  # three pages of 500
        labels = ["INBOX", "UNREAD"] if n % 3 else ["INBOX", "IMPORTANT", "STARRED", work]
        ids[n] = fake.add_message(EMAIL, eml(n), labels, internal_date=base + n * 1000)
    fake.add_message(EMAIL, eml(9001), ["SPAM", "UNREAD"])
    trashed = fake.add_message(EMAIL, eml(9002), ["TRASH"])
    profile_history = fake.box(EMAIL).history_id

    cursor = await h.sync()

    assert fake.counts["messages.list"] == 4  # three pages of all mail, one of the trash
    assert fake.counts["messages.get"] == 1002  # not the spam
    assert len(h.sink.messages_by_id) == 1002 and h.sink.received == 1002
    assert h.sink.batches == 11  # at most 100 a batch
    assert h.sink.labels_by_id[trashed] == ("TRASH",) and in_trash(h.sink.labels_by_id[trashed])
    assert cursor["trashSynced"] is True
    assert cursor["historyId"] == str(profile_history)
    assert h.sink.cursor == cursor
    assert all("fullSync" in c for c in h.sink.cursors[:-1])
    starred = h.sink.messages_by_id[ids[0]]
    assert starred.data == eml(0)
    assert starred.labels == ("INBOX", "IMPORTANT", "Work/Projects")
    assert starred.flags.seen and starred.flags.flagged
    assert starred.received_at == datetime.fromtimestamp(base / 1000, tz=UTC)
    unread = h.sink.messages_by_id[ids[1000]]
    assert unread.data == eml(1000)
    assert unread.labels == ("INBOX",)
    assert not unread.flags.seen and not unread.flags.flagged
    assert set(h.items.folders["gmail"]) == {*ids.values(), trashed}


async def test_first_sync_reads_the_history_id_before_listing(h: Harness, fake: FakeGmail) -> None:
    fake.add_message(EMAIL, eml(1))
    before = fake.box(EMAIL).history_id
    # A message arriving while we list must come through the history afterwards.
    late: list[str] = []
    fake.on_request("messages.list", lambda: late.append(fake.add_message(EMAIL, eml(2))))
    cursor = await h.sync()
    assert cursor["historyId"] == str(before)
    assert late[0] in h.sink.messages_by_id  # listed after it arrived
    await h.sync()
    assert h.sink.received == 2  # and the history replay did not send it again


async def test_configured_labels_by_name_or_id(h: Harness, fake: FakeGmail) -> None:
    work = fake.add_label(EMAIL, "Work")
    fake.add_label(EMAIL, "Private")
    in_work = fake.add_message(EMAIL, eml(1), ["INBOX", work])
    sent = fake.add_message(EMAIL, eml(2), ["SENT"])
    both = fake.add_message(EMAIL, eml(3), ["SENT", work])
    fake.add_message(EMAIL, eml(4), ["INBOX"])
    await h.sync(labels=["work", "SENT"])
    assert set(h.sink.messages_by_id) == {in_work, sent, both}
    assert h.sink.messages_by_id[both].labels == ("SENT", "Work")


async def test_a_mailbox_synced_without_the_trash_fetches_it_once(
    h: Harness, fake: FakeGmail
) -> None:
    """Configured labels leave the trash out: trashing there is a deletion. Back on the
    default scope (or synced before the trash was in it), what is in the trash is
    listed and fetched once; the history does the rest."""
    old = fake.add_message(EMAIL, eml(1), ["TRASH"])
    mid = fake.add_message(EMAIL, eml(2), ["INBOX"])
    cursor = await h.sync(labels=["INBOX"])
    assert set(h.sink.messages_by_id) == {mid} and "trashSynced" not in cursor
    fake.modify(EMAIL, mid, add=["TRASH"], remove=["INBOX"])
    await h.sync(labels=["INBOX"])
    assert h.sink.deleted_ids == [mid]
    lists = fake.counts["messages.list"]

    cursor = await h.sync()

    assert fake.counts["history.list"] == 2 and fake.counts["messages.list"] == lists + 1
    assert set(h.sink.messages_by_id) == {old, mid}
    assert h.sink.labels_by_id[old] == h.sink.labels_by_id[mid] == ("TRASH",)
    assert cursor["trashSynced"] is True
    await h.sync()
    assert fake.counts["messages.list"] == lists + 1 and h.sink.received == 3


async def test_incremental_via_history(h: Harness, fake: FakeGmail) -> None:
    a = fake.add_message(EMAIL, eml(1))
    b = fake.add_message(EMAIL, eml(2), ["INBOX"])
    c = fake.add_message(EMAIL, eml(3))
    first = await h.sync()
    lists = fake.counts["messages.list"]

    new = fake.add_message(EMAIL, eml(4), ["INBOX", "UNREAD", "CATEGORY_UPDATES"])
    fake.delete_message(EMAIL, b)
    fake.modify(EMAIL, a, add=["STARRED"])
    fake.modify(EMAIL, c, remove=["UNREAD"])
    spam = fake.add_message(EMAIL, eml(5), ["SPAM"])
    cursor = await h.sync()

    assert fake.counts["messages.list"] == lists  # no full listing
    assert fake.counts["history.list"] == 1
    assert int(cursor["historyId"]) > int(first["historyId"])
    assert cursor["historyId"] == str(fake.box(EMAIL).history_id)
    assert h.sink.messages_by_id[new].data == eml(4)
    assert h.sink.messages_by_id[new].labels == ("INBOX", "CATEGORY_UPDATES")
    assert spam not in h.sink.messages_by_id
    assert h.sink.deleted_ids == [b]
    assert h.sink.flags_by_id[a].flagged and not h.sink.flags_by_id[a].seen
    assert h.sink.flags_by_id[c].seen and not h.sink.flags_by_id[c].flagged
    assert h.sink.labels_by_id[a] == ("INBOX",)
    assert b not in h.items.folders["gmail"] and new in h.items.folders["gmail"]

    # Moving to the trash is a label change (labelsAdded TRASH), not a deletion, and so
    # is restoring; the message is never fetched again.
    received = h.sink.received
    fake.modify(EMAIL, c, add=["TRASH"], remove=["INBOX"])
    await h.sync()
    assert h.sink.deleted_ids == [b]
    assert h.sink.labels_by_id[c] == ("TRASH",) and in_trash(h.sink.labels_by_id[c])
    assert h.sink.flags_by_id[c].seen
    fake.modify(EMAIL, c, add=["INBOX"], remove=["TRASH"])
    await h.sync()
    assert h.sink.labels_by_id[c] == ("INBOX",) and h.sink.deleted_ids == [b]
    assert h.sink.received == received and fake.counts["messages.list"] == lists

    # A label created after the sync began is reported by its name.
    fake.on_request(
        "history.list", lambda: fake.modify(EMAIL, a, add=[fake.add_label(EMAIL, "Later")])
    )
    await h.sync()
    assert h.sink.labels_by_id[a] == ("INBOX", "Later")


async def test_history_paging_and_a_message_added_then_deleted(h: Harness, fake: FakeGmail) -> None:
    await h.sync()
    added = [fake.add_message(EMAIL, eml(n)) for n in range(620)]  # two history pages
    fleeting = fake.add_message(EMAIL, eml(999))
    fake.delete_message(EMAIL, fleeting)
    await h.sync()
    assert fake.counts["history.list"] == 2
    assert set(h.sink.messages_by_id) == set(added)
    assert h.sink.deleted_ids == []  # never had it, nothing to delete


async def test_history_too_old_means_full_resync(h: Harness, fake: FakeGmail) -> None:
    keep = [fake.add_message(EMAIL, eml(n)) for n in range(5)]
    await h.sync()
    received = h.sink.received
    new = fake.add_message(EMAIL, eml(10))
    fake.delete_message(EMAIL, keep[0])
    fake.modify(EMAIL, keep[1], add=["STARRED"], remove=["UNREAD"])
    fake.prune_history(EMAIL)

    cursor = await h.sync()

    assert fake.counts["history.list"] == 1  # answered 404
    assert fake.counts["messages.list"] == 4  # all mail and the trash, twice
    assert h.sink.received == received + 1  # only the new one: no duplicates
    assert h.sink.messages_by_id[new].data == eml(10)
    assert h.sink.deleted_ids == [keep[0]]
    assert h.sink.flags_by_id[keep[1]].flagged and h.sink.flags_by_id[keep[1]].seen
    assert cursor["historyId"] == str(fake.box(EMAIL).history_id)
    assert "fullSync" not in cursor
    # And the history works again from there.
    fake.modify(EMAIL, keep[2], add=["STARRED"])
    await h.sync()
    assert h.sink.flags_by_id[keep[2]].flagged


async def test_expired_access_token_is_refreshed_and_saved(h: Harness, fake: FakeGmail) -> None:
    ids = [fake.add_message(EMAIL, eml(n)) for n in range(30)]
    old = h.token["access_token"]
    # The token dies while many messages.get are in flight: one refresh serves them all.
    fake.on_request("messages.get", lambda: fake.expire_access_tokens(EMAIL))
    await h.sync()
    assert set(h.sink.messages_by_id) == set(ids)
    assert fake.counts["token"] == 1
    assert len(h.saved.calls) == 1
    saved = h.saved.calls[0]["token"]
    assert saved["access_token"] != old
    assert saved["refresh_token"] == h.token["refresh_token"]  # Google keeps it
    assert saved["expires_at"] > time.time() + 3000


async def test_revoked_refresh_token_is_an_auth_error(h: Harness, fake: FakeGmail) -> None:
    fake.revoke_refresh_tokens(EMAIL)
    with pytest.raises(ProviderAuthError, match="invalid_grant"):
        await h.sync()
    assert h.saved.calls == []


async def test_a_429_storm_is_ridden_out_honouring_retry_after(h: Harness, fake: FakeGmail) -> None:
    ids = [fake.add_message(EMAIL, eml(n)) for n in range(3)]
    fake.fail_next(3, 429, retry_after=7, endpoint="messages.list")
    fake.fail_next(1, 403, reason="userRateLimitExceeded", endpoint="profile")
    fake.fail_next(1, 503, endpoint="labels.list")
    await h.sync()
    assert set(h.sink.messages_by_id) == set(ids)
    assert len(h.sleeps.waits) == 5
    assert sum(w >= 7 for w in h.sleeps.waits) == 3  # the 429s said 7 s
    assert all(w <= 30 for w in h.sleeps.waits)


async def test_an_endless_storm_gives_up_with_a_retryable_error(
    h: Harness, fake: FakeGmail
) -> None:
    fake.fail_next(50, 429, retry_after=2)
    with pytest.raises(ProviderError) as caught:
        await h.sync()
    assert caught.value.retryable and caught.value.retry_after == 2
    assert len(h.sleeps.waits) == 5  # 6 attempts
    assert h.sink.cursors == []


async def test_retry_after_beyond_the_cap_gives_up_at_once(h: Harness, fake: FakeGmail) -> None:
    fake.fail_next(1, 429, retry_after=600)
    with pytest.raises(ProviderError) as caught:
        await h.sync()
    assert caught.value.retry_after == 600 and h.sleeps.waits == []


async def test_message_deleted_between_list_and_get_is_skipped(h: Harness, fake: FakeGmail) -> None:
    ids = [fake.add_message(EMAIL, eml(n)) for n in range(4)]
    fake.on_request("messages.get", lambda: fake.delete_message(EMAIL, ids[2]))
    cursor = await h.sync()
    assert set(h.sink.messages_by_id) == {ids[0], ids[1], ids[3]}
    assert ids[2] not in h.items.folders["gmail"]
    await h.sync()  # its messageDeleted record comes later: nothing to do
    assert h.sink.deleted_ids == [] and "historyId" in cursor


class FailingSink(MemorySink):
    """Fails the n-th batch once, as a crash in the middle of a sync would."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at

    async def messages(self, batch: Any) -> None:
        if self.batches + 1 == self.fail_at:
            self.fail_at = 0
            raise RuntimeError("crash")
        await super().messages(batch)


async def test_an_interrupted_first_sync_resumes_without_losing_or_repeating(
    h: Harness, fake: FakeGmail
) -> None:
    ids = [fake.add_message(EMAIL, eml(n)) for n in range(250)]
    start = fake.box(EMAIL).history_id
    h.sink = FailingSink(fail_at=2)
    with pytest.raises(RuntimeError):
        await h.sync()
    assert len(h.sink.messages_by_id) == 100 and h.sink.cursor["fullSync"]["historyId"]
    late = fake.add_message(EMAIL, eml(999))
    cursor = await h.sync()
    assert fake.counts["profile"] == 1  # resumed from the first sync's history id
    assert set(h.sink.messages_by_id) == {*ids, late}
    assert h.sink.received == 251  # none sent twice
    assert h.sink.cursors[-2]["fullSync"]["historyId"] == str(start)
    await h.sync()  # the history since the start replays ``late``: already known
    assert h.sink.received == 251 and "fullSync" not in cursor


async def test_watch_when_a_topic_is_configured(fake: FakeGmail, tmp_path: Path) -> None:
    h = Harness(fake, tmp_path, gmail_pubsub_topic="projects/p/topics/gmail")
    work = fake.add_label(EMAIL, "Work")
    cursor = await h.sync(labels=["Work"])
    assert fake.counts["watch"] == 1
    watch = fake.box(EMAIL).watch
    assert watch is not None and watch["labelIds"] == [work]
    assert watch["behavior"] == "include" and watch["topicName"] == "projects/p/topics/gmail"
    assert cursor["watchExpiration"] == watch["expiration"]
    await h.sync(labels=["Work"])  # the watch has days left: not renewed
    assert fake.counts["watch"] == 1
    h.sink.cursors.append({**h.sink.cursor, "watchExpiration": int(time.time() * 1000) + 3600})
    cursor = await h.sync(labels=["Work"])  # expires within the day: renewed
    assert fake.counts["watch"] == 2 and cursor["watchExpiration"] > time.time() * 1000 + 6e8
    fake.add_message(EMAIL, eml(1), ["INBOX", work])
    assert fake.notifications[-1][0] == EMAIL


async def test_no_watch_without_a_topic(h: Harness, fake: FakeGmail) -> None:
    cursor = await h.sync()
    assert fake.counts["watch"] == 0 and "watchExpiration" not in cursor
    conn = h.connector()
    assert await conn.wait_for_change(cursor, 0.01) is False
    await conn.close()


async def test_consent_flow_and_account_email(h: Harness, fake: FakeGmail) -> None:
    ep = oauth_endpoints(h.app)
    verifier, challenge = pkce_pair()
    url = authorization_url(ep, REDIRECT, "st8", challenge)
    query = parse_qs(urlparse(url).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["scope"] == ["https://www.googleapis.com/auth/gmail.modify"]
    async with httpx.AsyncClient() as http:
        consent = await http.get(url)
        assert consent.status_code == 302
        back = parse_qs(urlparse(consent.headers["location"]).query)
        assert back["state"] == ["st8"]
        with pytest.raises(ProviderAuthError, match="invalid_grant"):  # wrong PKCE verifier
            await exchange_code(http, ep, back["code"][0], REDIRECT, pkce_pair()[0])
        code = fake.authorize(EMAIL, REDIRECT, challenge)
        token = await exchange_code(http, ep, code, REDIRECT, verifier)
        assert token.refresh_token and token.expires_at > time.time()
        assert await account_email(http, h.app, token.access_token) == EMAIL


def test_parse_push_notification() -> None:
    assert parse_push_notification(pubsub_body(EMAIL, 4242)) == (EMAIL, 4242)
    body = pubsub_body(EMAIL, 1)
    body["message"]["data"] = base64.b64encode(
        b'{"emailAddress": "a@b.c", "historyId": "77"}'
    ).decode()
    assert parse_push_notification(body) == ("a@b.c", 77)
    for bad in (
        None,
        {},
        {"message": {}},
        {"message": {"data": "%%%"}},
        {"message": {"data": base64.b64encode(b"[1]").decode()}},
        {"message": {"data": base64.b64encode(b'{"historyId": 5}').decode()}},
        {
            "message": {
                "data": base64.b64encode(b'{"emailAddress": "a@b", "historyId": "x"}').decode()
            }
        },
    ):
        with pytest.raises(ValueError):
            parse_push_notification(bad)


def push_app(tmp_path: Path, token: str, woken: list[tuple[str, int]]) -> httpx.AsyncClient:
    settings = Settings(data_dir=tmp_path, secret_key="x", gmail_push_token=token)

    async def wake(email: str, history_id: int) -> int:
        woken.append((email, history_id))
        return 1

    app = FastAPI()
    problems.install(app)
    app.include_router(build_router(settings, wake))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


async def test_push_endpoint(tmp_path: Path) -> None:
    woken: list[tuple[str, int]] = []
    url = "/api/v1/push/gmail"
    async with push_app(tmp_path, "s3cret", woken) as client:
        ok = await client.post(url, params={"token": "s3cret"}, json=pubsub_body(EMAIL, 99))
        assert ok.status_code == 204 and woken == [(EMAIL, 99)]
        bad = await client.post(url, params={"token": "guess"}, json=pubsub_body(EMAIL, 100))
        assert bad.status_code == 403
        assert (await client.post(url, json=pubsub_body(EMAIL, 100))).status_code == 403
        malformed = await client.post(
            url, params={"token": "s3cret"}, json={"message": {"data": "??"}}
        )
        assert malformed.status_code == 400
        assert malformed.headers["content-type"].startswith("application/problem+json")
        assert malformed.json()["status"] == 400
        not_json = await client.post(url, params={"token": "s3cret"}, content=b"{nope")
        assert not_json.status_code == 400
    assert woken == [(EMAIL, 99)]


async def test_push_endpoint_is_absent_without_a_token(tmp_path: Path) -> None:
    woken: list[tuple[str, int]] = []
    async with push_app(tmp_path, "", woken) as client:
        answer = await client.post(
            "/api/v1/push/gmail", params={"token": ""}, json=pubsub_body(EMAIL, 1)
        )
    assert answer.status_code == 404 and woken == []


async def test_the_fake_answers_as_google_does(fake: FakeGmail) -> None:
    """Shapes the connector relies on, checked directly against the fake."""
    token = fake.issue_token(EMAIL)["access_token"]
    mid = fake.add_message(EMAIL, eml(1), ["INBOX"])
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=fake.url + "/gmail/v1/users/me") as http:
        missing = await http.get("/messages/0000000000000000", headers=auth)
        assert missing.status_code == 404
        error = missing.json()["error"]
        assert error["status"] == "NOT_FOUND" and error["errors"][0]["reason"] == "notFound"
        meta = await http.get(
            f"/messages/{mid}",
            params={"format": "metadata", "metadataHeaders": "Subject"},
            headers=auth,
        )
        assert meta.json()["payload"]["headers"] == [{"name": "Subject", "value": "message 1"}]
        assert meta.json()["labelIds"] == ["INBOX"] and "raw" not in meta.json()
        empty = await http.get("/messages", params={"labelIds": ["INBOX", "SENT"]}, headers=auth)
        assert empty.json() == {"resultSizeEstimate": 0}  # labelIds: all of them
        fake.expire_access_tokens(EMAIL)
        expired = await http.get("/profile", headers=auth)
        assert expired.status_code == 401 and "WWW-Authenticate" in expired.headers
    async with httpx.AsyncClient() as http:
        code = fake.authorize(EMAIL, REDIRECT, pkce_pair()[1])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://elsewhere.example/cb",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        }
        wrong = await http.post(fake.token_url, data=form)
        assert wrong.status_code == 400 and wrong.json()["error"] == "redirect_uri_mismatch"
