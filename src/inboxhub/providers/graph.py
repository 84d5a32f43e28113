"""Microsoft 365 / Outlook.com mailboxes through Microsoft Graph v1.0.

How it syncs (all per configured folder, as Microsoft documents it; by default
``DEFAULT_FOLDERS``, Deleted Items included, so that a message moved to the trash is
relabelled as trashed, keeping its id, instead of vanishing):

* ``GET /users/{user}/mailFolders/{id}/messages/delta`` with ``$select`` and
  ``Prefer: odata.maxpagesize``; we follow ``@odata.nextLink`` page by page and keep
  the last link (nextLink while a round is under way, then the ``@odata.deltaLink``)
  in the cursor, checkpointed after each page's effects reached the sink.
* Every request sends ``Prefer: IdType="ImmutableId"`` so a message keeps its id when
  it moves; that id is the ``provider_message_id``. A move between two synced
  folders shows as ``@removed`` in one delta and a new entry in the other: removals
  are parked in the cursor (``pending``) and only become deletions at the end of the
  sync if the id did not turn up in another synced folder, so moves relabel instead
  of deleting and re-downloading.
* New ids: the MIME via ``GET /users/{user}/messages/{id}/$value`` (a few at once; a
  404 means it was deleted meanwhile). Ids we know (``ctx.items``, per folder) become
  ``FlagChange``s: delta only returns messages that changed.
* 410 Gone on a delta/next link: the sync state is lost; run the folder's delta from
  scratch, skip what we have, and delete the known ids that did not come back (the
  known set is copied to an ``ItemMap`` namespace so a crash mid-resync is safe).
* Change notifications: one subscription per folder when ``public_url`` is https,
  renewed when less than ``RENEW_MARGIN_SECONDS`` is left. Notifications only wake
  the mailbox (``services/fetcher/push_graph.py``); the delta does the work.
* Users' changes are made in the mailbox by ``graph_write``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
import structlog
from pydantic import Field, field_validator

from inboxhub.domain.labels import is_trash
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
from inboxhub.providers.graph_api import PREFER_IMMUTABLE_ID, GraphClient
from inboxhub.providers.graph_write import GraphWriter
from inboxhub.providers.oauth import OAuthEndpoints, OAuthToken, TokenManager

log = structlog.get_logger(__name__)

DELEGATED_SCOPES = ("offline_access", "User.Read", "Mail.ReadWrite", "Mail.Send")
APPLICATION_SCOPES = ("https://graph.microsoft.com/.default",)
# Folders addressable by name (https://learn.microsoft.com/graph/api/resources/mailfolder).
WELL_KNOWN_FOLDERS = frozenset(
    {
        "archive",
        "clutter",
        "conflicts",
        "conversationhistory",
        "deleteditems",
        "drafts",
        "inbox",
        "junkemail",
        "localfailures",
        "msgfolderroot",
        "outbox",
        "recoverableitemsdeletions",
        "scheduled",
        "searchfolders",
        "sentitems",
        "serverfailures",
        "syncissues",
    }
)
DELTA_SELECT = "id,isRead,flag,receivedDateTime,parentFolderId"
PAGE_SIZE = 100  # Prefer: odata.maxpagesize
# Outlook allows 4 concurrent requests per app and mailbox (MailboxConcurrency).
MAX_CONCURRENT_DOWNLOADS = 4
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 32 * 1024 * 1024
# Outlook message subscriptions live at most 10,080 minutes; stay a little under.
SUBSCRIPTION_LIFETIME_SECONDS = 10_070 * 60
RENEW_MARGIN_SECONDS = 3600.0  # renew at a sync once less than this is left
CHANGE_TYPES = "created,updated,deleted"
DEFAULT_FOLDERS = ("inbox", "sentitems", "deleteditems")  # the trash stays visible
TRASH_FOLDER, TRASH_LABEL = "deleteditems", "Deleted Items"


@dataclass(frozen=True)
class Folder:
    id: str
    name: str  # display name: the message's label


class GraphSettings(ConnectorSettings):
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"token"})

    user: str  # UPN or object id: the mailbox is /users/{user}
    auth: Literal["delegated", "application"] = "delegated"
    # The Entra tenant (directory) id for application permissions; default
    # ``microsoft_tenant`` of the app settings.
    directory_tenant: str | None = None
    # Well-known names (inbox, sentitems …) or display names, "Parent/Child" for nesting;
    # None: DEFAULT_FOLDERS.
    folders: list[str] | None = Field(default=None, min_length=1)
    token: dict[str, Any] | None = None  # the delegated OAuthToken (secret)

    @field_validator("user", "directory_tenant")
    @classmethod
    def _path_safe(cls, value: str | None) -> str | None:
        """Both go into URL paths: a UPN, an object id or a domain, nothing more."""
        if value is not None and not _PATH_SAFE.fullmatch(value):
            raise ValueError("must be a user principal name, an object id or a domain")
        return value


_PATH_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+'@-]{0,253}")
MULTI_TENANT = frozenset({"common", "organizations", "consumers"})


def preflight(config: GraphSettings, app: Any) -> None:
    """Application permissions read any mailbox of a directory that granted them, so
    a tenant admin may use them only within the operator's own directory (a
    deployment for one organisation); linking a customer's directory by admin
    consent is not built yet."""
    if config.auth != "application":
        return
    home = str(app.microsoft_tenant)
    if home in MULTI_TENANT:
        raise ProviderConfigError(
            "application permissions need INBOXHUB_MICROSOFT_TENANT set to the directory id"
        )
    if config.directory_tenant not in (None, home):
        raise ProviderConfigError(
            "application permissions are limited to this deployment's directory "
            f"({home}); connect other organisations' mailboxes with delegated consent"
        )


def _login(app: Any, tenant: str) -> str:
    return f"{str(app.microsoft_login_url).rstrip('/')}/{tenant}/oauth2/v2.0"


def oauth_endpoints(app: Any, directory_tenant: str | None = None) -> OAuthEndpoints:
    """Delegated consent (authorization code + PKCE) against the identity platform v2.0."""
    base = _login(app, directory_tenant or app.microsoft_tenant)
    return OAuthEndpoints(
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        client_id=app.microsoft_client_id,
        client_secret=app.microsoft_client_secret,
        scopes=DELEGATED_SCOPES,
    )


def application_endpoints(app: Any, directory_tenant: str | None = None) -> OAuthEndpoints:
    """Client credentials (application permissions): the directory's own token URL."""
    tenant = directory_tenant or app.microsoft_tenant
    if tenant in ("common", "organizations", "consumers"):
        raise ProviderConfigError(
            "application permissions need the directory (tenant) id, not "
            f"{tenant!r}: set directory_tenant"
        )
    base = _login(app, tenant)
    return OAuthEndpoints(
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        client_id=app.microsoft_client_id,
        client_secret=app.microsoft_client_secret,
        scopes=APPLICATION_SCOPES,
    )


