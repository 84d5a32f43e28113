"""A fake on-premises Exchange server speaking EWS (SOAP 1.1) for connector tests.

It answers at ``/EWS/Exchange.asmx`` the operations the EWS connector uses, in the
shapes of Microsoft's published schemas (``messages.xsd``/``types.xsd``) and the
examples of the EWS reference: ``GetFolder`` (distinguished folder ids),
``SyncFolderItems`` (``SyncState``, ``IncludesLastItemInRange``, ``Changes`` with
``Create``/``Update``/``Delete``/``ReadFlagChange``, paged by ``MaxChangesReturned``),
``GetItem`` (``MimeContent`` in base64, ``IsRead``, ``DateTimeReceived`` and the
``PidTagFlagStatus`` extended property 0x1090), and the writes: ``UpdateItem``
(``SetItemField``/``DeleteItemField`` of ``message:IsRead`` and of 0x1090),
``MoveItem`` (the moved item gets a new ItemId, returned, as Exchange does within a
mailbox) and ``DeleteItem`` (``HardDelete``/``SoftDelete``, or ``MoveToDeletedItems``).
Every answer carries the ``ServerVersionInfo`` header of an Exchange 2016 CU server.

Authentication is HTTP Basic (401 with the usual ``WWW-Authenticate`` offers on a
wrong password). Errors come as Exchange sends them: a ``ResponseClass="Error"``
response message (``ErrorInvalidSyncStateData``, ``ErrorItemNotFound``,
``ErrorFolderNotFound``) or, for throttling, a SOAP fault with HTTP 500 whose
``MessageXml`` holds ``BackOffMilliseconds``.

Sync states are kept server side: each one remembers which items the client has been
told about and up to which change, so every page returns the net changes since the
state it was given, like Exchange's ICS states do.

Test controls: ``add``/``delete``/``mark_read``/``set_flag``, ``invalidate_sync_states``,
``queue_server_busy``, ``queue_http_error`` and the ``requests`` counter.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import ThreadedServer
from tests.support.tls import write_test_ca_and_certificate

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"

PATH = "/EWS/Exchange.asmx"
FLAG_STATUS_TAG = 0x1090  # PidTagFlagStatus: absent = not flagged, 1 = complete, 2 = flagged

# Well-known folders of a fresh mailbox: distinguished id → (display name, folder class).
DEFAULT_FOLDERS = {
    "msgfolderroot": ("Top of Information Store", "IPF.Note"),
    "inbox": ("Inbox", "IPF.Note"),
    "sentitems": ("Sent Items", "IPF.Note"),
    "drafts": ("Drafts", "IPF.Note"),
    "deleteditems": ("Deleted Items", "IPF.Note"),
    "junkemail": ("Junk Email", "IPF.Note"),
}

# What Exchange puts after the error code in a failed SyncFolderItems response message.
SYNC_ERROR_TAIL = "<m:SyncState /><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
BUSY_TEXT = "The server cannot service this request right now. Try again later."


def _q(name: str) -> str:
    return f"{{{TNS}}}{name}"


def _m(name: str) -> str:
    return f"{{{MNS}}}{name}"


def _new_id(prefix: bytes) -> str:
    """An opaque base64 id shaped like Exchange's (``AAMkAD…``)."""
    return base64.b64encode(prefix + secrets.token_bytes(45)).decode()


def _ews_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeItem:
    id: str
    folder: str
    mime: bytes
    received: datetime
    is_read: bool
    flag_status: int | None  # PidTagFlagStatus value
    created_seq: int
    read_seq: int  # last change of IsRead
    other_seq: int  # last change of anything else (the flag)
    version: int = 0

    @property
    def change_key(self) -> str:
        return base64.b64encode(b"CQAAABYAAA" + self.version.to_bytes(4, "big")).decode()

    @property
    def last_seq(self) -> int:
        return max(self.created_seq, self.read_seq, self.other_seq)


@dataclass
class FakeFolder:
    name: str
    id: str
    display_name: str
    folder_class: str
    items: dict[str, FakeItem] = field(default_factory=dict)


