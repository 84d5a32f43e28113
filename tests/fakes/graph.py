"""A fake Microsoft identity platform (v2.0 token endpoint) and Microsoft Graph v1.0
mail API, served over real HTTP by uvicorn on 127.0.0.1, for connector tests.

What it models, after Microsoft's documentation:

* ``/{tenant}/oauth2/v2.0/authorize`` (consents at once as ``consent_user``) and
  ``/token`` (authorization_code with PKCE S256, refresh_token, client_credentials;
  AADSTS error bodies, ``invalid_grant``).
* ``GET /v1.0/me``; ``/users/{u}/mailFolders`` (list, ``$top``/nextLink, well-known
  names, childFolders); ``/messages/delta`` per folder with opaque ``$skiptoken`` /
  ``$deltatoken`` links, ``@removed``, ``Prefer: odata.maxpagesize`` and 410 once a
  token is expired; ``/messages/{id}/$value``; ids are immutable only when the client
  sends ``Prefer: IdType="ImmutableId"`` (otherwise they change on a move);
  ``PATCH /messages/{id}`` (``isRead``, ``flag.flagStatus``), ``POST …/move``
  (``destinationId``: a folder id or well-known name; 201 with the moved message) and
  ``DELETE /messages/{id}`` (204), each 404 ``ErrorItemNotFound`` for a message that
  does not exist.
* ``/v1.0/subscriptions`` POST (with the validation handshake, switchable),
  PATCH, DELETE; ``notify`` posts a change notification like Graph does.
* ``POST /users/{u}/sendMail`` with a MIME body (base64, ``Content-Type: text/plain``):
  202, the message kept in Sent Items (Bcc included, as the sender's copy is); 403
  ``ErrorAccessDenied`` for a delegated token without ``Mail.Send``; 400
  ``ErrorMimeContentInvalidBase64String`` / ``ErrorInvalidRecipients``. ``GET
  …/mailFolders/{f}/messages`` with ``$filter=internetMessageId eq '…'``, ``$select``,
  ``$top``.
* Graph error bodies ``{"error": {"code", "message", "innerError"}}``; 401 for a
  missing/expired token; queued throttling answers (429 + Retry-After).

Tests drive it through plain methods (``add_message``, ``expire_access_tokens`` …);
``requests`` records every request (method, path, query, headers, form).
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tests.fakes.server import ThreadedServer

WELL_KNOWN = ("inbox", "sentitems", "drafts", "deleteditems", "junkemail", "archive", "outbox")
DISPLAY = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "archive": "Archive",
    "outbox": "Outbox",
}
MAX_SUBSCRIPTION_MINUTES = 10_080  # Outlook messages
GRAPH_SCOPE_DEFAULT = "https://graph.microsoft.com/.default"


def _id(prefix: str = "AAMkAGI2") -> str:
    # Real ids are base64url-ish with '-', '_' and '=' padding; keep those characters.
    return f"{prefix}{secrets.token_urlsafe(30)}-_="


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sample_mime(subject: str, body: str = "Hello.\r\n") -> bytes:
    return (
        f"From: Alice <alice@example.com>\r\nTo: Bob <bob@contoso.com>\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4()}@example.com>\r\n"
        f"Date: Mon, 06 May 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


@dataclass
class FakeFolder:
    id: str
    display_name: str
    parent_id: str | None
    well_known: str | None = None


@dataclass
class FakeMessage:
    id: str
    folder_id: str
    mime: bytes
    received: datetime
    is_read: bool = False
    flag_status: str = "notFlagged"
    version: int = 1
    moves: int = 0


@dataclass
class FakeUser:
    upn: str
    id: str
    display_name: str
    folders: dict[str, FakeFolder] = field(default_factory=dict)
    messages: dict[str, FakeMessage] = field(default_factory=dict)
    root_id: str = ""

    def folder(self, key: str) -> FakeFolder | None:
        if key in self.folders:
            return self.folders[key]
        return next((f for f in self.folders.values() if f.well_known == key.lower()), None)

    def named(self, key: str) -> FakeFolder:
        """For test controls: an id, a well-known name or a display name."""
        found = self.folder(key) or next(
            (f for f in self.folders.values() if f.display_name == key), None
        )
        assert found is not None, key
        return found


@dataclass
class Grant:
    user: str | None  # upn; None for an app-only token
    expires_at: float
    scope: str


@dataclass
class DeltaState:
    user: str
    folder_id: str
    select: str | None
    snapshot: dict[str, int]  # message id → version when the token was issued
    expired: bool = False


@dataclass
class SkipState:
    user: str
    folder_id: str
    select: str | None
    entries: list[dict[str, Any]]  # what is left to page through
    final: dict[str, int]  # the snapshot the deltaLink will carry
    expired: bool = False


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


class FakeGraph:
    def __init__(
        self,
        tenant: str = "7e3f2a10-0000-4000-8000-00000000c0de",
        client_id: str = "inboxhub-client",
        client_secret: str = "inboxhub-secret",
    ) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.lock = threading.RLock()
        self.users: dict[str, FakeUser] = {}
        self.grants: dict[str, Grant] = {}  # access token → grant
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token → (upn, scope)
        self.codes: dict[str, dict[str, str]] = {}
        self.delta_tokens: dict[str, DeltaState] = {}
        self.skip_tokens: dict[str, SkipState] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.sent: list[tuple[str, list[str], bytes]] = []  # (upn, recipients, MIME)
        self.validate_subscriptions = True  # POST /subscriptions does the handshake
        self.validation_results: list[str] = []  # "ok" or why the handshake failed
        self.consent_user: str | None = None  # who "signs in" at /authorize
        self.token_lifetime = 3600
        self._throttle: list[tuple[int, int]] = []  # (status, retry_after) answers queued
        self.default_page_size = 10
        self.app = self._build_app()
        self._server: ThreadedServer | None = None
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeGraph:
        self._server = ThreadedServer(self.app, name="fake Graph server").start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def login_url(self) -> str:
        return self.url

    # -- test controls ----------------------------------------------------------------

    def add_user(self, upn: str, display_name: str = "") -> FakeUser:
        with self.lock:
            user = FakeUser(upn=upn, id=str(uuid.uuid4()), display_name=display_name or upn)
            root = FakeFolder(_id("AAMkRoot"), "Top of Information Store", None, "msgfolderroot")
            user.root_id = root.id
            user.folders[root.id] = root
            for name in WELL_KNOWN:
                folder = FakeFolder(_id("AAMkFold"), DISPLAY[name], root.id, name)
                user.folders[folder.id] = folder
            self.users[upn.lower()] = user
            return user

    def add_folder(self, upn: str, display_name: str, parent: str | None = None) -> str:
        with self.lock:
            user = self._user(upn)
            parent_id = user.named(parent).id if parent else user.root_id
            folder = FakeFolder(_id("AAMkFold"), display_name, parent_id)
            user.folders[folder.id] = folder
            return folder.id

    def folder_id(self, upn: str, key: str) -> str:
        with self.lock:
            return self._user(upn).named(key).id

    def add_message(
        self,
        upn: str,
        folder: str = "inbox",
        mime: bytes | None = None,
        *,
        is_read: bool = False,
        flagged: bool = False,
        received: datetime | None = None,
    ) -> str:
        with self.lock:
            user = self._user(upn)
            target = user.named(folder)
            message = FakeMessage(
                id=_id("AAkALgAA"),
                folder_id=target.id,
                mime=mime if mime is not None else sample_mime(f"message {len(user.messages)}"),
                received=received or datetime.now(UTC).replace(microsecond=0),
                is_read=is_read,
                flag_status="flagged" if flagged else "notFlagged",
            )
            user.messages[message.id] = message
            return message.id

    def delete_message(self, upn: str, message_id: str) -> None:
        with self.lock:
            del self._user(upn).messages[message_id]

    def move_message(self, upn: str, message_id: str, folder: str) -> None:
        with self.lock:
            user = self._user(upn)
            message = user.messages[message_id]
            target = user.named(folder)
            message.folder_id, message.moves = target.id, message.moves + 1
            message.version += 1

    def set_read(self, upn: str, message_id: str, is_read: bool = True) -> None:
        with self.lock:
            message = self._user(upn).messages[message_id]
            message.is_read, message.version = is_read, message.version + 1

    def set_flag(self, upn: str, message_id: str, status: str = "flagged") -> None:
        with self.lock:
            message = self._user(upn).messages[message_id]
            message.flag_status, message.version = status, message.version + 1

    def issue_tokens(self, upn: str, scope: str = "User.Read Mail.ReadWrite") -> dict[str, Any]:
        """A delegated token pair as if the user had consented (OAuthToken's shape)."""
        with self.lock:
            access, refresh = self._mint(upn, scope)
            return {
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": time.time() + self.token_lifetime,
                "token_type": "Bearer",
                "scope": scope,
            }

    def expire_access_tokens(self) -> None:
        with self.lock:
            for grant in self.grants.values():
                grant.expires_at = 0.0

    def revoke_refresh_tokens(self, upn: str | None = None) -> None:
        with self.lock:
            for token, (owner, _) in list(self.refresh_tokens.items()):
                if upn is None or owner.lower() == upn.lower():
                    del self.refresh_tokens[token]

    def expire_delta_tokens(self) -> None:
        """Every delta/skip token issued so far answers 410 Gone from now on."""
        with self.lock:
            states: list[DeltaState | SkipState] = [
                *self.delta_tokens.values(),
                *self.skip_tokens.values(),
            ]
            for state in states:
                state.expired = True

    def throttle(self, count: int, retry_after: int = 1, status: int = 429) -> None:
        """The next ``count`` Graph requests answer ``status`` with Retry-After."""
        with self.lock:
            self._throttle.extend([(status, retry_after)] * count)

    def count(self, path_contains: str = "", method: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if path_contains in r.path and (method is None or r.method == method)
            )

    def drop_subscription(self, subscription_id: str) -> None:
        with self.lock:
            self.subscriptions.pop(subscription_id, None)

    def notify(
        self,
        subscription_id: str,
        change_type: str = "created",
        message_id: str | None = None,
        client_state: str | None = None,
    ) -> httpx.Response:
        """POST a change notification for the subscription, as Graph does."""
        with self.lock:
            sub = dict(self.subscriptions[subscription_id])
        mid = message_id or _id("AAkALgAA")
        user_id = sub["_user_id"]
        notification = {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "changeType": change_type,
            "resource": f"Users/{user_id}/Messages/{mid}",
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": f"Users/{user_id}/Messages/{mid}",
                "@odata.etag": 'W/"CQAAABYAAAA"',
                "id": mid,
            },
            "clientState": sub.get("clientState") if client_state is None else client_state,
            "tenantId": self.tenant,
        }
        return httpx.post(sub["notificationUrl"], json={"value": [notification]}, timeout=10)

    # -- internals --------------------------------------------------------------------

    def _user(self, key: str) -> FakeUser:
        user = self._find_user(key)
        assert user is not None, key
        return user

    def _find_user(self, key: str) -> FakeUser | None:
        user = self.users.get(key.lower())
        if user is None:
            user = next((u for u in self.users.values() if u.id == key), None)
        return user

    def _mint(self, upn: str | None, scope: str) -> tuple[str, str | None]:
        access = "EwB" + secrets.token_urlsafe(48)
        self.grants[access] = Grant(upn, time.time() + self.token_lifetime, scope)
        refresh = None
        if upn is not None:
            refresh = "M.C5" + secrets.token_urlsafe(48)
            self.refresh_tokens[refresh] = (upn, scope)
        return access, refresh

    def _message_json(
        self, user: FakeUser, message: FakeMessage, select: str | None, immutable: bool
    ) -> dict[str, Any]:
        full = {
            "id": message.id if immutable else f"{message.id}.r{message.moves}",
            "receivedDateTime": _iso(message.received),
            "isRead": message.is_read,
            "flag": {"flagStatus": message.flag_status},
            "parentFolderId": message.folder_id,
            "subject": f"message {message.id[:12]}",
        }
        if select:
            wanted = {s.strip() for s in select.split(",")} | {"id"}
            full = {k: v for k, v in full.items() if k in wanted}
        etag = f'W/"CQAAABYAAA{message.version:08d}"'
        return {"@odata.type": "#microsoft.graph.message", "@odata.etag": etag, **full}

    def _build_app(self) -> FastAPI:
        app = FastAPI()
        fake = self

        @app.middleware("http")
        async def record_and_guard(request: Request, call_next: Any) -> Response:
            form: dict[str, str] = {}
            if request.url.path.endswith("/oauth2/v2.0/token"):
                form = await url_form(request)
            with fake.lock:
                fake.requests.append(
                    RecordedRequest(
                        request.method,
                        request.url.path,
                        request.url.query,
                        dict(request.headers),
                        form,
                    )
                )
            if request.url.path.startswith("/v1.0/"):
                grant, problem = fake._authenticate(request)
                if problem is not None:
                    return problem
                with fake.lock:
                    throttled = fake._throttle.pop(0) if fake._throttle else None
                if throttled is not None:
                    status, wait = throttled
                    code = "ApplicationThrottled" if status == 429 else "ServiceUnavailable"
                    return graph_error(
                        status,
                        code,
                        "Application is over its MailboxConcurrency limit.",
                        request,
                        {"Retry-After": str(wait)},
                    )
                request.state.grant = grant
            response: Response = await call_next(request)
            return response

        self._identity_routes(app)
        self._mail_routes(app)
        self._subscription_routes(app)
        return app

    def _authenticate(self, request: Request) -> tuple[Grant | None, Response | None]:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return None, graph_error(
                401, "InvalidAuthenticationToken", "Access token is empty.", request
            )
        with self.lock:
            grant = self.grants.get(header[7:].strip())
        if grant is None:
            return None, graph_error(
                401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.", request
            )
        if grant.expires_at <= time.time():
            return None, graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                request,
            )
        return grant, None

    def _authorize_user(
        self, request: Request, key: str
    ) -> tuple[FakeUser | None, Response | None]:
        grant: Grant = request.state.grant
        with self.lock:
            user = self._find_user(key)
        if user is None:
            return None, graph_error(
                404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.", request
            )
        if grant.user is not None and grant.user.lower() != user.upn.lower():
            return None, graph_error(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
                request,
            )
        return user, None

    # -- identity platform ------------------------------------------------------------

    def _identity_routes(self, app: FastAPI) -> None:
        fake = self

        @app.get("/{tenant}/oauth2/v2.0/authorize")
        async def authorize(tenant: str, request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != fake.client_id:
                return aad_error(400, "unauthorized_client", 700016, "Application not found.")
            if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
                return aad_error(400, "invalid_request", 900144, "Unsupported request.")
            if fake.consent_user is None:
                return aad_error(400, "access_denied", 65004, "User declined to consent.")
            code = "0.AX" + secrets.token_urlsafe(32)
            with fake.lock:
                fake.codes[code] = {
                    "user": fake.consent_user,
                    "challenge": q.get("code_challenge", ""),
                    "redirect_uri": q.get("redirect_uri", ""),
                    "scope": q.get("scope", ""),
                }
            target = (
                q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
            )
            return RedirectResponse(target, status_code=302)

        @app.post("/{tenant}/oauth2/v2.0/token")
        async def token(tenant: str, request: Request) -> Response:
            form = await url_form(request)
            if form.get("client_id") != fake.client_id:
                return aad_error(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{form.get('client_id')}' was not found in "
                    "the directory.",
                )
            if form.get("client_secret") != fake.client_secret:
                return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
            grant_type = form.get("grant_type")
            with fake.lock:
                if grant_type == "authorization_code":
                    return fake._redeem_code(form)
                if grant_type == "refresh_token":
                    return fake._redeem_refresh(form)
                if grant_type == "client_credentials":
                    return fake._client_credentials(tenant, form)
            return aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )

    def _token_body(self, access: str, refresh: str | None, scope: str) -> JSONResponse:
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": access,
        }
        if refresh is not None:
            body["scope"] = scope
            body["refresh_token"] = refresh
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _redeem_code(self, form: dict[str, str]) -> Response:
        code = self.codes.pop(form.get("code", ""), None)
        if code is None:
            return aad_error(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'code' parameter is not valid.",
            )
        if form.get("redirect_uri") != code["redirect_uri"]:
            return aad_error(
                400,
                "invalid_grant",
                70000,
                "The redirect URI does not match the one used in the authorization request.",
            )
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code["challenge"]:
            return aad_error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        scope = " ".join(s for s in code["scope"].split() if s != "offline_access")
        access, refresh = self._mint(code["user"], scope)
        return self._token_body(
            access, refresh if "offline_access" in code["scope"].split() else None, scope
        )

    def _redeem_refresh(self, form: dict[str, str]) -> Response:
        held = self.refresh_tokens.get(form.get("refresh_token", ""))
        if held is None:
            return aad_error(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is "
                "needed. The user might have changed or reset their password.",
            )
        upn, scope = held
        access, refresh = self._mint(upn, scope)  # Entra rotates refresh tokens
        return self._token_body(access, refresh, scope)

    def _client_credentials(self, tenant: str, form: dict[str, str]) -> Response:
        if tenant in ("common", "organizations", "consumers"):
            return aad_error(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by "
                "any provided credentials.",
            )
        if tenant != self.tenant:
            return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if not form.get("scope", "").endswith("/.default"):
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope', '')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        access, _ = self._mint(None, GRAPH_SCOPE_DEFAULT)
        return self._token_body(access, None, "")

    # -- mail -----------------------------------------------------------------------------

    def _mail_routes(self, app: FastAPI) -> None:
        fake = self

        @app.get("/v1.0/me")
        async def me(request: Request) -> Response:
            grant: Grant = request.state.grant
            if grant.user is None:
                return graph_error(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                    request,
                )
            with fake.lock:
                user = fake._user(grant.user)
            return JSONResponse(
                {
                    "@odata.context": f"{fake.graph_url}/$metadata#users/$entity",
                    "id": user.id,
                    "displayName": user.display_name,
                    "mail": user.upn,
                    "userPrincipalName": user.upn,
                }
            )

        def folder_json(user: FakeUser, folder: FakeFolder) -> dict[str, Any]:
            in_folder = [m for m in user.messages.values() if m.folder_id == folder.id]
            children = [f for f in user.folders.values() if f.parent_id == folder.id]
            return {
                "id": folder.id,
                "displayName": folder.display_name,
                "parentFolderId": folder.parent_id,
                "childFolderCount": len(children),
                "unreadItemCount": sum(1 for m in in_folder if not m.is_read),
                "totalItemCount": len(in_folder),
                "sizeInBytes": sum(len(m.mime) for m in in_folder),
                "isHidden": False,
            }

        def list_folders(request: Request, user: FakeUser, parent_id: str) -> Response:
            top = int(request.query_params.get("$top", "10"))
            skip = int(request.query_params.get("$skip", "0"))
            with fake.lock:
                children = [f for f in user.folders.values() if f.parent_id == parent_id]
                page = [folder_json(user, f) for f in children[skip : skip + top]]
            body: dict[str, Any] = {
                "@odata.context": f"{fake.graph_url}/$metadata#users('{user.upn}')/mailFolders",
                "value": page,
            }
            if skip + top < len(children):
                query = f"$top={top}&$skip={skip + top}"
                body["@odata.nextLink"] = f"{fake.url}{request.url.path}?{query}"
            return JSONResponse(body)

        @app.get("/v1.0/users/{user_key}/mailFolders")
        async def folders(user_key: str, request: Request) -> Response:
            user, problem = fake._authorize_user(request, user_key)
            if problem is not None or user is None:
                return problem or Response(status_code=500)
            return list_folders(request, user, user.root_id)

        def authorized_folder(
            request: Request, user_key: str, folder_key: str
        ) -> tuple[FakeUser, FakeFolder] | Response:
            """The user and folder a request names, or Graph's error answer."""
            user, problem = fake._authorize_user(request, user_key)
            if problem is not None or user is None:
                return problem or Response(status_code=500)
            with fake.lock:
                folder = user.folder(folder_key)
            if folder is None:
                return item_not_found(request)
            return user, folder

        @app.get("/v1.0/users/{user_key}/mailFolders/{folder_key}")
        async def one_folder(user_key: str, folder_key: str, request: Request) -> Response:
            found = authorized_folder(request, user_key, folder_key)
            if isinstance(found, Response):
                return found
            user, folder = found
            with fake.lock:
                return JSONResponse(folder_json(user, folder))

        @app.get("/v1.0/users/{user_key}/mailFolders/{folder_key}/childFolders")
        async def child_folders(user_key: str, folder_key: str, request: Request) -> Response:
            found = authorized_folder(request, user_key, folder_key)
            if isinstance(found, Response):
                return found
            user, folder = found
            return list_folders(request, user, folder.id)

        @app.get("/v1.0/users/{user_key}/mailFolders/{folder_key}/messages/delta")
        async def delta(user_key: str, folder_key: str, request: Request) -> Response:
            found = authorized_folder(request, user_key, folder_key)
            if isinstance(found, Response):
                return found
            user, folder = found
            return fake._delta(request, user, folder)

        @app.get("/v1.0/users/{user_key}/mailFolders/{folder_key}/messages")
        async def folder_messages(user_key: str, folder_key: str, request: Request) -> Response:
            found = authorized_folder(request, user_key, folder_key)
            if isinstance(found, Response):
                return found
            user, folder = found
            return fake._folder_messages(request, user, folder)

        @app.post("/v1.0/users/{user_key}/sendMail")
        async def send_mail(user_key: str, request: Request) -> Response:
            user, problem = fake._authorize_user(request, user_key)
            if problem is not None or user is None:
                return problem or Response(status_code=500)
            return fake._send_mail(request, user, await request.body())

        @app.get("/v1.0/users/{user_key}/messages/{message_id}/$value")
        async def mime(user_key: str, message_id: str, request: Request) -> Response:
            user, problem = fake._authorize_user(request, user_key)
            if problem is not None or user is None:
                return problem or Response(status_code=500)
            with fake.lock:
                message = user.messages.get(message_id.split(".r", 1)[0])
            if message is None:
                return item_not_found(request)
            return Response(message.mime, media_type="message/rfc822")

        @app.patch("/v1.0/users/{user_key}/messages/{message_id}")
        async def update(user_key: str, message_id: str, request: Request) -> Response:
            found = await fake._message_request(request, user_key, message_id)
            if isinstance(found, Response):
                return found
            user, message, body = found
            problem = _check_update(body, request)
            if problem is not None:
                return problem
            with fake.lock:
                if "isRead" in body:
                    message.is_read = body["isRead"]
                if "flag" in body:
                    message.flag_status = body["flag"]["flagStatus"]
                message.version += 1
                return JSONResponse(fake._message_json(user, message, None, _immutable(request)))

        @app.post("/v1.0/users/{user_key}/messages/{message_id}/move")
        async def move(user_key: str, message_id: str, request: Request) -> Response:
            found = await fake._message_request(request, user_key, message_id)
            if isinstance(found, Response):
                return found
            user, message, body = found
            with fake.lock:
                target = user.folder(str(body.get("destinationId", "")))
                if target is None:
                    return item_not_found(request)
                if target.id != message.folder_id:
                    message.folder_id, message.moves = target.id, message.moves + 1
                    message.version += 1
                answer = fake._message_json(user, message, None, _immutable(request))
            return JSONResponse(answer, status_code=201)

        @app.delete("/v1.0/users/{user_key}/messages/{message_id}")
        async def delete(user_key: str, message_id: str, request: Request) -> Response:
            found = await fake._message_request(request, user_key, message_id, body=False)
            if isinstance(found, Response):
                return found
            user, message, _ = found
            with fake.lock:
                user.messages.pop(message.id, None)
            return Response(status_code=204)

    def _send_mail(self, request: Request, user: FakeUser, body: bytes) -> Response:
        """sendMail in MIME format; the JSON ``message`` form is not modelled."""
        grant: Grant = request.state.grant
        if grant.user is not None and "Mail.Send" not in grant.scope.split():
            return graph_error(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
                request,
            )
        if not request.headers.get("content-type", "").startswith("text/plain"):
            return graph_error(
                400, "BadRequest", "fake Graph: only the MIME (text/plain) form", request
            )
        try:
            mime = base64.b64decode(body, validate=True)
        except ValueError:
            return graph_error(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
                request,
            )
        parsed = email.message_from_bytes(mime, policy=email.policy.compat32)
        recipients: list[str] = []
        for name in ("To", "Cc", "Bcc"):
            for _, address in getaddresses(parsed.get_all(name, [])):
                if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
                    return graph_error(
                        400,
                        "ErrorInvalidRecipients",
                        f"At least one recipient isn't valid., Recipient '{address}' isn't "
                        "resolved. All recipients must be resolved before a message can be "
                        "submitted.",
                        request,
                    )
                recipients.append(address)
        if not recipients:
            return graph_error(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient isn't valid., A message can't be sent because it "
                "contains no recipients.",
                request,
            )
        with self.lock:
            self.sent.append((user.upn, recipients, mime))
            self.add_message(user.upn, "sentitems", mime, is_read=True)
        return Response(status_code=202)

    def _folder_messages(self, request: Request, user: FakeUser, folder: FakeFolder) -> Response:
        """A folder's messages; ``$filter`` only as ``internetMessageId eq '…'``."""
        q = request.query_params
        wanted: str | None = None
        if "$filter" in q:
            found = re.fullmatch(r"\s*internetMessageId eq '((?:[^']|'')*)'\s*", q["$filter"])
            if found is None:
                return graph_error(400, "BadRequest", "fake Graph: unsupported $filter", request)
            wanted = found.group(1).replace("''", "'")
        top = int(q.get("$top", "10"))
        select = q.get("$select")
        value = []
        with self.lock:
            for message in user.messages.values():
                mid = _message_id(message.mime)
                if message.folder_id != folder.id or wanted not in (None, mid):
                    continue
                item = self._message_json(user, message, None, _immutable(request))
                item["internetMessageId"] = mid
                if select:
                    keep = {s.strip() for s in select.split(",")} | {"id", "@odata.etag"}
                    item = {k: v for k, v in item.items() if k in keep or k == "@odata.type"}
                value.append(item)
        return JSONResponse({"value": value[:top]})

    async def _message_request(
        self, request: Request, user_key: str, message_id: str, body: bool = True
    ) -> tuple[FakeUser, FakeMessage, dict[str, Any]] | Response:
        """The user, message and JSON body a write request names, or Graph's error."""
        user, problem = self._authorize_user(request, user_key)
        if problem is not None or user is None:
            return problem or Response(status_code=500)
        payload: Any = {}
        if body:
            try:
                payload = await request.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return graph_error(
                    400, "BadRequest", "Unable to read JSON request payload.", request
                )
        with self.lock:
            message = user.messages.get(message_id.split(".r", 1)[0])
        if message is None:
            return item_not_found(request)
        return user, message, payload

    def _delta(self, request: Request, user: FakeUser, folder: FakeFolder) -> Response:
        q = request.query_params
        prefer = request.headers.get("prefer", "")
        immutable = 'idtype="immutableid"' in prefer.lower().replace(" ", "")
        page_size = self.default_page_size
        for part in prefer.split(","):
            name, _, wanted = part.strip().partition("=")
            if name.strip().lower() == "odata.maxpagesize" and wanted.strip().isdigit():
                page_size = max(1, int(wanted))
        with self.lock:
            if "$skiptoken" in q:
                skip = self.skip_tokens.pop(q["$skiptoken"], None)
                if skip is None or skip.expired or skip.folder_id != folder.id:
                    return self._gone(request)
            else:
                snapshot: dict[str, int] = {}
                select = q.get("$select")
                if "$deltatoken" in q:
                    state = self.delta_tokens.get(q["$deltatoken"])
                    if state is None or state.expired or state.folder_id != folder.id:
                        return self._gone(request)
                    snapshot, select = state.snapshot, state.select
                current = {m.id: m for m in user.messages.values() if m.folder_id == folder.id}
                entries: list[dict[str, Any]] = []
                for mid, message in current.items():
                    if snapshot.get(mid) != message.version:
                        entries.append({"message": mid})
                for mid in snapshot:
                    if mid not in current:
                        entries.append({"removed": mid})
                final = {mid: m.version for mid, m in current.items()}
                skip = SkipState(user.upn, folder.id, select, entries, final)
            page, rest = skip.entries[:page_size], skip.entries[page_size:]
            value: list[dict[str, Any]] = []
            for entry in page:
                if "removed" in entry:
                    value.append(
                        {
                            "@odata.type": "#microsoft.graph.message",
                            "id": entry["removed"],
                            "@removed": {"reason": "deleted"},
                        }
                    )
                elif (listed := user.messages.get(entry["message"])) is not None:
                    value.append(self._message_json(user, listed, skip.select, immutable))
            base = f"{self.graph_url}/users/{user_key(user)}/mailFolders/{folder.id}/messages/delta"
            body: dict[str, Any] = {
                "@odata.context": f"{self.graph_url}/$metadata#Collection(message)",
                "value": value,
            }
            if rest:
                token = secrets.token_urlsafe(24)
                self.skip_tokens[token] = SkipState(
                    skip.user, skip.folder_id, skip.select, rest, skip.final
                )
                body["@odata.nextLink"] = f"{base}?$skiptoken={token}"
            else:
                token = secrets.token_urlsafe(24)
                self.delta_tokens[token] = DeltaState(
                    skip.user, skip.folder_id, skip.select, skip.final
                )
                body["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
        headers = {"Preference-Applied": f"odata.maxpagesize={page_size}"}
        return JSONResponse(body, headers=headers)

    def _gone(self, request: Request) -> Response:
        return graph_error(
            410, "SyncStateNotFound", "The sync state generation is not found.", request
        )

    # -- subscriptions ----------------------------------------------------------------

    def _subscription_routes(self, app: FastAPI) -> None:
        fake = self

        @app.post("/v1.0/subscriptions")
        async def create(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return graph_error(
                    400, "BadRequest", "Unable to read JSON request payload.", request
                )
            problem = fake._check_subscription(body, request)
            if isinstance(problem, Response):
                return problem
            user = problem
            if fake.validate_subscriptions:
                failure = await fake._handshake(body["notificationUrl"])
                with fake.lock:
                    fake.validation_results.append(failure or "ok")
                if failure:
                    return graph_error(400, "InvalidRequest", failure, request)
            sub = {
                "id": str(uuid.uuid4()),
                "resource": body["resource"],
                "applicationId": fake.client_id,
                "changeType": body["changeType"],
                "clientState": body.get("clientState"),
                "notificationUrl": body["notificationUrl"],
                "expirationDateTime": body["expirationDateTime"],
                "creatorId": user.id,
                "latestSupportedTlsVersion": "v1_2",
                "includeResourceData": False,
                "_user_id": user.id,
            }
            with fake.lock:
                fake.subscriptions[sub["id"]] = sub
            return JSONResponse(public(sub), status_code=201)

        @app.patch("/v1.0/subscriptions/{sub_id}")
        async def renew(sub_id: str, request: Request) -> Response:
            body = await request.json()
            with fake.lock:
                sub = fake.subscriptions.get(sub_id)
                if sub is not None and _parse_iso(sub["expirationDateTime"]) <= datetime.now(UTC):
                    del fake.subscriptions[sub_id]  # expired subscriptions are gone
                    sub = None
                if sub is None:
                    return graph_error(
                        404, "ResourceNotFound", f"The object '{sub_id}' was not found.", request
                    )
                problem = fake._check_expiry(body.get("expirationDateTime"), request)
                if problem is not None:
                    return problem
                sub["expirationDateTime"] = body["expirationDateTime"]
                return JSONResponse(public(sub))

        @app.delete("/v1.0/subscriptions/{sub_id}")
        async def delete(sub_id: str, request: Request) -> Response:
            with fake.lock:
                if fake.subscriptions.pop(sub_id, None) is None:
                    return graph_error(
                        404, "ResourceNotFound", f"The object '{sub_id}' was not found.", request
                    )
            return Response(status_code=204)

    def _check_expiry(self, value: Any, request: Request) -> Response | None:
        try:
            expires = _parse_iso(str(value))
        except ValueError:
            return graph_error(400, "InvalidRequest", "expirationDateTime is invalid.", request)
        now = datetime.now(UTC)
        if expires <= now or expires > now + timedelta(minutes=MAX_SUBSCRIPTION_MINUTES):
            return graph_error(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in "
                "the future.",
                request,
            )
        return None

    def _check_subscription(self, body: Any, request: Request) -> FakeUser | Response:
        if not isinstance(body, dict):
            return graph_error(400, "BadRequest", "Unable to read JSON request payload.", request)
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                return graph_error(400, "InvalidRequest", f"'{name}' is required.", request)
        kinds = {k.strip() for k in str(body["changeType"]).split(",")}
        if not kinds <= {"created", "updated", "deleted"}:
            return graph_error(400, "InvalidRequest", "Invalid changeType.", request)
        if not str(body["notificationUrl"]).startswith(("http://", "https://")):
            return graph_error(400, "InvalidRequest", "Invalid notificationUrl.", request)
        if len(str(body.get("clientState") or "")) > 128:
            return graph_error(
                400, "InvalidRequest", "clientState exceeds 128 characters.", request
            )
        problem = self._check_expiry(body["expirationDateTime"], request)
        if problem is not None:
            return problem
        resource = str(body["resource"])
        parts = resource.split("/")
        # users/{u}/mailFolders('{id}')/messages
        if (
            len(parts) != 4
            or parts[0].lower() != "users"
            or not parts[2].startswith("mailFolders('")
            or parts[3] != "messages"
        ):
            return graph_error(
                400, "InvalidRequest", f"Unsupported resource '{resource}'.", request
            )
        user, problem = self._authorize_user(request, parts[1])
        if problem is not None or user is None:
            return problem or graph_error(500, "InternalServerError", "no user", request)
        folder_key = parts[2][len("mailFolders('") : -2]
        with self.lock:
            if user.folder(folder_key) is None:
                return item_not_found(request)
        return user

    async def _handshake(self, notification_url: str) -> str | None:
        """Graph's validation request; the reason it failed, or None."""
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {uuid.uuid4()}"
        )
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    notification_url,
                    params={"validationToken": token},
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                )
        except httpx.HTTPError:
            return (
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request."
            )
        if response.status_code != 200:
            return (
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request."
            )
        if not response.headers.get("content-type", "").startswith("text/plain"):
            return "Subscription validation request failed. Must respond with text/plain."
        if response.text != token:
            return (
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter."
            )
        return None