async def account_email(http: httpx.AsyncClient, app: Any, access_token: str) -> str:
    """The signed-in account's address (``GET /me``), for the consent callback."""
    url = f"{str(app.graph_api_url).rstrip('/')}/me"
    try:
        response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        raise ProviderError(f"Graph unreachable: {exc}") from exc
    if response.status_code in (401, 403):
        raise ProviderAuthError(f"Graph refused the new token (HTTP {response.status_code})")
    if response.status_code != 200:
        raise ProviderError(f"GET /me answered HTTP {response.status_code}")
    body = response.json()
    email = body.get("mail") or body.get("userPrincipalName")
    if not email:
        raise ProviderError("GET /me returned neither mail nor userPrincipalName")
    return str(email)


def client_state(app: Any, tenant_id: str, mailbox_id: str) -> str:
    """The subscription's clientState: derived, so nothing needs storing (64 hex chars,
    under Graph's 128-character limit)."""
    key = str(app.secret_key).encode()
    message = f"graph-push\x00{tenant_id}\x00{mailbox_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def notification_url(app: Any, tenant_id: str, mailbox_id: str) -> str:
    return f"{str(app.public_url).rstrip('/')}/api/v1/push/graph/{tenant_id}/{mailbox_id}"


def _flags(entry: dict[str, Any]) -> Flags:
    flag = entry.get("flag") or {}
    return Flags(seen=bool(entry.get("isRead")), flagged=flag.get("flagStatus") == "flagged")


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _segment(value: str) -> str:
    return quote(value, safe="@-_=.")


