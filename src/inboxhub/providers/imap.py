"""IMAP mailboxes (any IMAP4rev1 server; proven against Dovecot 2.3).

Protocol code lives in ``imap_conn`` (asyncio connection; why not aioimaplib or
imapclient is said there) and ``imap_wire`` (pure parsing). This module is the sync
logic:

* ``provider_message_id`` is ``<folder>:<sha256 of the bytes>``: stable across a
  UIDVALIDITY change (a resync finds the same ids, so the sink skips them), and the
  same bytes in two folders are two messages, as IMAP clients show them. Moved to
  another folder (the Trash), a message gets a new id there.
* Folders: the configured ones, else INBOX, Sent and the Trash (SPECIAL-USE
  ``\\Trash``), so a message moved to the trash is seen there, labelled as trashed,
  instead of vanishing.
* The ``ItemMap`` (key: the folder) maps ``<uidvalidity>.<uid>`` to
  ``<flags> <provider_message_id>``; the flags snapshot ("S", "F", "SF" or "-")
  finds flag changes on servers without CONDSTORE and avoids reporting unchanged
  flags on the others.
* Cursor: ``{"folders": {name: {uidvalidity, uid (last fetched), modseq, uidnext,
  exists, stale}}}``. ``uidnext``/``exists``/``modseq`` are the folder's state at
  the last EXAMINE: a watch compares them with the server's, so a change between
  the sync and the start of the watch is not missed.
* A first sync asks for the UIDs and sizes of the new messages (one round trip),
  then fetches bodies with ``UID FETCH <set> (UID FLAGS INTERNALDATE BODY.PEEK[])``
  in chunks bounded by count and bytes, one chunk always in flight while the
  previous one is handed to the sink, and checkpoints after each.
* Incremental: new UIDs only; flags by QRESYNC (in EXAMINE) or CONDSTORE
  (``CHANGEDSINCE``) or the snapshot; deletions by QRESYNC ``VANISHED`` or else
  ``UID SEARCH`` against the ItemMap.
* UIDVALIDITY change: the old entries stay in the ItemMap (other ``<uidvalidity>.``
  prefix) while the folder is fetched again under the new one; only then are the ids
  that are gone reported deleted and the old entries dropped. A crash in between
  resumes from the cursor (``stale`` lists the old UIDVALIDITYs) and loses nothing.
* Push: NOTIFY (RFC 5465) on one extra connection for all folders; else IDLE, one
  connection per folder up to ``imap_max_idle_connections``; else polling.
* Users' changes (flags, folders, trash, delete) are made by ``imap_write``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import structlog
from pydantic import Field, model_validator

from inboxhub.domain.labels import TRASH, is_trash
from inboxhub.domain.models import MailChange
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
from inboxhub.providers.imap_conn import ImapCommandError, ImapConnection, Response
from inboxhub.providers.imap_wire import (
    ImapParseError,
    as_text,
    fetch_items,
    flags_code,
    flags_of,
    in_ranges,
    mailbox_arg,
    parse_internaldate,
    parse_list,
    parse_uid_set,
    quick_fetch_items,
    response_code,
    uid_set,
)
from inboxhub.providers.imap_write import ImapWriter, find_folder, trash_folder
from inboxhub.providers.net_guard import resolve_allowed
from inboxhub.providers.smtp_settings import SmtpSettings

log = structlog.get_logger(__name__)

BATCH_MESSAGES = 300  # per UID FETCH chunk and per sink.messages call
BATCH_BYTES = 16 * 1024 * 1024
MAX_FETCH_ATTEMPTS = 3  # of one message before it is skipped as unreadable
COMMAND_TIMEOUT = 60.0
WATCH_REFRESH_SECONDS = 20 * 60  # servers end IDLE after 30 min (RFC 3501 §5.4)
_NUMBER = re.compile(rb"\d+")
_NOT_NEWS = frozenset({"OK", "NO", "BAD", "CAPABILITY"})  # keep-alives and notices


DEFAULT_FOLDERS = ("INBOX", "Sent")  # and the Trash, when the server has one


class ImapSettings(ConnectorSettings):
    """An IMAP mailbox: a password or an OAuth 2.0 access token (XOAUTH2), not both.
    ``folders``: the folders to sync; None = ``DEFAULT_FOLDERS`` and the server's Trash
    (so that a message moved to the trash stays visible there)."""

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"password", "oauth2_token"})

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)  # 993 for ssl, 143 otherwise
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    password: str | None = None
    oauth2_token: str | None = None
    folders: list[str] | None = None
    smtp: SmtpSettings | None = None  # where it sends (``send_smtp``); None: it cannot

    @model_validator(mode="after")
    def _check(self) -> ImapSettings:
        if (self.password is None) == (self.oauth2_token is None):
            raise ValueError("give exactly one of password and oauth2_token")
        self.host = self.host.strip()
        if not self.host or any(c in self.host for c in "/\\@ \t\r\n"):
            raise ValueError("host must be a host name or address")
        if not self.username or any(c in self.username for c in "\r\n\0"):
            raise ValueError("username must be a non-empty single line")
        if self.folders is not None:
            folders = [f.strip() for f in self.folders if f.strip()]
            if not folders:
                raise ValueError("folders must name at least one folder")
            self.folders = list(dict.fromkeys(folders))
        if self.port is None:
            self.port = 993 if self.security == "ssl" else 143
        return self

    def mail_hosts(self) -> list[tuple[str, int]]:
        assert self.port is not None  # set by the validator
        hosts = [(self.host, self.port)]
        if self.smtp is not None and self.smtp.port is not None:
            hosts.append((self.smtp.host, self.smtp.port))
        return hosts


class ImapConnector:
    def __init__(self, config: ImapSettings, secrets: dict[str, Any], ctx: ConnectorContext):
        self.config = config
        self.ctx = ctx
        self.password = secrets.get("password", config.password)
        self.oauth2_token = secrets.get("oauth2_token", config.oauth2_token)
        [(_, self.port), *_] = config.mail_hosts()
        # Extensions to act as if the server lacked (tests exercise the fallbacks with
        # it; also a way around a server whose extension is broken).
        self.ignore_extensions: set[str] = set()
        self._conn: ImapConnection | None = None
        self._folders: list[str] | None = None  # server names of the configured folders
        self._trash: str | None = None  # the server's Trash folder, when it has one
        self._ssl: ssl.SSLContext | None = None
        self._watch: _Watch | None = None

    # -- connections -------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.security == "none":
            return None
        if self._ssl is None:
            context = ssl.create_default_context()
            ca_file = getattr(self.ctx.app, "mail_tls_ca_file", "")
            if ca_file:
                try:
                    context.load_verify_locations(cafile=ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise ProviderConfigError(f"cannot read mail_tls_ca_file: {exc}") from exc
            self._ssl = context
        return self._ssl

    async def _connect(self) -> ImapConnection:
        allow = bool(getattr(self.ctx.app, "allow_private_mail_hosts", False))
        addresses = await resolve_allowed(self.config.host, self.port, allow)
        conn = await ImapConnection.open(
            self.config.host,
            addresses,
            self.port,
            self.config.security,
            self._ssl_context(),
            COMMAND_TIMEOUT,
        )
        try:
            if self.oauth2_token is not None:
                await conn.login_oauth2(self.config.username, self.oauth2_token, self.port)
            else:
                await conn.login_password(self.config.username, self.password or "")
            if not conn.capabilities:
                await conn.refresh_capabilities()
            conn.capabilities -= self.ignore_extensions
            if "QRESYNC" in conn.capabilities:
                await conn.enable("QRESYNC")
            elif "CONDSTORE" in conn.capabilities:
                await conn.enable("CONDSTORE")
        except BaseException:
            await conn.logout()
            raise
        return conn

    async def _sync_conn(self) -> ImapConnection:
        if self._conn is not None and not self._conn.broken:
            try:  # the server may have ended an idle session (autologout) since
                await self._conn.check("NOOP")
            except ProviderError:
                self._conn.broken = True
        if self._conn is not None and self._conn.broken:
            await self._conn.logout()
            self._conn = None
        if self._conn is None:
            self._conn = await self._connect()
            self._folders = None
        return self._conn

    async def _resolve_folders(self, conn: ImapConnection) -> list[str]:
        """Server names of the configured folders: the exact name, else the folder
        with the matching SPECIAL-USE flag ("Sent" → the one flagged \\Sent). Without
        configured folders: ``DEFAULT_FOLDERS`` and the Trash, if there is one."""
        if self._folders is not None:
            return self._folders
        done = await conn.check('LIST "" "*"')
        names: dict[str, set[str]] = {}
        for r in done.untagged:
            if r.kind == "LIST":
                attrs, _, name = parse_list(r.tokens())
                names[name] = attrs
        resolved: list[str] = []
        configured = self.config.folders
        for wanted in configured if configured is not None else DEFAULT_FOLDERS:
            found = find_folder(wanted, names)
            if found is None:
                raise ProviderConfigError(
                    f"IMAP folder {wanted!r} does not exist on {self.config.host} "
                    f"(it has: {', '.join(sorted(names)) or 'no folders'})"
                )
            if found not in resolved:
                resolved.append(found)
        self._trash = trash_folder(names)
        if configured is None and self._trash is not None and self._trash not in resolved:
            resolved.append(self._trash)
        self._folders = resolved
        return resolved

    def label_of(self, folder: str) -> str:
        """The label of ``folder``'s messages: its name, but ``Trash`` for a Trash whose
        name ``domain.labels`` does not know as the trash (Apple's "Deleted Messages",
        "Papierkorb"), so that its messages count as trashed."""
        return TRASH if folder == self._trash and not is_trash(folder) else folder

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        try:
            conn = await self._sync_conn()
            folders = await self._resolve_folders(conn)
            previous = cursor.get("folders", {}) if isinstance(cursor, dict) else {}
            out: Cursor = {
                "v": 1,
                "folders": {f: dict(previous[f]) for f in folders if f in previous},
            }
            for folder in folders:
                await _FolderSync(self, conn, folder, out, sink).run()
            await sink.checkpoint(out)
            return out
        except ImapParseError as exc:
            await self._drop_sync_conn()
            raise ProviderError(f"{self.config.host} sent an unreadable response: {exc}") from exc
        except BaseException:
            # Whatever failed (the server, the sink, a cancellation), commands may be
            # in flight on this connection: start the next sync on a fresh one.
            await self._drop_sync_conn()
            raise

    # -- write-back -------------------------------------------------------------------

    async def apply(self, changes: Sequence[MailChange]) -> list[ChangeResult]:
        """Make users' changes on the server (``imap_write``), on the sync's connection:
        the fetcher never applies and syncs at once."""
        try:
            writer = ImapWriter(await self._sync_conn(), self.ctx.items)
            return await apply_in_order(changes, writer.apply_one)
        except ImapParseError as exc:
            await self._drop_sync_conn()
            raise ProviderError(f"{self.config.host} sent an unreadable response: {exc}") from exc
        except BaseException:
            await self._drop_sync_conn()
            raise

    async def _drop_sync_conn(self) -> None:
        if self._conn is not None:
            await self._conn.logout()
            self._conn = None

    # -- push ------------------------------------------------------------------------------

    async def wait_for_change(self, cursor: Cursor, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        watch = self._watch
        if watch is not None and (watch.dead or watch.age() > WATCH_REFRESH_SECONDS):
            await watch.close()
            watch = self._watch = None
        if watch is None:
            conn = await self._sync_conn()
            folders = await self._resolve_folders(conn)
            watch = self._watch = _Watch(self, folders)
            try:
                changed = await watch.start(cursor, conn.capabilities)
            except BaseException as exc:
                await watch.close()
                self._watch = None
                if isinstance(exc, ImapParseError):
                    raise ProviderError(f"{self.config.host}: unreadable response: {exc}") from exc
                raise
            if changed:
                return True
        remaining = deadline - time.monotonic()
        if not watch.active:
            await asyncio.sleep(max(0.0, remaining))  # no push here: the engine polls
            return False
        return await watch.wait(remaining)

    async def close(self) -> None:
        if self._watch is not None:
            await self._watch.close()
            self._watch = None
        await self._drop_sync_conn()


class _FolderSync:
    """One folder's share of a ``sync``."""

    def __init__(
        self,
        connector: ImapConnector,
        conn: ImapConnection,
        folder: str,
        out: Cursor,
        sink: SyncSink,
    ) -> None:
        self.connector = connector
        self.conn = conn
        self.folder = folder
        self.out = out
        self.sink = sink
        self.items = connector.ctx.items
        self.qresync = "QRESYNC" in conn.enabled
        self.condstore = self.qresync or "CONDSTORE" in conn.capabilities

    async def run(self) -> None:
        state: dict[str, Any] | None = self.out["folders"].get(self.folder)
        qresync_arg = ""
        if self.qresync and state and state.get("modseq") and state.get("uid"):
            qresync_arg = f" (QRESYNC ({state['uidvalidity']} {state['modseq']}))"
        elif self.condstore and "CONDSTORE" not in self.conn.enabled and not self.qresync:
            qresync_arg = " (CONDSTORE)"
        select = _Select()
        done = await self.conn.command(
            b"EXAMINE " + mailbox_arg(self.folder) + qresync_arg.encode(), select.take
        )
        if done.status != "OK":
            text = done.text.decode("utf-8", "replace")
            raise ProviderConfigError(f"cannot open IMAP folder {self.folder!r}: {text}")
        select.finish(done.text)
        if select.uidvalidity is None:
            raise ProviderError(f"{self.folder!r}: the server sent no UIDVALIDITY")

        stale: list[int] = []
        if state is not None and state.get("uidvalidity") != select.uidvalidity:
            stale = [*state.get("stale", []), state["uidvalidity"]]
            log.info("imap.uidvalidity_changed_resync", folder=self.folder)
            state = None
        if state is None:
            state = {"uidvalidity": select.uidvalidity, "uid": 0, "modseq": None, "stale": stale}
            self.out["folders"][self.folder] = state
        self.state = state
        self.prefix = f"{select.uidvalidity}."

        if state["uid"]:
            if qresync_arg.startswith(" (QRESYNC"):
                await self._apply_flags(select.changes)
                await self._apply_vanished(select.vanished)
            else:
                await self._changes_without_qresync(state.get("modseq"))
        if select.exists:
            await self._fetch_new()
        if state.get("stale"):
            await self._resolve_stale()
        state.update(
            modseq=select.highestmodseq if self.condstore else None,
            uidnext=select.uidnext,
            exists=select.exists,
        )
        await self.sink.checkpoint(self.out)

    # -- flags and deletions --------------------------------------------------------------

    async def _changes_without_qresync(self, modseq: int | None) -> None:
        last = self.state["uid"]
        changes: dict[int, Any] = {}

        def take(r: Response) -> None:
            if r.kind == "FETCH":
                items = fetch_items(r.tokens())
                if "UID" in items and "FLAGS" in items:
                    changes[int(as_text(items["UID"]))] = items["FLAGS"]

        since = f" (CHANGEDSINCE {modseq})" if self.condstore and modseq else ""
        await self.conn.check(f"UID FETCH 1:{last} (UID FLAGS){since}", take)
        await self._apply_flags(changes)

        present: set[int] = set()

        def found(r: Response) -> None:
            if r.kind == "SEARCH":
                present.update(int(n) for n in _NUMBER.findall(r.text))

        await self.conn.check(f"UID SEARCH UID 1:{last}", found)
        known = await self.items.get(self.folder)
        gone = [
            ref
            for ref in known
            if ref.startswith(self.prefix) and int(ref[len(self.prefix) :]) not in present
        ]
        await self._delete(gone, known)

    async def _apply_flags(self, changes: dict[int, Any]) -> None:
        last = self.state["uid"]
        refs = [f"{self.prefix}{uid}" for uid in changes if uid <= last]
        if not refs:
            return
        known = await self.items.get(self.folder, refs)
        reported: list[FlagChange] = []
        updated: dict[str, str] = {}
        for ref, value in known.items():
            code, _, pmid = value.partition(" ")
            flags = flags_of(changes[int(ref[len(self.prefix) :])])
            if flags_code(flags) != code:
                reported.append(FlagChange(pmid, flags))
                updated[ref] = f"{flags_code(flags)} {pmid}"
        if reported:
            await self.sink.flags(reported)
            await self.items.put(self.folder, updated)

    async def _apply_vanished(self, vanished: list[tuple[int, int]]) -> None:
        if not vanished:
            return
        last = self.state["uid"]
        known = await self.items.get(self.folder)
        gone = [
            ref
            for ref in known
            if ref.startswith(self.prefix)
            and (uid := int(ref[len(self.prefix) :])) <= last
            and in_ranges(uid, vanished)
        ]
        await self._delete(gone, known)

    async def _delete(self, gone: Sequence[str], known: dict[str, str]) -> None:
        """Report the messages of ``gone`` (refs) deleted, unless another copy of the
        same bytes is still in the folder (same provider_message_id)."""
        if not gone:
            return
        gone_set = set(gone)
        kept = {v.partition(" ")[2] for r, v in known.items() if r not in gone_set}
        pmids = list(dict.fromkeys(known[r].partition(" ")[2] for r in gone))
        deleted = [p for p in pmids if p not in kept]
        if deleted:
            await self.sink.deleted(deleted)
        await self.items.drop(self.folder, list(gone))

    async def _resolve_stale(self) -> None:
        """After a refetch under a new UIDVALIDITY: what the folder had before and has
        no more is deleted; then forget the old UIDVALIDITY's entries."""
        known = await self.items.get(self.folder)
        current = {v.partition(" ")[2] for r, v in known.items() if r.startswith(self.prefix)}
        old = [r for r in known if not r.startswith(self.prefix)]
        deleted = list(
            dict.fromkeys(p for r in old if (p := known[r].partition(" ")[2]) not in current)
        )
        if deleted:
            await self.sink.deleted(deleted)
        if old:
            await self.items.drop(self.folder, old)
        self.state["stale"] = []
        await self.sink.checkpoint(self.out)

    # -- new messages ---------------------------------------------------------------------

    async def _fetch_new(self) -> None:
        first = self.state["uid"] + 1
        sizes: list[tuple[int, int]] = []

        def take(r: Response) -> None:
            if r.kind == "FETCH":
                items = quick_fetch_items(r.parts) or fetch_items(r.tokens())
                uid = int(as_text(items.get("UID", "0")))
                if uid >= first:
                    sizes.append((uid, int(as_text(items.get("RFC822.SIZE", "0")))))

        await self.conn.check(f"UID FETCH {first}:* (UID RFC822.SIZE)", take)
        sizes.sort()
        sizes, lead = await self._isolate_failing(sizes)
        if not sizes:
            return
        singles = set(lead)  # the messages of a fetch that failed before go one by one
        chunks: list[list[int]] = [[uid] for uid in lead] + [[]]
        chunk_bytes = 0
        for uid, size in sizes:
            if uid in singles:
                continue
            if chunks[-1] and (
                len(chunks[-1]) >= BATCH_MESSAGES or chunk_bytes + size > BATCH_BYTES
            ):
                chunks.append([])
                chunk_bytes = 0
            chunks[-1].append(uid)
            chunk_bytes += size
        chunks = [c for c in chunks if c]
        try:
            await self._fetch_chunks(chunks)
        except ProviderError:
            await self._remember_failure()
            raise
        self.state.pop("failing", None)

    async def _isolate_failing(
        self, sizes: list[tuple[int, int]]
    ) -> tuple[list[tuple[int, int]], list[int]]:
        """A message the server cannot deliver (Dovecot drops the connection on an
        unreadable file; others answer NO) must not stop the folder for ever. A fetch
        that failed twice is retried one message at a time; a single message that
        failed ``MAX_FETCH_ATTEMPTS`` times is skipped, logged and listed in the
        cursor's ``skipped``. Returns the sizes left and the UIDs to fetch singly."""
        failing = self.state.get("failing")
        if not failing:
            return sizes, []
        uids = [uid for uid, _ in sizes]
        if failing["single"] and failing["attempts"] >= MAX_FETCH_ATTEMPTS:
            uid = failing["uid"]
            log.warning("imap.message_unreadable_skipped", folder=self.folder, uid=uid)
            self.state["skipped"] = [*self.state.get("skipped", []), uid][-1000:]
            self.state["uid"] = max(self.state["uid"], uid)
            del self.state["failing"]
            await self.sink.checkpoint(self.out)
            return [s for s in sizes if s[0] > uid], []
        if failing["single"]:
            return sizes, [u for u in uids if u == failing["uid"]]
        if failing["attempts"] >= 2:
            return sizes, [u for u in uids if u in set(failing["chunk"])]
        return sizes, []

    async def _remember_failure(self) -> None:
        """Count the failed fetch in the cursor (see ``_isolate_failing``)."""
        chunk = self.failed_chunk
        if not chunk:
            return
        before = self.state.get("failing") or {}
        same = before.get("uid") == chunk[0] and before.get("single") == (len(chunk) == 1)
        self.state["failing"] = {
            "uid": chunk[0],
            "single": len(chunk) == 1,
            "chunk": chunk[:BATCH_MESSAGES],
            "attempts": before.get("attempts", 0) + 1 if same else 1,
        }
        with contextlib.suppress(Exception):
            await self.sink.checkpoint(self.out)

    async def _fetch_chunks(self, chunks: list[list[int]]) -> None:
        """Fetch bodies chunk by chunk, the next chunk's command always sent before the
        current one is read, so the server never waits for us between chunks. Servers
        may run pipelined FETCHes in parallel (Dovecot does): responses are matched to
        their chunk by UID, not by which command's completion they came before."""
        pending = iter(chunks)
        arrived: dict[int, tuple[FetchedMessage, str, str]] = {}
        take = self._collector(arrived)

        def send_next() -> tuple[str, list[int]] | None:
            chunk = next(pending, None)
            if chunk is None:
                return None
            command = f"UID FETCH {uid_set(chunk)} (UID FLAGS INTERNALDATE BODY.PEEK[])"
            return self.conn.send(command), chunk

        current = send_next()
        self.failed_chunk: list[int] = []
        while current is not None:
            tag, chunk = current
            following = send_next()
            try:
                done = await self.conn.finish(tag, take)
                if done.status != "OK":
                    raise ImapCommandError("UID FETCH", done)
            except ProviderError:
                self.failed_chunk = chunk
                raise
            got = [arrived.pop(uid) for uid in chunk if uid in arrived]
            if got:
                await self.sink.messages([m for m, _, _ in got])
                await self.items.put(self.folder, {ref: value for _, ref, value in got})
            self.state["uid"] = max(self.state["uid"], chunk[-1])
            await self.sink.checkpoint(self.out)
            current = following

    def _collector(self, arrived: dict[int, tuple[FetchedMessage, str, str]]) -> Any:
        folder, prefix, labels = self.folder, self.prefix, (self.connector.label_of(self.folder),)

        def take(r: Response) -> None:
            if r.kind != "FETCH":
                return  # EXISTS/EXPUNGE during the fetch: the next sync sees them
            items = quick_fetch_items(r.parts) or fetch_items(r.tokens())
            body = items.get("BODY[]")
            if not isinstance(body, bytes) or "UID" not in items:
                return  # an unsolicited flag update
            uid = int(as_text(items["UID"]))
            digest = hashlib.sha256(body).hexdigest()
            pmid = f"{folder}:{digest}"
            flags = flags_of(items.get("FLAGS"))
            date = items.get("INTERNALDATE")
            received = parse_internaldate(date) if date is not None else datetime.now(UTC)
            message = FetchedMessage(pmid, body, received, flags, digest, labels)
            arrived[uid] = (message, f"{prefix}{uid}", f"{flags_code(flags)} {pmid}")

        return take