@dataclass(frozen=True)
class _SyncState:
    folder: str
    seq: int  # changes up to this sequence number have been reported
    known: frozenset[str]  # items the client has been told exist


class EwsFault(Exception):
    """Answer with a SOAP fault (HTTP 500), as Exchange does for throttling."""

    def __init__(self, code: str, text: str, values: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.values = values or {}


class FakeEws:
    """One mailbox behind a fake EWS endpoint. Start with ``start()`` (or use it as a
    context manager); ``url`` is the service endpoint."""

    def __init__(
        self,
        email: str = "alice@example.test",
        username: str = "alice",
        password: str = "s3cret",
        folders: dict[str, tuple[str, str]] | None = None,
        tls: tuple[Path, Path] | None = None,
        url_host: str = "127.0.0.1",
    ) -> None:
        """``tls``: (certificate chain, key) files to serve https; ``url_host``: the
        host name ``url`` uses (the certificate's name; tests pin it to 127.0.0.1)."""
        self.tls = tls
        self.url_host = url_host
        self.email = email
        self.username = username
        self.password = password
        self.folders: dict[str, FakeFolder] = {
            name: FakeFolder(name, _new_id(b"\x00\x01\x2e"), display, cls)
            for name, (display, cls) in (folders or DEFAULT_FOLDERS).items()
        }
        self.root_id = _new_id(b"\x00\x01\x2f")
        # Mailboxes that exist on the server but that our user may not open.
        self.other_mailboxes: set[str] = set()
        self.requests: Counter[str] = Counter()  # SOAP operation → count (and "401")
        self.log: list[str] = []  # operations in order, for debugging a test
        self.unknown_requests: list[str] = []  # bodies of operations we do not speak
        # Called with each operation's name before it is answered (a test's chance to
        # change the mailbox between two requests of a sync).
        self.on_request: Callable[[str], None] | None = None
        self._seq = itertools.count(1)
        self._states: dict[str, _SyncState] = {}
        self._busy: deque[int] = deque()
        self._http_errors: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadedServer | None = None
        self.port = 0
        self.app = Starlette(routes=[Route(PATH, self._endpoint, methods=["POST"])])

    # ------------------------------------------------------------------ controls

    def add(
        self,
        folder: str,
        mime: bytes,
        *,
        is_read: bool = False,
        flagged: bool = False,
        received: datetime | None = None,
    ) -> str:
        """Deliver a message into ``folder``; returns its EWS ItemId."""
        with self._lock:
            seq = next(self._seq)
            item = FakeItem(
                id=_new_id(b"\x00\x01\x46\x00\x00\x00"),
                folder=folder,
                mime=mime,
                received=received or datetime.now(UTC).replace(microsecond=0),
                is_read=is_read,
                flag_status=2 if flagged else None,
                created_seq=seq,
                read_seq=seq,
                other_seq=seq,
            )
            self.folders[folder].items[item.id] = item
            return item.id

    def _find(self, item_id: str) -> FakeItem | None:
        for f in self.folders.values():
            if item_id in f.items:
                return f.items[item_id]
        return None

    def _item(self, item_id: str) -> FakeItem:
        found = self._find(item_id)
        if found is None:
            raise KeyError(item_id)
        return found

    def delete(self, item_id: str) -> None:
        with self._lock:
            item = self._item(item_id)
            del self.folders[item.folder].items[item_id]
            next(self._seq)

    def move(self, item_id: str, folder: str) -> str:
        """Another client moves the item (to the trash: ``deleteditems``); its new id."""
        with self._lock:
            return self._move(self._item(item_id), self.folders[folder]).id

    def mark_read(self, item_id: str, is_read: bool = True) -> None:
        with self._lock:
            item = self._item(item_id)
            item.is_read = is_read
            item.read_seq = next(self._seq)
            item.version += 1

    def set_flag(self, item_id: str, flagged: bool = True, complete: bool = False) -> None:
        with self._lock:
            item = self._item(item_id)
            item.flag_status = 1 if complete else (2 if flagged else None)
            item.other_seq = next(self._seq)
            item.version += 1

    def invalidate_sync_states(self) -> None:
        """Forget every sync state handed out (as after a mailbox move)."""
        with self._lock:
            self._states.clear()

    def queue_server_busy(self, count: int, back_off_ms: int) -> None:
        """The next ``count`` requests are refused with ``ErrorServerBusy``."""
        with self._lock:
            self._busy.extend([back_off_ms] * count)

    def queue_http_error(self, status: int, headers: dict[str, str] | None = None) -> None:
        """The next request gets a bare HTTP ``status`` (e.g. 503 with Retry-After)."""
        with self._lock:
            self._http_errors.append((status, headers or {}))

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.url_host}:{self.port}{PATH}"

    def start(self) -> FakeEws:
        self._server = ThreadedServer(self.app, tls=self.tls, name="fake EWS server").start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakeEws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP/SOAP

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user in (self.username, self.email) and password == self.password

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        if not self._authorized(request):
            with self._lock:
                self.requests["401"] += 1
            return Response(
                status_code=401,
                headers={
                    "WWW-Authenticate": 'Basic realm="fake-ews"',
                    "X-Powered-By": "ASP.NET",
                },
            )
        with self._lock:
            http_error = self._http_errors.popleft() if self._http_errors else None
        if http_error is not None:
            status, headers = http_error
            return Response(status_code=status, headers=headers)
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            return Response(status_code=400)
        soap_body = envelope.find(f"{{{SOAP}}}Body")
        if soap_body is None or len(soap_body) == 0:
            return Response(status_code=400)
        operation = soap_body[0]
        name = operation.tag.rsplit("}", 1)[-1]
        with self._lock:
            self.requests[name] += 1
            self.log.append(name)
            back_off = self._busy.popleft() if self._busy else None
        if self.on_request is not None:
            self.on_request(name)
        try:
            if back_off is not None:
                raise EwsFault("ErrorServerBusy", BUSY_TEXT, {"BackOffMilliseconds": str(back_off)})
            handler = getattr(self, f"_op_{name}", None)
            if handler is None:
                self.unknown_requests.append(body.decode("utf-8", "replace"))
                raise EwsFault("ErrorInvalidRequest", "The request is invalid.")
            with self._lock:
                content = handler(operation)
        except EwsFault as fault:
            return _xml_response(_fault(fault), status=500)
        return _xml_response(_envelope(content))

    # ------------------------------------------------------------------ operations

    def _folder_by_request(self, elem: ET.Element) -> FakeFolder | None:
        if elem.tag == _q("DistinguishedFolderId"):
            return self.folders.get(elem.get("Id", ""))
        if elem.tag == _q("FolderId"):
            for f in self.folders.values():
                if f.id == elem.get("Id"):
                    return f
        return None

    def _op_GetFolder(self, op: ET.Element) -> str:
        requested = _additional_fields(op.find(_m("FolderShape")))
        messages = []
        for ref in _children(op, "FolderIds"):
            mailbox = (ref.findtext(f"{_q('Mailbox')}/{_q('EmailAddress')}") or self.email).lower()
            if mailbox != self.email.lower():
                denied = mailbox in {m.lower() for m in self.other_mailboxes}
                messages.append(
                    _error_message(
                        "GetFolderResponseMessage",
                        *(
                            (
                                "ErrorAccessDenied",
                                "Access is denied. Check credentials and try again.",
                            )
                            if denied
                            else (
                                "ErrorNonExistentMailbox",
                                "The SMTP address has no mailbox associated with it.",
                            )
                        ),
                    )
                )
                continue
            is_root = ref.tag == _q("DistinguishedFolderId") and ref.get("Id") == "root"
            folder = None if is_root else self._folder_by_request(ref)
            if not is_root and folder is None:
                messages.append(
                    _error_message(
                        "GetFolderResponseMessage",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                )
                continue
            messages.append(
                '<m:GetFolderResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode>"
                f"<m:Folders>{self._folder_xml(folder, requested)}</m:Folders>"
                "</m:GetFolderResponseMessage>"
            )
        return _response("GetFolderResponse", messages)

    def _folder_xml(self, folder: FakeFolder | None, requested: set[str]) -> str:
        fid, parent = (self.root_id, self.root_id) if folder is None else (folder.id, self.root_id)
        cls = None if folder is None else folder.folder_class
        display = "" if folder is None else folder.display_name
        total = 0 if folder is None else len(folder.items)
        children = len(self.folders) if folder is None else 0
        unread = None if folder is None else sum(not i.is_read for i in folder.items.values())
        parts = [f'<t:FolderId Id="{fid}" ChangeKey="AQAAABYAAAA="/>']
        if "folder:ParentFolderId" in requested:
            parts.append(f'<t:ParentFolderId Id="{parent}" ChangeKey="AQAAAA=="/>')
        if cls and "folder:FolderClass" in requested:
            parts.append(f"<t:FolderClass>{cls}</t:FolderClass>")
        if "folder:DisplayName" in requested:
            parts.append(f"<t:DisplayName>{escape(display)}</t:DisplayName>")
        if "folder:TotalCount" in requested:
            parts.append(f"<t:TotalCount>{total}</t:TotalCount>")
        if "folder:ChildFolderCount" in requested:
            parts.append(f"<t:ChildFolderCount>{children}</t:ChildFolderCount>")
        if "folder:DistinguishedFolderId" in requested:
            distinguished = "root" if folder is None else folder.name
            parts.append(f"<t:DistinguishedFolderId>{distinguished}</t:DistinguishedFolderId>")
        if unread is not None and "folder:UnreadCount" in requested:
            parts.append(f"<t:UnreadCount>{unread}</t:UnreadCount>")
        return f"<t:Folder>{''.join(parts)}</t:Folder>"

    def _op_SyncFolderItems(self, op: ET.Element) -> str:
        requested = _additional_fields(op.find(_m("ItemShape")))
        sync_id = op.find(_m("SyncFolderId"))
        folder = self._folder_by_request(sync_id[0]) if sync_id is not None else None
        if folder is None:
            return _response(
                "SyncFolderItemsResponse",
                [
                    _error_message(
                        "SyncFolderItemsResponseMessage",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                        SYNC_ERROR_TAIL,
                    )
                ],
            )
        token = (op.findtext(_m("SyncState")) or "").strip()
        max_changes = int(op.findtext(_m("MaxChangesReturned")) or "512")
        if token:
            state = self._states.get(token)
            if state is None or state.folder != folder.name:
                return _response(
                    "SyncFolderItemsResponse",
                    [
                        _error_message(
                            "SyncFolderItemsResponseMessage",
                            "ErrorInvalidSyncStateData",
                            "Synchronization state data is corrupt or otherwise invalid.",
                            SYNC_ERROR_TAIL,
                        )
                    ],
                )
        else:
            state = _SyncState(folder.name, 0, frozenset())
        changes = self._changes_since(folder, state)
        page, more = changes[:max_changes], len(changes) > max_changes
        known = set(state.known)
        seq = state.seq
        parts = []
        for kind, key_seq, item_id in page:
            seq = max(seq, key_seq)
            if kind == "Delete":
                known.discard(item_id)
                parts.append(f'<t:Delete><t:ItemId Id="{item_id}"/></t:Delete>')
                continue
            item = folder.items[item_id]
            if kind == "Create":
                known.add(item_id)
            if kind == "ReadFlagChange":
                parts.append(
                    f"<t:ReadFlagChange>{_item_id(item)}"
                    f"<t:IsRead>{_bool(item.is_read)}</t:IsRead></t:ReadFlagChange>"
                )
            else:
                parts.append(f"<t:{kind}>{_message_xml(item, requested)}</t:{kind}>")
        if not more:
            seq = max(seq, self._current_seq())
        new_token = base64.b64encode(b"H4sIAAAAAAAEAO29B2AcSZ" + secrets.token_bytes(24)).decode()
        self._states[new_token] = _SyncState(folder.name, seq, frozenset(known))
        return _response(
            "SyncFolderItemsResponse",
            [
                '<m:SyncFolderItemsResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode>"
                f"<m:SyncState>{new_token}</m:SyncState>"
                f"<m:IncludesLastItemInRange>{_bool(not more)}</m:IncludesLastItemInRange>"
                f"<m:Changes>{''.join(parts)}</m:Changes>"
                "</m:SyncFolderItemsResponseMessage>"
            ],
        )

    def _current_seq(self) -> int:
        # itertools.count has no peek: take one (sequence numbers need only be ordered)
        return next(self._seq)

    def _changes_since(self, folder: FakeFolder, state: _SyncState) -> list[tuple[str, int, str]]:
        """Net changes since ``state``, oldest first: (kind, sequence, item id)."""
        changes: list[tuple[str, int, str]] = []
        for item in folder.items.values():
            if item.id not in state.known:
                changes.append(("Create", item.last_seq, item.id))
            elif item.other_seq > state.seq:
                changes.append(("Update", item.last_seq, item.id))
            elif item.read_seq > state.seq:
                changes.append(("ReadFlagChange", item.read_seq, item.id))
        # Deleted items sort first: their deletion happened at an unknown point, and
        # telling them early keeps every page's sequence watermark exact.
        changes.extend(("Delete", 0, i) for i in state.known if i not in folder.items)
        changes.sort(key=lambda c: c[1])
        return changes

    def _op_GetItem(self, op: ET.Element) -> str:
        shape = op.find(_m("ItemShape"))
        requested = _additional_fields(shape)
        if shape is not None and (shape.findtext(_q("IncludeMimeContent")) or "") == "true":
            requested.add("item:MimeContent")
        messages = []
        for ref in _children(op, "ItemIds"):
            found = self._find(ref.get("Id", ""))
            if found is None:
                messages.append(
                    _error_message(
                        "GetItemResponseMessage",
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                        "<m:Items />",
                    )
                )
                continue
            messages.append(
                '<m:GetItemResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode>"
                f"<m:Items>{_message_xml(found, requested)}</m:Items>"
                "</m:GetItemResponseMessage>"
            )
        return _response("GetItemResponse", messages)

    def _op_UpdateItem(self, op: ET.Element) -> str:
        messages = []
        for change in _children(op, "ItemChanges"):
            ref = change.find(_q("ItemId"))
            item = self._find(ref.get("Id", "") if ref is not None else "")
            updates = change.find(_q("Updates"))
            if item is None:
                messages.append(_not_found("UpdateItemResponseMessage", "<m:Items />"))
                continue
            problem = self._update(item, list(updates) if updates is not None else [])
            if problem:
                messages.append(_error_message("UpdateItemResponseMessage", *problem))
                continue
            messages.append(
                '<m:UpdateItemResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode>"
                f"<m:Items><t:Message>{_item_id(item)}</t:Message></m:Items>"
                "<m:ConflictResults><m:Count>0</m:Count></m:ConflictResults>"
                "</m:UpdateItemResponseMessage>"
            )
        return _response("UpdateItemResponse", messages)

    def _update(self, item: FakeItem, updates: list[ET.Element]) -> tuple[str, str] | None:
        """Apply SetItemField/DeleteItemField; (code, text) of an update we refuse."""
        for update in updates:
            uri, tag = update.find(_q("FieldURI")), update.find(_q("ExtendedFieldURI"))
            kind = update.tag.rsplit("}", 1)[-1]
            if uri is not None and uri.get("FieldURI") == "message:IsRead":
                text = (update.findtext(f"{_q('Message')}/{_q('IsRead')}") or "").strip()
                if kind != "SetItemField" or text not in ("1", "0", "true", "false"):
                    return "ErrorInvalidPropertySet", "IsRead cannot be deleted or set so."
                item.is_read = text in ("1", "true")
                item.read_seq = next(self._seq)
            elif tag is not None and int(tag.get("PropertyTag", "0"), 0) == FLAG_STATUS_TAG:
                value = update.findtext(f".//{_q('Value')}")
                item.flag_status = int(value) if kind == "SetItemField" and value else None
                item.other_seq = next(self._seq)
            else:
                return "ErrorInvalidPropertySet", "This property is not supported here."
            item.version += 1
        return None

    def _op_MoveItem(self, op: ET.Element) -> str:
        target_ref = _children(op, "ToFolderId")
        target = self._folder_by_request(target_ref[0]) if target_ref else None
        messages = []
        for ref in _children(op, "ItemIds"):
            item = self._find(ref.get("Id", ""))
            if target is None:
                messages.append(
                    _error_message(
                        "MoveItemResponseMessage",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                        "<m:Items />",
                    )
                )
            elif item is None:
                messages.append(_not_found("MoveItemResponseMessage", "<m:Items />"))
            else:
                moved = self._move(item, target)
                messages.append(
                    '<m:MoveItemResponseMessage ResponseClass="Success">'
                    "<m:ResponseCode>NoError</m:ResponseCode>"
                    f"<m:Items><t:Message>{_item_id(moved)}</t:Message></m:Items>"
                    "</m:MoveItemResponseMessage>"
                )
        return _response("MoveItemResponse", messages)

    def _move(self, item: FakeItem, target: FakeFolder) -> FakeItem:
        """A move within the mailbox: the item is created anew there, with a new id."""
        del self.folders[item.folder].items[item.id]
        seq = next(self._seq)
        moved = FakeItem(
            id=_new_id(b"\x00\x01\x46\x00\x00\x00"),
            folder=target.name,
            mime=item.mime,
            received=item.received,
            is_read=item.is_read,
            flag_status=item.flag_status,
            created_seq=seq,
            read_seq=seq,
            other_seq=seq,
        )
        target.items[moved.id] = moved
        return moved

    def _op_DeleteItem(self, op: ET.Element) -> str:
        how = op.get("DeleteType", "")
        if how not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
            raise EwsFault("ErrorSchemaValidation", "The request failed schema validation.")
        messages = []
        for ref in _children(op, "ItemIds"):
            item = self._find(ref.get("Id", ""))
            if item is None:
                messages.append(_not_found("DeleteItemResponseMessage"))
                continue
            if how == "MoveToDeletedItems":
                self._move(item, self.folders["deleteditems"])
            else:
                del self.folders[item.folder].items[item.id]
                next(self._seq)
            messages.append(
                '<m:DeleteItemResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode></m:DeleteItemResponseMessage>"
            )
        return _response("DeleteItemResponse", messages)

    def _op_ConvertId(self, op: ET.Element) -> str:
        """exchangelib probes the server version with a ConvertId of a dummy id when it
        is not told the version; Exchange answers with an error and its version."""
        messages = [
            _error_message(
                "ConvertIdResponseMessage", "ErrorInvalidIdMalformed", "Id is malformed."
            )
            for _ in _children(op, "SourceIds")
        ]
        return _response("ConvertIdResponse", messages)

    # ------------------------------------------------------------------ helpers for tests

    def ids(self, folder: str) -> list[str]:
        return list(self.folders[folder].items)


# ---------------------------------------------------------------------- XML building


def _children(op: ET.Element, tag: str) -> list[ET.Element]:
    """The children of ``op``'s ``m:<tag>`` element (none when it is missing)."""
    container = op.find(_m(tag))
    return list(container) if container is not None else []


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _additional_fields(shape: ET.Element | None) -> set[str]:
    """FieldURIs (and ``0x1090``-style extended property tags) a shape asks for."""
    found: set[str] = set()
    if shape is None:
        return found
    props = shape.find(_q("AdditionalProperties"))
    for prop in props if props is not None else []:
        if prop.tag == _q("FieldURI"):
            found.add(prop.get("FieldURI", ""))
        elif prop.tag == _q("ExtendedFieldURI") and prop.get("PropertyTag"):
            found.add(f"ext:{int(prop.get('PropertyTag', '0'), 0):#06x}")
    return found


def _item_id(item: FakeItem) -> str:
    return f'<t:ItemId Id="{item.id}" ChangeKey="{item.change_key}"/>'


def _message_xml(item: FakeItem, requested: set[str]) -> str:
    """A ``t:Message`` with the requested properties, in the schema's element order."""
    parts = []
    if "item:MimeContent" in requested:
        b64 = base64.b64encode(item.mime).decode()
        parts.append(f'<t:MimeContent CharacterSet="UTF-8">{b64}</t:MimeContent>')
    parts.append(_item_id(item))
    if "item:ItemClass" in requested:
        parts.append("<t:ItemClass>IPM.Note</t:ItemClass>")
    if "item:DateTimeReceived" in requested:
        parts.append(f"<t:DateTimeReceived>{_ews_time(item.received)}</t:DateTimeReceived>")
    if "item:Size" in requested:
        parts.append(f"<t:Size>{len(item.mime)}</t:Size>")
    if f"ext:{FLAG_STATUS_TAG:#06x}" in requested and item.flag_status is not None:
        parts.append(
            "<t:ExtendedProperty>"
            f'<t:ExtendedFieldURI PropertyTag="{FLAG_STATUS_TAG:#06x}" PropertyType="Integer"/>'
            f"<t:Value>{item.flag_status}</t:Value>"
            "</t:ExtendedProperty>"
        )
    if "message:IsRead" in requested:
        parts.append(f"<t:IsRead>{_bool(item.is_read)}</t:IsRead>")
    return f"<t:Message>{''.join(parts)}</t:Message>"


def _not_found(tag: str, extra: str = "") -> str:
    return _error_message(
        tag, "ErrorItemNotFound", "The specified object was not found in the store.", extra
    )


def _error_message(tag: str, code: str, text: str, extra: str = "") -> str:
    return (
        f'<m:{tag} ResponseClass="Error">'
        f"<m:MessageText>{escape(text)}</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode>"
        "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        f"{extra}</m:{tag}>"
    )


def _response(tag: str, messages: list[str]) -> str:
    return (
        f'<m:{tag} xmlns:m="{MNS}" xmlns:t="{TNS}">'
        f"<m:ResponseMessages>{''.join(messages)}</m:ResponseMessages></m:{tag}>"
    )


def _envelope(content: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}">'
        "<s:Header>"
        '<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
        f'MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="{TNS}" xmlns="{TNS}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
        "</s:Header>"
        '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"{content}</s:Body></s:Envelope>"
    )