class GraphConnector:
    """One mailbox. ``push`` (default: ``public_url`` is https) turns subscriptions on."""

    def __init__(
        self, config: GraphSettings, secrets: dict[str, Any], ctx: ConnectorContext
    ) -> None:
        self.config, self.ctx = config, ctx
        app = ctx.app
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=15.0))
        self._setup_error: ProviderError | None = None
        ep: OAuthEndpoints
        if config.auth == "application":
            try:
                ep = application_endpoints(app, config.directory_tenant)
            except ProviderConfigError as exc:
                self._setup_error, ep = exc, oauth_endpoints(app)
            token = OAuthToken(access_token="", expires_at=1.0)  # fetched on first use
        else:
            ep = oauth_endpoints(app, config.directory_tenant)
            raw = secrets.get("token") or config.token
            if raw:
                token = OAuthToken.model_validate(raw)
            else:
                token = OAuthToken(access_token="")
                self._setup_error = ProviderAuthError("the mailbox is not connected: sign in")
        self.tokens = TokenManager(
            self.http, ep, token, self._save_token, app_only=config.auth == "application"
        )
        self.api = GraphClient(self.http, str(app.graph_api_url), self.tokens)
        self.push = str(app.public_url).startswith("https://")
        self.user_path = f"users/{_segment(config.user)}"

    async def _save_token(self, token: OAuthToken) -> None:
        if self.config.auth == "delegated":
            await self.ctx.save_secrets({"token": token.model_dump()})

    # -- the Connector protocol ---------------------------------------------------

    async def sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        if self._setup_error is not None:
            raise self._setup_error
        state: dict[str, Any] = copy.deepcopy(cursor) if cursor else {}
        state.setdefault("folders", {})
        state.setdefault("pending", {})  # removed id → folder id it left
        folders = await self.resolve_folders()
        await self._forget_unconfigured(folders, state)
        if self.push:
            await self._ensure_subscriptions(folders, state)
        for folder in folders:
            await self._sync_folder(folder, folders, state, sink)
        await self._settle_removals(folders, state, sink)
        await sink.checkpoint(copy.deepcopy(state))
        return state

    async def apply(self, changes: Sequence[MailChange]) -> list[ChangeResult]:
        """Make users' changes in the mailbox (``graph_write``)."""
        if self._setup_error is not None:
            raise self._setup_error
        top: list[dict[str, Any]] = []

        async def folder_id(name: str) -> str | None:
            wanted = name.strip()
            if wanted.lower() in WELL_KNOWN_FOLDERS:
                return wanted.lower()
            if not top:
                top.extend(await self._list(f"{self.user_path}/mailFolders"))
            try:
                return (await self._find_by_path(wanted, top, name)).id
            except ProviderConfigError:
                return None

        def message_path(message_id: str) -> str:
            return f"{self.user_path}/messages/{_segment(message_id)}"

        writer = GraphWriter(self.api, message_path, folder_id)
        return await apply_in_order(changes, writer.apply_one)

    async def wait_for_change(self, cursor: Cursor, timeout: float) -> bool:
        """Notifications reach the push endpoint, which wakes the engine; here we
        only wait out the timeout."""
        await asyncio.sleep(timeout)
        return False

    async def close(self) -> None:
        await self.http.aclose()

    async def disconnect(self, cursor: Cursor) -> None:
        """The mailbox is deleted: delete its subscriptions."""
        for folder_state in cursor.get("folders", {}).values():
            await self._unsubscribe(folder_state.get("subscription"))

    async def _unsubscribe(self, sub: dict[str, Any] | None) -> None:
        if sub:
            await self.api.request(
                "DELETE", f"subscriptions/{_segment(sub['id'])}", prefer=(), allow=(404,)
            )

    # -- folders --------------------------------------------------------------------

    async def resolve_folders(self) -> list[Folder]:
        """The configured folders (else ``DEFAULT_FOLDERS``) as (id, label); an unknown
        one is a config error. The label is the display name, but ``Deleted Items`` for
        the trash when its name is not one ``domain.labels`` knows as the trash (a
        mailbox in another language), so that its messages count as trashed."""
        result: dict[str, Folder] = {}
        top: list[dict[str, Any]] | None = None
        configured = self.config.folders
        for wanted in configured if configured is not None else DEFAULT_FOLDERS:
            name = wanted.strip()
            if name.lower() in WELL_KNOWN_FOLDERS:
                response = await self.api.request(
                    "GET", f"{self.user_path}/mailFolders/{name.lower()}", allow=(404,)
                )
                if response.status_code == 404:
                    raise ProviderConfigError(f"folder {wanted!r} does not exist in this mailbox")
                body = response.json()
                label = str(body.get("displayName") or name)
                if name.lower() == TRASH_FOLDER and not is_trash(label):
                    label = TRASH_LABEL
                folder = Folder(body["id"], label)
            else:
                if top is None:
                    top = await self._list(f"{self.user_path}/mailFolders")
                folder = await self._find_by_path(name, top, wanted)
            result.setdefault(folder.id, folder)
        return list(result.values())

    async def _find_by_path(self, path: str, top: list[dict[str, Any]], wanted: str) -> Folder:
        level = top
        parts = [p for p in path.split("/") if p]
        found: dict[str, Any] | None = None
        for depth, part in enumerate(parts):
            found = next(
                (f for f in level if str(f.get("displayName", "")).casefold() == part.casefold()),
                None,
            )
            if found is None:
                break
            if depth < len(parts) - 1:
                level = await self._list(
                    f"{self.user_path}/mailFolders/{_segment(found['id'])}/childFolders"
                )
        if found is None or not parts:
            raise ProviderConfigError(f"folder {wanted!r} does not exist in this mailbox")
        return Folder(found["id"], found.get("displayName") or parts[-1])

    async def _list(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        link: str | None = f"{path}?$top=100"
        while link:
            body = await self.api.json("GET", link)
            items.extend(body.get("value", []))
            link = body.get("@odata.nextLink")
        return items

    async def _forget_unconfigured(self, folders: list[Folder], state: dict[str, Any]) -> None:
        """Folders dropped from the settings: stop their subscriptions and state."""
        keep = {f.id for f in folders}
        for folder_id in [fid for fid in state["folders"] if fid not in keep]:
            try:
                await self._unsubscribe(state["folders"].pop(folder_id).get("subscription"))
            except ProviderError as exc:
                log.warning("graph.unsubscribe_failed", error=str(exc))

    # -- delta ------------------------------------------------------------------------

    async def _sync_folder(
        self, folder: Folder, folders: list[Folder], state: dict[str, Any], sink: SyncSink
    ) -> None:
        fs = state["folders"].setdefault(folder.id, {})
        fs["name"] = folder.name
        link: str | None = fs.get("link")
        restarted = False
        while True:
            if link is None:
                link = (
                    f"{self.user_path}/mailFolders/{_segment(folder.id)}/messages/delta"
                    f"?$select={DELTA_SELECT}"
                )
            response = await self.api.request(
                "GET",
                link,
                prefer=(PREFER_IMMUTABLE_ID, f"odata.maxpagesize={PAGE_SIZE}"),
                allow=(410,),
            )
            if response.status_code == 410:
                if restarted:
                    raise ProviderError("Graph lost the delta state twice in a row")
                restarted = True
                log.info("graph.delta_resync", folder=folder.name)
                await self._start_resync(folder, fs)
                link = None
                continue
            body = response.json()
            await self._apply_page(folder, folders, body.get("value", []), fs, state, sink)
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            if next_link:
                fs["link"] = link = next_link
                await sink.checkpoint(copy.deepcopy(state))
                continue
            if not delta_link:
                raise ProviderError("a delta page had neither nextLink nor deltaLink")
            await self._finish_round(folder, fs, delta_link, state, sink)
            return

    def _resync_key(self, folder: Folder) -> str:
        return f"{folder.id}#resync"

    async def _start_resync(self, folder: Folder, fs: dict[str, Any]) -> None:
        """Copy the folder's known ids aside; each that comes back is struck off."""
        items = self.ctx.items
        await items.drop(self._resync_key(folder))
        await items.put(self._resync_key(folder), await items.get(folder.id))
        fs["resync"] = True
        fs.pop("link", None)

    async def _finish_round(
        self,
        folder: Folder,
        fs: dict[str, Any],
        delta_link: str,
        state: dict[str, Any],
        sink: SyncSink,
    ) -> None:
        items = self.ctx.items
        was_resync = bool(fs.pop("resync", False))
        if was_resync:
            # Known before the resync and not reported by it: gone from this folder.
            stale = await items.get(self._resync_key(folder))
            await items.drop(folder.id, list(stale))
            for pid in stale.values():
                state["pending"][pid] = folder.id
        fs["link"] = delta_link
        await sink.checkpoint(copy.deepcopy(state))
        if was_resync:  # only now: a crash before the checkpoint recomputes ``stale``
            await items.drop(self._resync_key(folder))

    async def _apply_page(
        self,
        folder: Folder,
        folders: list[Folder],
        entries: Sequence[dict[str, Any]],
        fs: dict[str, Any],
        state: dict[str, Any],
        sink: SyncSink,
    ) -> None:
        items, pending = self.ctx.items, state["pending"]
        removed = [e["id"] for e in entries if "@removed" in e and "id" in e]
        present = {e["id"]: e for e in entries if "@removed" not in e and "id" in e}
        if fs.get("resync") and present:
            await items.drop(self._resync_key(folder), list(present))
        known = await items.get(folder.id, list(present)) if present else {}
        unknown = [pid for pid in present if pid not in known]
        # Ids known elsewhere arrived here by a move: relabel, do not download again.
        moved: dict[str, str | None] = {pid: None for pid in unknown if pid in pending}
        for other in folders:
            rest = [pid for pid in unknown if pid not in moved]
            if other.id == folder.id or not rest:
                continue
            for pid in await items.get(other.id, rest):
                moved[pid] = other.id
        new = [present[pid] for pid in unknown if pid not in moved]
        await self._download(folder, new, sink)
        changes = [
            FlagChange(pid, _flags(present[pid]), labels=(folder.name,)) for pid in [*known, *moved]
        ]
        if changes:
            await sink.flags(changes)
        if moved:
            await items.put(folder.id, {pid: pid for pid in moved})
            for pid, source in moved.items():
                pending.pop(pid, None)
                if source is not None:
                    await items.drop(source, [pid])
        if removed:
            await items.drop(folder.id, removed)
            for pid in removed:
                pending[pid] = folder.id

    async def _download(
        self, folder: Folder, entries: Sequence[dict[str, Any]], sink: SyncSink
    ) -> None:
        """MIME of new messages, a few at a time, to the sink in bounded batches."""
        semaphore = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)

        async def fetch(entry: dict[str, Any]) -> FetchedMessage | None:
            pid = entry["id"]
            async with semaphore:
                response = await self.api.request(
                    "GET", f"{self.user_path}/messages/{_segment(pid)}/$value", allow=(404,)
                )
            if response.status_code == 404:  # deleted since the delta listed it
                return None
            return FetchedMessage(
                provider_message_id=pid,
                data=response.content,
                received_at=_parse_time(entry.get("receivedDateTime")),
                flags=_flags(entry),
                labels=(folder.name,),
            )

        batch: list[FetchedMessage] = []
        size = 0
        step = MAX_CONCURRENT_DOWNLOADS * 4
        for start in range(0, len(entries), step):
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(fetch(e)) for e in entries[start : start + step]]
            except ExceptionGroup as group_error:  # the others were cancelled: report one
                raise group_error.exceptions[0] from None
            for task in tasks:
                message = task.result()
                if message is not None:
                    batch.append(message)
                    size += len(message.data)
            if size >= MAX_BATCH_BYTES or len(batch) >= MAX_BATCH_MESSAGES:
                await self._flush(folder, batch, sink)
                batch, size = [], 0
        if batch:
            await self._flush(folder, batch, sink)

    async def _flush(self, folder: Folder, batch: list[FetchedMessage], sink: SyncSink) -> None:
        await sink.messages(batch)
        await self.ctx.items.put(
            folder.id, {m.provider_message_id: m.provider_message_id for m in batch}
        )

    async def _settle_removals(
        self, folders: list[Folder], state: dict[str, Any], sink: SyncSink
    ) -> None:
        """Removed ids that did not reappear in another synced folder are deleted."""
        pending: dict[str, str] = state["pending"]
        if not pending:
            return
        gone = dict(pending)
        for folder in folders:
            candidates = [pid for pid, source in gone.items() if source != folder.id]
            if candidates:
                for pid in await self.ctx.items.get(folder.id, candidates):
                    gone.pop(pid, None)
        if gone:
            await sink.deleted(list(gone))
        pending.clear()

    # -- change notifications ----------------------------------------------------

    async def _ensure_subscriptions(self, folders: list[Folder], state: dict[str, Any]) -> None:
        now = time.time()
        for folder in folders:
            fs = state["folders"].setdefault(folder.id, {"name": folder.name})
            sub = fs.get("subscription")
            if sub and sub["expires"] - now > RENEW_MARGIN_SECONDS:
                continue
            try:
                fs["subscription"] = await self._subscribe(folder, sub, now)
            except (ProviderAuthError, ProviderConfigError):
                raise
            except ProviderError as exc:  # polling still works; try again next sync
                log.warning("graph.subscribe_failed", folder=folder.name, error=str(exc))

    async def _subscribe(
        self, folder: Folder, sub: dict[str, Any] | None, now: float
    ) -> dict[str, Any]:
        expires = _iso(now + SUBSCRIPTION_LIFETIME_SECONDS)
        if sub:
            response = await self.api.request(
                "PATCH",
                f"subscriptions/{_segment(sub['id'])}",
                json={"expirationDateTime": expires},
                prefer=(),
                allow=(404,),
            )
            if response.status_code != 404:
                body = response.json()
                return {"id": sub["id"], "expires": self._expiry(body, now)}
        ctx = self.ctx
        body = await self.api.json(
            "POST",
            "subscriptions",
            json={
                "changeType": CHANGE_TYPES,
                "notificationUrl": notification_url(ctx.app, ctx.tenant_id, ctx.mailbox_id),
                "resource": f"{self.user_path}/mailFolders('{folder.id}')/messages",
                "expirationDateTime": expires,
                "clientState": client_state(ctx.app, ctx.tenant_id, ctx.mailbox_id),
            },
            prefer=(),
        )
        return {"id": body["id"], "expires": self._expiry(body, now)}

    @staticmethod
    def _expiry(body: dict[str, Any], now: float) -> float:
        value = body.get("expirationDateTime")
        if isinstance(value, str):
            return _parse_time(value).timestamp()
        return now + SUBSCRIPTION_LIFETIME_SECONDS


SETTINGS = GraphSettings
CONNECTOR = GraphConnector
