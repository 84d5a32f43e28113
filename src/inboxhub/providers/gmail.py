"""Gmail over the Gmail API v1 (OAuth 2.0), following Google's "Synchronizing clients
with Gmail" and "Push notifications" guides.

* First sync: note the mailbox's ``historyId`` (users.getProfile) *before* listing,
  list every message id (users.messages.list), fetch each one ``format=raw``. Changes
  made while we list are then replayed by the history from that id, so none is lost.
* Later syncs: users.history.list from the stored ``historyId``. A 404 there means the
  id is too old (Google keeps about a week of history): do the full sync again, this
  time comparing the listing with the ids we know (``ctx.items``, folder ``gmail``)
  to find deletions and refreshing the labels of what we already have.
* Push: with ``gmail_pubsub_topic`` set, users.watch is renewed daily (a watch lasts
  seven days); Pub/Sub then posts to ``services/fetcher/push_gmail.py``, which wakes
  the mailbox. ``wait_for_change`` itself only waits.

``provider_message_id`` is Gmail's message id (stable for the message's life).
Labels are reported by name; ``UNREAD`` and ``STARRED`` are flags, not labels.
Users' changes are made in Gmail by ``gmail_write``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import field_validator

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import (
    ChangeResult,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    FetchedMessage,
    FlagChange,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
    SyncSink,
    apply_in_order,
)
from inboxhub.providers.gmail_api import Backoff, GmailApi, GmailNotFound
from inboxhub.providers.gmail_write import GmailWriter
from inboxhub.providers.oauth import OAuthEndpoints, OAuthToken, TokenManager

log = structlog.get_logger(__name__)

SCOPE = "https://www.googleapis.com/auth/gmail.modify"
FOLDER = "gmail"  # ctx.items folder: message id -> message id, the ids we hold
LIST_PAGE_SIZE = 500  # the maximum messages.list and history.list allow
FETCH_CONCURRENCY = 10
BATCH_MESSAGES = 100
BATCH_BYTES = 8 * 1024 * 1024
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
HIDDEN_LABELS = frozenset({"SPAM"})  # not synced unless configured
TRASH = "TRASH"  # synced by default, reported as the label "TRASH" (domain.labels.is_trash)
FLAG_LABELS = frozenset({"UNREAD", "STARRED"})
WATCH_RENEW_MS = 24 * 3600 * 1000  # renew a watch expiring within a day

T = TypeVar("T")


class GmailSettings(ConnectorSettings):
    """``email`` routes push notifications to this mailbox (URLs use ``me``).
    ``labels``: label names or ids to sync; None = all mail but spam, the trash
    included (its messages carry the label ``TRASH``, so they show as trashed).
    ``token`` (secret) is the ``OAuthToken`` from the consent flow, as a dict."""

    SECRET_FIELDS = frozenset({"token"})

    email: str
    labels: list[str] | None = None
    token: dict[str, Any] | None = None

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if "@" not in value:
            raise ValueError("email must be the Gmail account's address")
        return value


def oauth_endpoints(app: Any) -> OAuthEndpoints:
    """Google's consent and token endpoints; offline access + prompt=consent so the
    consent always yields a refresh token."""
    return OAuthEndpoints(
        authorize_url=app.google_auth_url,
        token_url=app.google_token_url,
        client_id=app.google_client_id,
        client_secret=app.google_client_secret,
        scopes=(SCOPE,),
        extra_authorize_params=(("access_type", "offline"), ("prompt", "consent")),
    )


async def account_email(http: httpx.AsyncClient, app: Any, access_token: str) -> str:
    """The address of the account that just consented (users.getProfile)."""
    url = app.gmail_api_url.rstrip("/") + "/gmail/v1/users/me/profile"
    try:
        response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        raise ProviderError(f"Gmail API unreachable: {exc}") from exc
    if response.status_code in (401, 403):
        raise ProviderAuthError(f"Gmail refused the new token (HTTP {response.status_code})")
    if response.status_code != 200:
        raise ProviderError(f"Gmail getProfile answered HTTP {response.status_code}")
    return str(response.json()["emailAddress"])


def parse_push_notification(body: Any) -> tuple[str, int]:
    """(emailAddress, historyId) of a Pub/Sub push request body, whose
    ``message.data`` is base64 of ``{"emailAddress": ..., "historyId": ...}``."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise ValueError("not a Pub/Sub push body: no message object")
    data = body["message"].get("data")
    if not isinstance(data, str) or not data:
        raise ValueError("the Pub/Sub message has no data")
    standard = data.strip().replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        payload = json.loads(decoded)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"message.data is not base64 JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("message.data is not a JSON object")
    email, history_id = payload.get("emailAddress"), payload.get("historyId")
    if not isinstance(email, str) or "@" not in email:
        raise ValueError("emailAddress missing")
    if isinstance(history_id, bool) or not isinstance(history_id, int | str):
        raise ValueError("historyId missing")
    try:
        number = int(history_id)
    except ValueError as exc:
        raise ValueError("historyId is not a number") from exc
    if number <= 0:
        raise ValueError("historyId is not positive")
    return email, number


