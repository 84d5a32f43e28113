"""The Microsoft Graph connector against the fake Graph (tests/fakes/graph.py), and the
change-notification endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import Flags
from inboxhub.providers import graph as graph_module
from inboxhub.providers import graph_api
from inboxhub.providers.base import (
    ConnectorContext,
    FetchedMessage,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
)
from inboxhub.providers.graph import (
    GraphConnector,
    GraphSettings,
    account_email,
    client_state,
    oauth_endpoints,
)
from inboxhub.providers.oauth import authorization_url, exchange_code, pkce_pair
from inboxhub.services.fetcher.push_graph import build_router
from inboxhub.services.gateway import problems
from inboxhub.settings import Settings
from tests.fakes.graph import FakeGraph, sample_mime
from tests.fakes.server import ThreadedServer
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets

UPN = "adele@contoso.com"


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph().start()
    server.add_user(UPN, "Adele Vance")
    try:
        yield server
    finally:
        server.stop()


def make_app(tmp_path: Path, fake: FakeGraph, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "secret_key": "test-secret",
        "graph_api_url": fake.graph_url,
        "microsoft_login_url": fake.login_url,
        "microsoft_client_id": fake.client_id,
        "microsoft_client_secret": fake.client_secret,
        **overrides,
    }
    return Settings(**values)


class Harness:
    """A connector wired to the fake, with in-memory sink, item map and secrets."""

    def __init__(self, tmp_path: Path, fake: FakeGraph, **settings: Any) -> None:
        self.fake = fake
        self.app = make_app(tmp_path, fake, **settings.pop("app", {}))
        self.items = MemoryItemMap()
        self.saved = SavedSecrets()
        self.ctx = ConnectorContext("tenant-1", "mailbox-1", self.app, self.items, self.saved)
        self.config = GraphSettings(user=UPN, **settings)
        secrets = {} if self.config.auth == "application" else {"token": fake.issue_tokens(UPN)}
        self.conn = GraphConnector(self.config, secrets, self.ctx)
        self.sleeps: list[float] = []

        async def no_wait(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.conn.api.sleep = no_wait
        self.sink = MemorySink()
        self.cursor: dict[str, Any] = {}

    async def sync(self) -> dict[str, Any]:
        self.cursor = await self.conn.sync(self.cursor, self.sink)
        return self.cursor

    def after_each_delta_page(self, action: Callable[[], object]) -> None:
        """Run ``action`` each time the connector has fetched a page of a delta query."""
        original = self.conn.api.request

        async def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = await original(method, path, **kwargs)
            if "/messages/delta" in path:
                action()
            return response

        self.conn.api.request = request


@pytest.fixture
async def harness(tmp_path: Path, fake: FakeGraph) -> Any:
    made: list[Harness] = []

    def build(**settings: Any) -> Harness:
        made.append(Harness(tmp_path, fake, **settings))
        return made[-1]

    yield build
    for h in made:
        await h.conn.close()


# -- syncing -------------------------------------------------------------------------------


async def test_first_sync_pages_two_folders(
    fake: FakeGraph, harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_module, "PAGE_SIZE", 3)
    received = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
    inbox = {
        fake.add_message(
            UPN,
            "inbox",
            sample_mime(f"in {i}"),
            is_read=i % 2 == 0,
            flagged=i == 3,
            received=received + timedelta(minutes=i),
        ): i
        for i in range(7)
    }
    sent = [
        fake.add_message(UPN, "sentitems", sample_mime(f"out {i}"), is_read=True) for i in range(2)
    ]
    h = harness()
    order: list[str] = []
    real_messages, real_checkpoint = h.sink.messages, h.sink.checkpoint

    async def messages(batch: Any) -> None:
        order.append("messages")
        await real_messages(batch)

    async def checkpoint(cursor: Any) -> None:
        order.append("checkpoint")
        await real_checkpoint(cursor)

    h.sink.messages, h.sink.checkpoint = messages, checkpoint
    cursor = await h.sync()

    assert set(h.sink.messages_by_id) == set(inbox) | set(sent)
    for mid, i in inbox.items():
        m: FetchedMessage = h.sink.messages_by_id[mid]
        assert m.data == fake.users[UPN].messages[mid].mime  # exact bytes
        assert m.flags == Flags(seen=i % 2 == 0, flagged=i == 3)
        assert m.labels == ("Inbox",)
        assert m.received_at == received + timedelta(minutes=i)
    assert {h.sink.messages_by_id[s].labels for s in sent} == {("Sent Items",)}
    # Paged: 7 inbox messages at 3 per page = 3 pages, 2 sent = 1 page, empty trash 1.
    deltas = [r for r in fake.requests if r.path.endswith("/messages/delta")]
    assert len(deltas) == 5
    assert {f["name"] for f in cursor["folders"].values()} == {
        "Inbox",
        "Sent Items",
        "Deleted Items",
    }
    assert all('IdType="ImmutableId"' in r.headers["prefer"] for r in deltas)
    assert all("odata.maxpagesize=3" in r.headers["prefer"] for r in deltas)
    assert "$select=id" in deltas[0].query.replace("%24", "$")
    values = [r for r in fake.requests if r.path.endswith("/$value")]
    assert len(values) == 9
    assert all('IdType="ImmutableId"' in r.headers["prefer"] for r in values)
    assert order[0] == "messages" and "checkpoint" in order
    assert all("$deltatoken" in f["link"] for f in cursor["folders"].values())
    assert h.sink.cursor == cursor


async def test_incremental_delta_new_read_flagged_deleted(fake: FakeGraph, harness: Any) -> None:
    ids = [fake.add_message(UPN) for _ in range(4)]
    h = harness()
    await h.sync()
    values_before = fake.count("/$value")
    new = fake.add_message(UPN, mime=sample_mime("later"))
    fake.set_read(UPN, ids[0])
    fake.set_flag(UPN, ids[1])
    fake.delete_message(UPN, ids[2])

    await h.sync()

    assert fake.count("/$value") == values_before + 1  # only the new message downloaded
    assert h.sink.messages_by_id[new].data == fake.users[UPN].messages[new].mime
    assert h.sink.flags_by_id[ids[0]] == Flags(seen=True, flagged=False)
    assert h.sink.flags_by_id[ids[1]] == Flags(seen=False, flagged=True)
    assert h.sink.deleted_ids == [ids[2]]
    assert ids[2] not in (await h.items.get(fake.folder_id(UPN, "inbox")))
    # Nothing changed: a third sync reports nothing new.
    await h.sync()
    assert h.sink.deleted_ids == [ids[2]] and h.sink.received == 5


async def test_move_between_synced_folders_relabels(fake: FakeGraph, harness: Any) -> None:
    mid = fake.add_message(UPN)
    h = harness()
    await h.sync()
    fake.move_message(UPN, mid, "sentitems")
    values_before = fake.count("/$value")

    await h.sync()

    assert h.sink.deleted_ids == []
    assert h.sink.labels_by_id[mid] == ("Sent Items",)
    assert fake.count("/$value") == values_before
    assert mid in await h.items.get(fake.folder_id(UPN, "sentitems"))


async def test_a_message_moved_to_the_trash_is_relabelled_not_deleted(
    fake: FakeGraph, harness: Any
) -> None:
    mid = fake.add_message(UPN, is_read=True)
    h = harness()  # the default folders: the trash among them
    await h.sync()
    fake.move_message(UPN, mid, "deleteditems")  # another client trashes it
    values_before = fake.count("/$value")

    await h.sync()

    assert h.sink.deleted_ids == []  # immutable ids: the same message, relabelled
    assert h.sink.labels_by_id[mid] == ("Deleted Items",)
    assert in_trash(h.sink.labels_by_id[mid]) and h.sink.flags_by_id[mid].seen
    assert fake.count("/$value") == values_before
    assert mid in await h.items.get(fake.folder_id(UPN, "deleteditems"))

    # Configured folders leave the trash out: a message moved there is gone.
    other = fake.add_message(UPN)
    narrow = harness(folders=["inbox"])
    await narrow.sync()
    assert set(narrow.sink.messages_by_id) == {other}
    fake.move_message(UPN, other, "deleteditems")
    await narrow.sync()
    assert narrow.sink.deleted_ids == [other] and not narrow.sink.messages_by_id


async def test_a_trash_with_another_name_is_still_labelled_deleted_items(
    fake: FakeGraph, harness: Any
) -> None:
    fake.users[UPN].named("deleteditems").display_name = "Gelöschte Elemente"
    mid = fake.add_message(UPN, "deleteditems")
    h = harness()
    await h.sync()
    assert h.sink.labels_by_id[mid] == ("Deleted Items",)


async def test_gone_delta_token_resyncs_without_duplicates(
    fake: FakeGraph, harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_module, "PAGE_SIZE", 2)  # the resync spans several pages
    ids = [fake.add_message(UPN) for _ in range(5)]
    h = harness()
    await h.sync()
    fake.delete_message(UPN, ids[0])
    new = fake.add_message(UPN)
    fake.set_read(UPN, ids[1])
    fake.expire_delta_tokens()
    values_before = fake.count("/$value")

    await h.sync()

    gone = [r for r in fake.requests if r.path.endswith("/messages/delta")]
    assert any("$deltatoken" in r.query.replace("%24", "$") for r in gone)
    assert fake.count("/$value") == values_before + 1  # existing ones skipped
    assert h.sink.received == 6  # 5 + the new one, no duplicate delivery
    assert h.sink.deleted_ids == [ids[0]]
    assert new in h.sink.messages_by_id
    assert h.sink.flags_by_id[ids[1]].seen is True
    assert not await h.items.get(fake.folder_id(UPN, "inbox") + "#resync")
    await h.sync()  # the fresh delta link works
    assert h.sink.deleted_ids == [ids[0]]


async def test_expired_token_is_refreshed_and_saved(fake: FakeGraph, harness: Any) -> None:
    fake.add_message(UPN)
    h = harness()
    old = h.conn.tokens.token.access_token
    fake.expire_access_tokens()

    await h.sync()

    assert len(h.sink.messages_by_id) == 1
    assert fake.count("/oauth2/v2.0/token") == 1
    assert len(h.saved.calls) == 1
    saved = h.saved.calls[0]["token"]
    assert saved["access_token"] != old and saved["refresh_token"]
    token_request = next(r for r in fake.requests if r.path.endswith("/token"))
    assert token_request.form["grant_type"] == "refresh_token"


async def test_revoked_consent_is_an_auth_error(fake: FakeGraph, harness: Any) -> None:
    h = harness()
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens(UPN)
    with pytest.raises(ProviderAuthError, match="invalid_grant"):
        await h.sync()


async def test_missing_token_is_an_auth_error(tmp_path: Path, fake: FakeGraph) -> None:
    app = make_app(tmp_path, fake)
    ctx = ConnectorContext("t", "m", app, MemoryItemMap(), SavedSecrets())
    conn = GraphConnector(GraphSettings(user=UPN), {}, ctx)
    with pytest.raises(ProviderAuthError, match="not connected"):
        await conn.sync({}, MemorySink())
    await conn.close()


async def test_application_permissions_use_client_credentials(
    fake: FakeGraph, harness: Any
) -> None:
    mid = fake.add_message(UPN)
    h = harness(auth="application", directory_tenant=fake.tenant)

    await h.sync()

    assert mid in h.sink.messages_by_id
    token_requests = [r for r in fake.requests if r.path.endswith("/token")]
    assert len(token_requests) == 1
    assert token_requests[0].path == f"/{fake.tenant}/oauth2/v2.0/token"
    assert token_requests[0].form["grant_type"] == "client_credentials"
    assert token_requests[0].form["scope"] == "https://graph.microsoft.com/.default"
    assert h.saved.calls == []  # app tokens are not secrets to store


async def test_application_permissions_need_a_directory(fake: FakeGraph, harness: Any) -> None:
    h = harness(auth="application")  # microsoft_tenant defaults to "common"
    with pytest.raises(ProviderConfigError, match="directory"):
        await h.sync()


async def test_throttling_storm_is_ridden_out(fake: FakeGraph, harness: Any) -> None:
    fake.add_message(UPN)
    h = harness()
    fake.throttle(5, retry_after=7)

    await h.sync()

    assert h.sleeps == [7.0] * 5
    assert len(h.sink.messages_by_id) == 1


async def test_endless_throttling_gives_a_retryable_error(fake: FakeGraph, harness: Any) -> None:
    h = harness()
    fake.throttle(100, retry_after=3, status=503)
    with pytest.raises(ProviderError) as info:
        await h.sync()
    assert info.value.retryable and info.value.retry_after == 3.0
    assert len(h.sleeps) == graph_api.MAX_THROTTLE_RETRIES


async def test_message_deleted_before_its_mime_is_skipped(fake: FakeGraph, harness: Any) -> None:
    keep, doomed = fake.add_message(UPN), fake.add_message(UPN)
    h = harness()

    def delete_doomed() -> None:
        if doomed in fake.users[UPN].messages:
            fake.delete_message(UPN, doomed)

    h.after_each_delta_page(delete_doomed)
    await h.sync()

    assert set(h.sink.messages_by_id) == {keep}
    await h.sync()  # the next delta reports the removal of an id we never stored
    assert set(h.sink.messages_by_id) == {keep}


async def test_folders_by_display_name_and_unknown_folder(fake: FakeGraph, harness: Any) -> None:
    fake.add_folder(UPN, "Projects")
    fake.add_folder(UPN, "2024", parent="Projects")
    for i in range(12):  # more top-level folders than one default listing page
        fake.add_folder(UPN, f"Folder {i}")
    mid = fake.add_message(UPN, "2024")
    h = harness(folders=["Folder 11", "projects/2024"])
    await h.sync()
    assert h.sink.labels_by_id[mid] == ("2024",)

    bad = harness(folders=["inbox", "Nope"])
    with pytest.raises(ProviderConfigError, match="Nope"):
        await bad.sync()


# -- OAuth ---------------------------------------------------------------------------------


async def test_consent_flow_with_pkce_and_account_email(tmp_path: Path, fake: FakeGraph) -> None:
    app = make_app(tmp_path, fake)
    ep = oauth_endpoints(app)
    assert ep.authorize_url == f"{fake.login_url}/common/oauth2/v2.0/authorize"
    assert set(ep.scopes) == {"offline_access", "User.Read", "Mail.ReadWrite", "Mail.Send"}
    fake.consent_user = UPN
    verifier, challenge = pkce_pair()
    redirect = "https://inboxhub.example/oauth/microsoft/callback"
    async with httpx.AsyncClient() as http:
        answer = await http.get(authorization_url(ep, redirect, "st4te", challenge))
        assert answer.status_code == 302
        callback = httpx.URL(answer.headers["location"])
        assert callback.params["state"] == "st4te"
        with pytest.raises(ProviderAuthError):  # a wrong verifier is refused
            await exchange_code(http, ep, callback.params["code"], redirect, "wrong" * 10)
        answer = await http.get(authorization_url(ep, redirect, "s2", challenge))
        code = httpx.URL(answer.headers["location"]).params["code"]
        token = await exchange_code(http, ep, code, redirect, verifier)
        assert token.refresh_token
        assert await account_email(http, app, token.access_token) == UPN


# -- subscriptions --------------------------------------------------------------------------


def subscriptions_of(fake: FakeGraph) -> list[dict[str, Any]]:
    return list(fake.subscriptions.values())


async def test_subscriptions_created_per_folder(fake: FakeGraph, harness: Any) -> None:
    fake.validate_subscriptions = False
    h = harness(app={"public_url": "https://inboxhub.example"})
    assert h.conn.push is True
    cursor = await h.sync()

    subs = subscriptions_of(fake)
    assert len(subs) == 3
    state = client_state(h.app, "tenant-1", "mailbox-1")
    assert len(state) <= 128
    for sub in subs:
        assert sub["notificationUrl"] == (
            "https://inboxhub.example/api/v1/push/graph/tenant-1/mailbox-1"
        )
        assert sub["clientState"] == state
        assert sub["changeType"] == "created,updated,deleted"
    resources = {s["resource"] for s in subs}
    assert resources == {
        f"users/{UPN}/mailFolders('{fake.folder_id(UPN, name)}')/messages"
        for name in ("inbox", "sentitems", "deleteditems")
    }
    assert {f["subscription"]["id"] for f in cursor["folders"].values()} == {s["id"] for s in subs}
    await h.sync()  # far from expiry: nothing renewed
    assert fake.count("/subscriptions", "PATCH") == 0
    assert fake.count("/subscriptions", "POST") == 3


async def test_subscription_renewed_near_expiry_and_recreated_after_404(
    fake: FakeGraph, harness: Any
) -> None:
    fake.validate_subscriptions = False
    h = harness(app={"public_url": "https://inboxhub.example"}, folders=["inbox", "sentitems"])
    await h.sync()
    inbox = h.cursor["folders"][fake.folder_id(UPN, "inbox")]
    sent = h.cursor["folders"][fake.folder_id(UPN, "sentitems")]
    inbox["subscription"]["expires"] = time.time() + 600  # < 1 hour left
    first_id = inbox["subscription"]["id"]

    await h.sync()

    assert fake.count("/subscriptions", "PATCH") == 1
    assert fake.count("/subscriptions", "POST") == 2
    inbox = h.cursor["folders"][fake.folder_id(UPN, "inbox")]
    assert inbox["subscription"]["id"] == first_id
    assert inbox["subscription"]["expires"] > time.time() + 6 * 24 * 3600

    fake.drop_subscription(first_id)
    inbox["subscription"]["expires"] = time.time() + 60
    await h.sync()

    assert fake.count("/subscriptions", "PATCH") == 2
    assert fake.count("/subscriptions", "POST") == 3
    new_id = h.cursor["folders"][fake.folder_id(UPN, "inbox")]["subscription"]["id"]
    assert new_id != first_id and new_id in fake.subscriptions
    assert sent["subscription"]["id"] in fake.subscriptions


async def test_failed_subscription_does_not_stop_the_sync(fake: FakeGraph, harness: Any) -> None:
    """Graph cannot validate the endpoint (nothing listens): polling still syncs."""
    mid = fake.add_message(UPN)
    h = harness(app={"public_url": "https://127.0.0.1:9"})
    await h.sync()
    assert mid in h.sink.messages_by_id
    assert fake.subscriptions == {}
    assert fake.validation_results and fake.validation_results[0] != "ok"


# -- the notification endpoint ---------------------------------------------------------------


class Wakes:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, tenant_id: str, mailbox_id: str) -> None:
        self.calls.append((tenant_id, mailbox_id))


def push_app(settings: Settings, wakes: Wakes) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.include_router(build_router(settings, wakes))
    return app


@pytest.fixture
def endpoint(tmp_path: Path) -> tuple[httpx.AsyncClient, Settings, Wakes]:
    settings = Settings(data_dir=tmp_path, secret_key="push-secret")
    wakes = Wakes()
    transport = httpx.ASGITransport(app=push_app(settings, wakes))
    return httpx.AsyncClient(transport=transport, base_url="http://test"), settings, wakes


URL = "/api/v1/push/graph/tenant-1/mailbox-1"


async def test_endpoint_echoes_the_validation_token(endpoint: Any) -> None:
    client, _, wakes = endpoint
    token = "Validation: Testing client application reachability for subscription Request-Id: 42"
    answer = await client.post(URL, params={"validationToken": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == token
    assert wakes.calls == []


async def test_endpoint_wakes_on_a_good_client_state(endpoint: Any) -> None:
    client, settings, wakes = endpoint
    good = client_state(settings, "tenant-1", "mailbox-1")
    note = {"changeType": "created", "clientState": good, "resource": "Users/x/Messages/y"}
    answer = await client.post(URL, json={"value": [note, note]})
    assert answer.status_code == 202
    assert wakes.calls == [("tenant-1", "mailbox-1")]  # once per delivery


async def test_endpoint_discards_a_bad_client_state(endpoint: Any) -> None:
    client, settings, wakes = endpoint
    other = client_state(settings, "tenant-2", "mailbox-1")  # another mailbox's secret
    answer = await client.post(URL, json={"value": [{"clientState": other}, {"x": 1}]})
    assert answer.status_code == 202
    assert wakes.calls == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"value": 3}'])
async def test_endpoint_rejects_malformed_bodies(endpoint: Any, body: bytes) -> None:
    client, _, wakes = endpoint
    answer = await client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 400
    assert wakes.calls == []


async def test_real_handshake_and_notification(
    tmp_path: Path, fake: FakeGraph, harness: Any
) -> None:
    """The fake validates the subscription against the router served by uvicorn, then
    delivers a notification to it."""
    settings = Settings(data_dir=tmp_path, secret_key="test-secret")
    wakes = Wakes()
    listener = ThreadedServer(push_app(settings, wakes)).start()
    try:
        h = harness(app={"public_url": listener.url})
        h.conn.push = True
        await h.sync()
        assert fake.validation_results == ["ok", "ok", "ok"]  # inbox, sent, trash
        sub_id = next(iter(fake.subscriptions))
        answer = fake.notify(sub_id)
        assert answer.status_code == 202
        assert wakes.calls == [("tenant-1", "mailbox-1")]
        assert fake.notify(sub_id, client_state="forged").status_code == 202
        assert len(wakes.calls) == 1
    finally:
        listener.stop()


async def test_wait_for_change_only_waits(fake: FakeGraph, harness: Any) -> None:
    h = harness()
    assert await h.conn.wait_for_change({}, 0.01) is False


async def test_failures_while_downloading_surface_as_provider_errors(
    fake: FakeGraph, harness: Any
) -> None:
    for _ in range(6):
        fake.add_message(UPN)
    h = harness()
    h.after_each_delta_page(lambda: fake.throttle(1000, retry_after=1))
    with pytest.raises(ProviderError, match="throttling") as info:
        await h.sync()
    assert info.value.retry_after == 1.0
    assert h.sink.messages_by_id == {} and h.sink.cursors == []


async def test_concurrent_401s_refresh_the_token_once(fake: FakeGraph, harness: Any) -> None:
    for _ in range(8):
        fake.add_message(UPN)
    h = harness(folders=["inbox", "sentitems"])  # a third delta would refresh once more
    h.after_each_delta_page(fake.expire_access_tokens)  # every download starts with a dead token
    await h.sync()
    assert len(h.sink.messages_by_id) == 8
    # Eight downloads met a 401 at once; one refresh served them all.
    assert fake.count("/$value") > 8
    assert fake.count("/oauth2/v2.0/token") == len(h.saved.calls) == 1