class _Select:
    """What a SELECT/EXAMINE said: state codes, and with QRESYNC the changes since."""

    def __init__(self) -> None:
        self.uidvalidity: int | None = None
        self.uidnext: int | None = None
        self.exists = 0
        self.highestmodseq: int | None = None
        self.changes: dict[int, Any] = {}
        self.vanished: list[tuple[int, int]] = []

    def take(self, r: Response) -> None:
        kind = r.kind
        if kind == "EXISTS":
            self.exists = int(r.parts[0].split()[1])
        elif kind == "OK":
            self._code(r.status_text)
        elif kind == "FETCH":
            items = fetch_items(r.tokens())
            if "UID" in items and "FLAGS" in items:
                self.changes[int(as_text(items["UID"]))] = items["FLAGS"]
        elif kind == "VANISHED":
            tokens = r.tokens()
            last = tokens[-1]
            self.vanished.extend(parse_uid_set(as_text(last)))

    def _code(self, text: bytes) -> None:
        code = response_code(text)
        if code is None:
            return
        name, arg = code
        if name == "UIDVALIDITY":
            self.uidvalidity = int(arg)
        elif name == "UIDNEXT":
            self.uidnext = int(arg)
        elif name == "HIGHESTMODSEQ":
            self.highestmodseq = int(arg)
        elif name == "NOMODSEQ":
            self.highestmodseq = None

    def finish(self, text: bytes) -> None:
        self._code(text)