def _b64url(data: str) -> bytes:
    """Gmail's ``raw``: base64url, with or without padding."""
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _gather(calls: Iterable[Awaitable[T]]) -> list[T]:
    """All at once; the first failure cancels the rest and is raised as itself."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                tasks.append(group.create_task(_as_coro(call)))
    except BaseExceptionGroup as eg:
        first = eg.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


async def _as_coro(call: Awaitable[T]) -> T:
    return await call


class _Batcher:
    """Collects fetched messages; hands them to the sink by count or by bytes, then
    records their ids and checkpoints (after the sink returned, never before)."""

    def __init__(self, sink: SyncSink, ctx: ConnectorContext, cursor: Callable[[], Cursor]):
        self._sink, self._ctx, self._cursor = sink, ctx, cursor
        self._batch: list[FetchedMessage] = []
        self._bytes = 0

    async def add(self, message: FetchedMessage) -> None:
        self._batch.append(message)
        self._bytes += len(message.data)
        if len(self._batch) >= BATCH_MESSAGES or self._bytes >= BATCH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._bytes = self._batch, [], 0
        await self._sink.messages(batch)
        ids = {m.provider_message_id: m.provider_message_id for m in batch}
        await self._ctx.items.put(FOLDER, ids)
        await self._sink.checkpoint(self._cursor())


class GmailConnector:
    """One Gmail mailbox. The cursor: ``historyId`` (sync point), ``watchExpiration``
    (ms, when a push watch is set), ``trashSynced`` (the trash was listed: see
    ``_catch_up_trash``) and, while a full sync runs, ``fullSync``."""

    def __init__(self, config: GmailSettings, secrets: dict[str, Any], ctx: ConnectorContext):
        self.config, self.ctx = config, ctx
        raw_token = secrets.get("token") or config.token
        if not raw_token:
            raise ProviderAuthError("the Gmail mailbox has no OAuth token: connect it first")
        token = raw_token if isinstance(raw_token, OAuthToken) else OAuthToken(**raw_token)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=15.0))
        tokens = TokenManager(self._http, oauth_endpoints(ctx.app), token, self._save_token)
        self._tokens = tokens
        self.backoff = Backoff()  # tests replace .sleep
        self.api = GmailApi(self._http, ctx.app.gmail_api_url, tokens, self.backoff)
        self._label_names: dict[str, str] = {}
        self._scope_ids: frozenset[str] | None = None  # configured label ids
        self._labels_reloaded = False  # once a sync at most

    async def _know_labels(self, label_ids: Iterable[str]) -> None:
        """A label created since the sync began: reload the names (once a sync)."""
        if not self._labels_reloaded and any(lid not in self._label_names for lid in label_ids):
            await self._load_labels()
            self._labels_reloaded = True

    async def _save_token(self, token: OAuthToken) -> None:
        await self.ctx.save_secrets({"token": token.model_dump()})

    async def close(self) -> None:
        await self._http.aclose()

    async def disconnect(self, cursor: Cursor) -> None:
        """The mailbox is deleted: stop its push notifications (``users.stop``)."""
        if cursor.get("watchExpiration"):
            await self.api.stop()

    async def apply(self, changes: Sequence[MailChange]) -> list[ChangeResult]:
        """Make users' changes in Gmail (``gmail_write``)."""
        if not self._label_names:
            await self._load_labels()
        self._labels_reloaded = False
        writer = GmailWriter(self.api, self._label_id, self._tokens.token.scope)
        return await apply_in_order(changes, writer.apply_one)

    async def _label_id(self, name: str) -> str | None:
        """The id of a label given by id or name (any case); None when there is none."""
        for _ in range(2):
            if name in self._label_names:
                return name
            by_name = {n: lid for lid, n in self._label_names.items()}
            folded = {n.casefold(): lid for n, lid in by_name.items()}
            found = by_name.get(name) or folded.get(name.casefold())
            if found is not None or self._labels_reloaded:
                return found
            await self._load_labels()  # created since we looked: once a batch
            self._labels_reloaded = True
        return None

    async def wait_for_change(self, cursor: Cursor, timeout: float) -> bool:
        """Push arrives through the Pub/Sub endpoint, which wakes the engine; here we
        only wait (the engine syncs again after the timeout anyway)."""
        await asyncio.sleep(timeout)
        return False

    # --- sync ------------------------------------------------------------------------

    async def sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        cursor = dict(cursor)
        await self._load_labels()
        await self._ensure_watch(cursor)
        self._labels_reloaded = False
        if cursor.get("historyId") and not cursor.get("fullSync"):
            try:
                cursor = await self._incremental(cursor, sink)
                return await self._catch_up_trash(cursor, sink)
            except GmailNotFound:
                log.info("gmail.history_expired", mailbox=self.ctx.mailbox_id)
                cursor = {k: v for k, v in cursor.items() if k != "historyId"}
                cursor["fullSync"] = {"resync": True}
        return await self._full_sync(cursor, sink)

    async def _load_labels(self) -> None:
        labels = await self.api.labels()
        self._label_names = {str(lb["id"]): str(lb.get("name") or lb["id"]) for lb in labels}
        if self.config.labels is None:
            return
        by_name = {name: lid for lid, name in self._label_names.items()}
        by_folded = {name.casefold(): lid for name, lid in by_name.items()}
        ids = set()
        for wanted in self.config.labels:
            lid = (
                wanted
                if wanted in self._label_names
                else by_name.get(wanted) or by_folded.get(wanted.casefold())
            )
            if lid is None:
                raise ProviderConfigError(f"the Gmail label {wanted!r} does not exist")
            ids.add(lid)
        self._scope_ids = frozenset(ids)

    def _in_scope(self, label_ids: Iterable[str]) -> bool:
        labels = set(label_ids)
        if self._scope_ids is not None:
            return bool(labels & self._scope_ids)
        return not labels & HIDDEN_LABELS

    def _describe(self, label_ids: Sequence[str]) -> tuple[Flags, tuple[str, ...]]:
        flags = Flags(seen="UNREAD" not in label_ids, flagged="STARRED" in label_ids)
        names = tuple(
            self._label_names.get(lid, lid) for lid in label_ids if lid not in FLAG_LABELS
        )
        return flags, names

    async def _ensure_watch(self, cursor: Cursor) -> None:
        topic = self.ctx.app.gmail_pubsub_topic
        if not topic:
            cursor.pop("watchExpiration", None)
            return
        expiration = int(cursor.get("watchExpiration") or 0)
        if expiration - time.time() * 1000 > WATCH_RENEW_MS:
            return
        body: dict[str, Any] = {"topicName": topic, "labelFilterBehavior": "include"}
        if self._scope_ids is not None:
            body["labelIds"] = sorted(self._scope_ids)
        try:
            answer = await self.api.watch(body)
        except ProviderConfigError as exc:  # push is an optimisation; polling still works
            log.warning("gmail.watch_refused", mailbox=self.ctx.mailbox_id, error=str(exc))
            return
        cursor["watchExpiration"] = int(answer["expiration"])

    async def _fetch_raw(self, ids: Sequence[str], batcher: _Batcher) -> None:
        """Fetch ``format=raw`` a few at a time; gone (404) or out-of-scope ones are
        skipped."""
        for group in _chunks(ids, FETCH_CONCURRENCY):
            answers = await _gather(self.api.get_message(mid, "raw") for mid in group)
            for answer in answers:
                if answer is None:
                    continue
                label_ids = list(answer.get("labelIds", []))
                if not self._in_scope(label_ids):
                    continue
                await self._know_labels(label_ids)
                flags, names = self._describe(label_ids)
                millis = int(answer.get("internalDate") or 0)
                await batcher.add(
                    FetchedMessage(
                        provider_message_id=str(answer["id"]),
                        data=_b64url(answer["raw"]),
                        received_at=datetime.fromtimestamp(millis / 1000, tz=UTC),
                        flags=flags,
                        labels=names,
                    )
                )
        await batcher.flush()

    # --- full sync -------------------------------------------------------------------

    async def _list_ids(self) -> list[str]:
        """Every message id in scope, newest first. ``labelIds`` filters by *all* the
        given labels, so configured labels are listed one at a time and merged; the
        default scope is all mail but spam and trash (``includeSpamTrash=false``)
        plus ``labelIds=TRASH`` (``includeSpamTrash=true``)."""
        label_ids: Sequence[str | None] = (
            sorted(self._scope_ids) if self._scope_ids is not None else [None, TRASH]
        )
        seen: dict[str, None] = {}
        for label_id in label_ids:
            seen.update(dict.fromkeys(await self._list_label(label_id)))
        return list(seen)

    async def _list_label(self, label_id: str | None) -> list[str]:
        ids: list[str] = []
        page_token: str | None = None
        while True:
            page = await self.api.list_messages(page_token, label_id, LIST_PAGE_SIZE)
            ids.extend(str(m["id"]) for m in page.get("messages", []))
            page_token = page.get("nextPageToken")
            if not page_token:
                return ids

    def _trash_synced(self, cursor: Cursor) -> Cursor:
        """The cursor noting whether the trash is in what was synced (the default
        scope), so that ``_catch_up_trash`` knows whether to list it."""
        rest = {k: v for k, v in cursor.items() if k != "trashSynced"}
        return rest if self._scope_ids is not None else {**rest, "trashSynced": True}

    async def _catch_up_trash(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        """Once, for a mailbox synced while the trash was out of scope (before the
        default scope took it in, or under configured labels): fetch what is in the
        trash now. Later trashing arrives through the history as a label change."""
        if self._scope_ids is not None or cursor.get("trashSynced"):
            return self._trash_synced(cursor)
        listed = await self._list_label(TRASH)
        known = set(await self.ctx.items.get(FOLDER, listed)) if listed else set()
        batcher = _Batcher(sink, self.ctx, lambda: cursor)
        await self._fetch_raw([m for m in listed if m not in known], batcher)
        final = self._trash_synced(cursor)
        await sink.checkpoint(final)
        return final

    async def _full_sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        state = dict(cursor.get("fullSync") or {})
        if not state.get("historyId"):
            # Before listing: whatever changes during the listing is in the history.
            state["historyId"] = str((await self.api.profile())["historyId"])
            cursor = {**cursor, "fullSync": state}
            await sink.checkpoint(cursor)
        listed = await self._list_ids()
        known = set(await self.ctx.items.get(FOLDER))
        listed_set = set(listed)
        gone = sorted(known - listed_set)
        if gone:
            await sink.deleted(gone)
            await self.ctx.items.drop(FOLDER, gone)
            await sink.checkpoint(cursor)
        batcher = _Batcher(sink, self.ctx, lambda: cursor)
        await self._fetch_raw([m for m in listed if m not in known], batcher)
        if state.get("resync"):
            await self._refresh_flags(sorted(known & listed_set), sink, cursor)
        final = self._trash_synced({k: v for k, v in cursor.items() if k != "fullSync"})
        final["historyId"] = state["historyId"]
        await sink.checkpoint(final)
        return final

    async def _refresh_flags(self, ids: Sequence[str], sink: SyncSink, cursor: Cursor) -> None:
        """After lost history: the current labels of the messages we already hold."""
        for chunk in _chunks(ids, BATCH_MESSAGES):
            changes: list[FlagChange] = []
            for group in _chunks(chunk, FETCH_CONCURRENCY):
                answers = await _gather(self.api.get_message(mid, "minimal") for mid in group)
                for answer in answers:
                    if answer is not None:
                        flags, names = self._describe(list(answer.get("labelIds", [])))
                        changes.append(FlagChange(str(answer["id"]), flags, names))
            if changes:
                await sink.flags(changes)
                await sink.checkpoint(cursor)

    # --- incremental -----------------------------------------------------------------

    async def _incremental(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        page_token: str | None = None
        while True:
            start = str(cursor["historyId"])
            page = await self.api.history(start, page_token, HISTORY_TYPES, LIST_PAGE_SIZE)
            records = page.get("history", [])
            page_token = page.get("nextPageToken")
            # Batches inside the page checkpoint the cursor the page started from: a
            # crash repeats the page (known ids are skipped), never skips part of it.
            await self._apply(records, sink, cursor)
            latest = str(records[-1]["id"]) if records else start
            if not page_token:
                latest = str(page.get("historyId") or latest)
            cursor = {**cursor, "historyId": latest}
            await sink.checkpoint(cursor)
            if not page_token:
                return cursor

    async def _apply(
        self, records: Sequence[dict[str, Any]], sink: SyncSink, cursor: Cursor
    ) -> None:
        """The net effect of a page of history records (chronological)."""
        labels_of: dict[str, list[str] | None] = {}  # latest labelIds seen, None: unknown
        deleted: set[str] = set()
        for record in records:
            for entry in record.get("messagesAdded", []):
                mid, labels = _message_of(entry)
                deleted.discard(mid)
                labels_of[mid] = labels
            for entry in record.get("messagesDeleted", []):
                mid, _ = _message_of(entry)
                deleted.add(mid)
                labels_of.pop(mid, None)
            for entry in [*record.get("labelsAdded", []), *record.get("labelsRemoved", [])]:
                mid, labels = _message_of(entry)
                if mid not in deleted:
                    labels_of[mid] = labels
        if not (labels_of or deleted):
            return
        known = set(await self.ctx.items.get(FOLDER, sorted({*labels_of, *deleted})))
        unsure = [mid for mid, labels in labels_of.items() if labels is None and mid in known]
        for answer in await _gather(self.api.get_message(mid, "minimal") for mid in unsure):
            if answer is not None:
                labels_of[str(answer["id"])] = list(answer.get("labelIds", []))
        gone = sorted(deleted & known)
        changes: list[FlagChange] = []
        fetch: list[str] = []
        for mid, labels in labels_of.items():
            if mid not in known:
                if labels is None or self._in_scope(labels):
                    fetch.append(mid)  # new, or newly in the synced labels
            elif labels is None:
                continue  # vanished meanwhile: its messageDeleted follows
            elif self._in_scope(labels):
                await self._know_labels(labels)
                flags, names = self._describe(labels)
                changes.append(FlagChange(mid, flags, names))
            else:
                gone.append(mid)  # left the synced labels (trash, spam, unlabelled)
        if gone:
            await sink.deleted(gone)
            await self.ctx.items.drop(FOLDER, gone)
        if changes:
            await sink.flags(changes)
        await self._fetch_raw(fetch, _Batcher(sink, self.ctx, lambda: cursor))


def _message_of(entry: dict[str, Any]) -> tuple[str, list[str] | None]:
    """(id, labelIds or None) of a history entry's ``message``."""
    message = entry.get("message") or {}
    labels = message.get("labelIds")
    return str(message["id"]), (list(labels) if labels is not None else None)


SETTINGS = GmailSettings
CONNECTOR = GmailConnector