def _fault(fault: EwsFault) -> str:
    values = "".join(
        f"<t:Value Name={quoteattr(k)}>{escape(v)}</t:Value>" for k, v in fault.values.items()
    )
    message_xml = f'<t:MessageXml xmlns:t="{TNS}">{values}</t:MessageXml>' if values else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{TNS}">a:{fault.code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(fault.text)}</faultstring>'
        "<detail>"
        f'<e:ResponseCode xmlns:e="{ENS}">{fault.code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ENS}">{escape(fault.text)}</e:Message>'
        f"{message_xml}</detail></s:Fault></s:Body></s:Envelope>"
    )


def _xml_response(text: str, status: int = 200) -> Response:
    return Response(text.encode(), status_code=status, media_type="text/xml; charset=utf-8")


def make_message(n: int, folder: str = "inbox", size: int = 0) -> bytes:
    """A small RFC 5322 message with CRLF line ends (and ``size`` extra body bytes)."""
    body = f"Hello {n} from {folder}.\r\n" + ("x" * 76 + "\r\n") * (size // 78)
    return (
        f"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n"
        f"Subject: message {n} in {folder}\r\nMessage-ID: <{n}.{folder}@example.test>\r\n"
        f"Date: Mon, 06 May 2024 10:{n % 60:02d}:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode() + body.encode()


def make_tls_files(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``hostname`` signed by it:
    (CA certificate, server certificate chain, server key) as PEM files in ``directory``."""
    return write_test_ca_and_certificate(directory, [hostname], ca_name="fake EWS test CA")