FLAG_STATUSES = ("notFlagged", "complete", "flagged")


def _message_id(mime: bytes) -> str | None:
    value = email.message_from_bytes(mime, policy=email.policy.compat32).get("Message-ID")
    return str(value).strip() if value else None


def _immutable(request: Request) -> bool:
    return 'idtype="immutableid"' in request.headers.get("prefer", "").lower().replace(" ", "")


def _check_update(body: dict[str, Any], request: Request) -> Response | None:
    """What Graph answers a PATCH of the properties we model with wrong values."""
    if "isRead" in body and not isinstance(body["isRead"], bool):
        return graph_error(400, "BadRequest", "Cannot convert the literal to Edm.Boolean.", request)
    flag = body.get("flag", {"flagStatus": "notFlagged"})
    if not isinstance(flag, dict) or flag.get("flagStatus") not in FLAG_STATUSES:
        return graph_error(
            400,
            "BadRequest",
            "The value for flagStatus is not a valid followupFlagStatus.",
            request,
        )
    return None


async def url_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (no python-multipart needed)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def user_key(user: FakeUser) -> str:
    return user.upn


def public(sub: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        **{k: v for k, v in sub.items() if not k.startswith("_")},
    }


def graph_error(
    status: int,
    code: str,
    message: str,
    request: Request,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": request.headers.get("client-request-id", str(uuid.uuid4())),
            },
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def item_not_found(request: Request) -> JSONResponse:
    return graph_error(
        404, "ErrorItemNotFound", "The specified object was not found in the store.", request
    )


def aad_error(status: int, error: str, code: int, description: str) -> JSONResponse:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return JSONResponse(body, status_code=status)


@contextmanager
def running_fake_graph(**kwargs: Any) -> Iterator[FakeGraph]:
    fake = FakeGraph(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