def folder_state_changed(saved: dict[str, Any] | None, now: dict[str, int | None]) -> bool:
    """Whether a folder's state (STATUS or EXAMINE) differs from the cursor's record."""
    if not saved:
        return True
    for key in ("uidvalidity", "uidnext", "exists"):
        if now.get(key) is not None and saved.get(key) != now[key]:
            return True
    modseq = now.get("modseq")
    return modseq is not None and saved.get("modseq") is not None and saved["modseq"] != modseq


class _Watch:
    """The connection(s) that wait for the server to say something changed."""

    def __init__(self, connector: ImapConnector, folders: list[str]) -> None:
        self.connector = connector
        self.folders = folders
        self.conns: list[ImapConnection] = []
        self.idling: set[int] = set()  # ids of the connections in IDLE
        self.tasks: list[asyncio.Task[None]] = []
        self.changed = asyncio.Event()
        self.dead = False
        self.active = False
        self.started = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self.started

    async def start(self, cursor: Cursor, capabilities: set[str]) -> bool:
        """Arm the watch; True when the folders already differ from ``cursor``."""
        saved = cursor.get("folders", {}) if isinstance(cursor, dict) else {}
        if "NOTIFY" in capabilities:
            return await self._start_notify(saved)
        if "IDLE" in capabilities:
            return await self._start_idle(saved)
        return False

    async def _start_notify(self, saved: dict[str, Any]) -> bool:
        conn = await self.connector._connect()
        self.conns.append(conn)
        boxes = b" ".join(mailbox_arg(f) for f in self.folders)
        await conn.check(
            b"NOTIFY SET (mailboxes (" + boxes + b") (MessageNew MessageExpunge FlagChange))"
        )
        changed = False
        items = "UIDVALIDITY UIDNEXT MESSAGES" + (
            " HIGHESTMODSEQ" if "CONDSTORE" in conn.capabilities else ""
        )
        for folder in self.folders:
            done = await conn.check(b"STATUS " + mailbox_arg(folder) + f" ({items})".encode())
            for r in done.untagged:
                if r.kind != "STATUS":
                    changed = True  # a notification already
                    continue
                tokens = r.tokens()
                values = tokens[-1] if isinstance(tokens[-1], list) else []
                pairs = {
                    as_text(values[i]).upper(): int(as_text(values[i + 1]))
                    for i in range(0, len(values) - 1, 2)
                }
                now = {
                    "uidvalidity": pairs.get("UIDVALIDITY"),
                    "uidnext": pairs.get("UIDNEXT"),
                    "exists": pairs.get("MESSAGES"),
                    "modseq": pairs.get("HIGHESTMODSEQ"),
                }
                if folder_state_changed(saved.get(folder), now):
                    changed = True
        self.tasks.append(asyncio.create_task(self._listen(conn)))
        self.active = True
        return changed

    async def _start_idle(self, saved: dict[str, Any]) -> bool:
        limit = max(0, int(getattr(self.connector.ctx.app, "imap_max_idle_connections", 10)))
        changed = False
        for folder in self.folders[:limit]:
            try:
                conn = await self.connector._connect()
            except ProviderAuthError:
                raise
            except ProviderError as exc:  # e.g. the server's per-user connection limit
                log.warning("imap.idle_not_started_polling", folder=folder, error=str(exc))
                break
            self.conns.append(conn)
            select = _Select()
            await conn.check(b"EXAMINE " + mailbox_arg(folder), select.take)
            now = {
                "uidvalidity": select.uidvalidity,
                "uidnext": select.uidnext,
                "exists": select.exists,
                "modseq": select.highestmodseq,
            }
            if folder_state_changed(saved.get(folder), now):
                changed = True
            conn.send("IDLE")
            self.idling.add(id(conn))
            while (r := await conn.read()).tag == "*":
                changed = changed or r.kind not in _NOT_NEWS  # before IDLE was confirmed
            if r.tag != "+":
                raise ProviderError(f"IDLE refused on {folder!r}: {r.parts[0]!r}")
            self.tasks.append(asyncio.create_task(self._listen(conn)))
            self.active = True
        return changed

    async def _listen(self, conn: ImapConnection) -> None:
        try:
            while True:
                r = await conn.read_forever()
                if r.tag == "*" and r.kind in _NOT_NEWS:
                    continue  # keep-alives ("* OK Still here") and notices
                if r.tag == "*" and r.kind == "BYE":
                    break
                self.changed.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("imap.watch_lost", error=repr(exc))
        conn.broken = True
        self.dead = True
        self.changed.set()  # a sync finds out what happened

    async def wait(self, timeout: float) -> bool:
        if not self.changed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, timeout)):
                    await self.changed.wait()
        if self.changed.is_set():
            self.changed.clear()
            return True
        return False

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for conn in self.conns:
            if not conn.broken and id(conn) in self.idling:
                conn.write(b"DONE\r\n")
            await conn.logout()
        self.conns.clear()
        self.tasks.clear()
        self.idling.clear()


SETTINGS = ImapSettings
CONNECTOR = ImapConnector
