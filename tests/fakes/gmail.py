"""A fake of Google's OAuth 2.0 token endpoint and the Gmail API v1, served over real
HTTP (uvicorn on a free loopback port, in a thread) for the Gmail connector's tests.

It behaves as Google documents: opaque page tokens, ``labelIds`` filtering by all the
labels given, ``includeSpamTrash``, history records with ``messagesAdded`` /
``messagesDeleted`` / ``labelsAdded`` / ``labelsRemoved`` and increasing, non-contiguous
ids, a 404 for a ``startHistoryId`` older than the retained history, the write methods
``messages.modify`` / ``trash`` / ``untrash`` (the ``TRASH`` label added or removed) /
``delete`` (only with the full ``https://mail.google.com/`` scope, 403
``insufficientPermissions`` otherwise) with a 404 for a message that does not exist and
a 400 for a label id that does not, ``messages.send`` (``raw`` base64url; one of the
sending scopes, else 403 ``insufficientPermissions``; 400 ``invalidArgument`` for a
missing payload, no recipient or an invalid address header; the message filed under
``SENT`` with its Bcc header, as the sender's copy is), the ``q`` terms ``in:sent`` and
``rfc822msgid:`` of ``messages.list``, PKCE (S256) on
the code exchange, ``invalid_grant`` for revoked refresh tokens, and error bodies in
Google's JSON format. Test controls mutate mailboxes, expire or revoke tokens, prune
history, queue failures and count requests per endpoint.

State lives in this object and is guarded by one lock: the server's thread and the
test's thread both touch it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.fakes.server import ThreadedServer

SYSTEM_LABELS = (
    "INBOX",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "SENT",
    "DRAFT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
FULL_SCOPE = "https://mail.google.com/"  # what messages.delete needs
SEND_SCOPES = frozenset(  # any of them allows messages.send (Google's scope table)
    {
        FULL_SCOPE,
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.send",
    }
)
TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")
WATCH_LIFETIME_MS = 7 * 24 * 3600 * 1000
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def google_error(
    code: int,
    message: str,
    reason: str,
    domain: str = "global",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error as Google's APIs send it."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }
    return JSONResponse(body, status_code=code, headers=headers)


def pubsub_body(email: str, history_id: int, message_id: str = "1") -> dict[str, Any]:
    """What a Pub/Sub push subscription posts for a Gmail notification."""
    data = json.dumps({"emailAddress": email, "historyId": history_id}).encode()
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "publishTime": "2024-01-01T00:00:00Z",
        },
        "subscription": "projects/p/subscriptions/gmail-push",
    }


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _untoken(token: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class FakeMessage:
    id: str
    thread_id: str
    raw: bytes
    labels: list[str]
    internal_date: int  # ms since the epoch
    history_id: int

    def ref(self, with_labels: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "threadId": self.thread_id}
        if with_labels and self.labels:
            out["labelIds"] = list(self.labels)
        return out

    def snippet(self) -> str:
        _, _, body = self.raw.partition(b"\r\n\r\n")
        if not body:
            _, _, body = self.raw.partition(b"\n\n")
        return " ".join(body.decode("utf-8", "replace").split())[:100]


@dataclass
class FakeMailbox:
    email: str
    history_id: int
    history_floor: int  # the oldest startHistoryId still answered
    messages: dict[str, FakeMessage] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    watch: dict[str, Any] | None = None


@dataclass
class _Failure:
    status: int
    reason: str
    retry_after: str | None
    endpoint: str | None


@dataclass
class _Grant:
    email: str
    scope: str
    client_id: str


class FakeGmail:
    """Google's token endpoint (``/token``, consent at ``/o/oauth2/v2/auth``) and the
    Gmail API (``/gmail/v1/users/{userId}/...``) for a few in-memory mailboxes."""

    def __init__(
        self,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        token_lifetime: int = 3599,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime = token_lifetime
        self._lock = threading.RLock()
        self._rng = random.Random(7)
        self.app = self._build_app()
        self._server: ThreadedServer | None = None
        self.port = 0
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def auth_url(self) -> str:
        return self.url + "/o/oauth2/v2/auth"

    def start(self) -> None:
        self._server = ThreadedServer(self.app, name="fake Gmail server").start()
        self.port = self._server.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def reset(self) -> None:
        """Forget every mailbox, token, queued failure, hook and count."""
        with self._lock:
            self.mailboxes: dict[str, FakeMailbox] = {}
            self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (email, expiry)
            self.access_scopes: dict[str, str] = {}  # token -> granted scopes
            self.refresh_tokens: dict[str, _Grant] = {}
            self.codes: dict[str, dict[str, str]] = {}
            self.failures: list[_Failure] = []
            self.hooks: dict[str, list[Callable[[], None]]] = {}
            self.counts: Counter[str] = Counter()
            self.notifications: list[tuple[str, int]] = []  # what Pub/Sub would push
            self.sent: list[tuple[str, list[str], bytes]] = []  # (from box, recipients, raw)
            self.consent_as: str | None = None
            self._ids = itertools.count(1)

    # --- test controls: mailboxes ------------------------------------------------------

    def add_mailbox(self, email: str, history_id: int = 1000) -> FakeMailbox:
        with self._lock:
            box = FakeMailbox(email=email, history_id=history_id, history_floor=history_id)
            for lid in SYSTEM_LABELS:
                box.labels[lid] = {
                    "id": lid,
                    "name": lid,
                    "type": "system",
                    "messageListVisibility": "hide" if lid in ("SPAM", "TRASH") else "show",
                    "labelListVisibility": "labelShow",
                }
            self.mailboxes[email.lower()] = box
            return box

    def box(self, email: str) -> FakeMailbox:
        return self.mailboxes[email.lower()]

    def add_label(self, email: str, name: str) -> str:
        with self._lock:
            box = self.box(email)
            lid = f"Label_{len(box.labels) - len(SYSTEM_LABELS) + 1}"
            box.labels[lid] = {
                "id": lid,
                "name": name,
                "type": "user",
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
            }
            return lid

    def add_message(
        self,
        email: str,
        raw: bytes,
        labels: Iterable[str] = ("INBOX", "UNREAD"),
        internal_date: int | None = None,
        thread_id: str | None = None,
    ) -> str:
        """Deliver a message; returns its id (16 hex digits, like Gmail's)."""
        with self._lock:
            box = self.box(email)
            mid = f"{0x18C0000000000000 + next(self._ids) * 0x1F3:016x}"
            hid = self._bump(box)
            message = FakeMessage(
                id=mid,
                thread_id=thread_id or mid,
                raw=raw,
                labels=list(dict.fromkeys(labels)),
                internal_date=internal_date or int(time.time() * 1000),
                history_id=hid,
            )
            box.messages[mid] = message
            self._record(box, hid, message, "messagesAdded", {"message": message.ref()})
            return mid

    def delete_message(self, email: str, mid: str) -> None:
        """Permanent deletion (users.messages.delete), not moving to trash."""
        with self._lock:
            box = self.box(email)
            message = box.messages.pop(mid)
            hid = self._bump(box)
            self._record(box, hid, message, "messagesDeleted", {"message": message.ref()})

    def modify(
        self, email: str, mid: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """users.messages.modify: one history record per kind of change."""
        with self._lock:
            box = self.box(email)
            message = box.messages[mid]
            added = [lid for lid in add if lid not in message.labels]
            removed = [lid for lid in remove if lid in message.labels]
            for kind, ids in (("labelsAdded", added), ("labelsRemoved", removed)):
                if not ids:
                    continue
                if kind == "labelsAdded":
                    message.labels.extend(ids)
                else:
                    message.labels = [lid for lid in message.labels if lid not in ids]
                hid = self._bump(box)
                message.history_id = hid
                entry = {"message": message.ref(), "labelIds": ids}
                self._record(box, hid, message, kind, entry)

    def prune_history(self, email: str) -> None:
        """Forget all history so far: older startHistoryIds now get a 404."""
        with self._lock:
            box = self.box(email)
            box.history.clear()
            box.history_floor = box.history_id

    # --- test controls: tokens, failures, hooks ----------------------------------------

    def issue_token(
        self, email: str, scope: str = "https://www.googleapis.com/auth/gmail.modify"
    ) -> dict[str, Any]:
        """A fresh grant as the consent flow would give it (an OAuthToken dict)."""
        with self._lock:
            access, expires_in = self._new_access(email, scope)
            refresh = "1//" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = _Grant(email, scope, self.client_id)
            return {
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": time.time() + expires_in,
                "token_type": "Bearer",
                "scope": scope,
            }

    def expire_access_tokens(self, email: str | None = None) -> None:
        with self._lock:
            for token, (owner, _) in list(self.access_tokens.items()):
                if email is None or owner == email.lower():
                    self.access_tokens[token] = (owner, 0.0)

    def revoke_refresh_tokens(self, email: str | None = None) -> None:
        """The user removed the app's access: refresh tokens and access tokens die."""
        with self._lock:
            for token, grant in list(self.refresh_tokens.items()):
                if email is None or grant.email == email.lower():
                    del self.refresh_tokens[token]
            self.expire_access_tokens(email)

    def fail_next(
        self,
        n: int,
        status: int = 429,
        retry_after: float | str | None = None,
        reason: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Answer the next ``n`` API requests (of ``endpoint``, or any API request) with
        an error: 429 (``rateLimitExceeded``), 403 (give ``reason``) or 5xx."""
        default = {429: "rateLimitExceeded", 403: "rateLimitExceeded"}.get(status, "backendError")
        after = None if retry_after is None else str(retry_after)
        with self._lock:
            self.failures += [_Failure(status, reason or default, after, endpoint)] * n

    def on_request(self, endpoint: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` once, when ``endpoint`` is next requested (before answering)."""
        with self._lock:
            self.hooks.setdefault(endpoint, []).append(hook)

    def authorize(
        self,
        email: str,
        redirect_uri: str,
        code_challenge: str,
        method: str = "S256",
        scope: str = "https://www.googleapis.com/auth/gmail.modify",
        client_id: str | None = None,
    ) -> str:
        """The code Google's consent screen would hand back for ``email``."""
        with self._lock:
            code = "4/" + secrets.token_urlsafe(24)
            self.codes[code] = {
                "email": email.lower(),
                "redirect_uri": redirect_uri,
                "challenge": code_challenge,
                "method": method,
                "scope": scope,
                "client_id": client_id or self.client_id,
            }
            return code

    # --- internals -----------------------------------------------------------------------

    def _bump(self, box: FakeMailbox) -> int:
        box.history_id += self._rng.randint(1, 5)  # increasing, not contiguous
        return box.history_id

    def _record(
        self, box: FakeMailbox, hid: int, message: FakeMessage, kind: str, entry: dict[str, Any]
    ) -> None:
        box.history.append({"id": str(hid), "messages": [message.ref(False)], kind: [entry]})
        watch = box.watch
        if watch is None or watch["expiration"] < time.time() * 1000:
            return
        if watch["labelIds"]:
            matches = bool(set(watch["labelIds"]) & set(message.labels))
            if matches != (watch["behavior"] != "exclude"):
                return
        self.notifications.append((box.email, hid))

    def _new_access(self, email: str, scope: str) -> tuple[str, int]:
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[token] = (email.lower(), time.time() + self.token_lifetime)
        self.access_scopes[token] = scope
        return token, self.token_lifetime

    def _gate(self, endpoint: str) -> JSONResponse | None:
        """Count the request, run its hooks, and answer a queued failure if any."""
        self.counts[endpoint] += 1
        for hook in self.hooks.pop(endpoint, []):
            hook()
        for i, failure in enumerate(self.failures):
            if failure.endpoint in (None, endpoint) and (failure.endpoint or endpoint != "token"):
                del self.failures[i]
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
                messages = {
                    "rateLimitExceeded": "Rate Limit Exceeded",
                    "userRateLimitExceeded": "User-rate limit exceeded.",
                }
                message = messages.get(failure.reason, "Backend Error")
                domain = "usageLimits" if "RateLimit" in failure.reason else "global"
                return google_error(failure.status, message, failure.reason, domain, headers)
        return None

    def _user(self, request: Request, user_id: str) -> FakeMailbox | JSONResponse:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        owner = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if owner is None or owner[1] <= time.time():
            response = google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                "authError",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            return response
        email = owner[0]
        if user_id != "me" and user_id.lower() != email:
            return google_error(403, f"Delegation denied for {email}", "forbidden")
        if email not in self.mailboxes:
            return google_error(400, "Mail service not enabled", "failedPrecondition")
        return self.mailboxes[email]

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        api = "/gmail/v1/users/{user_id}"

        @app.get("/o/oauth2/v2/auth")
        async def consent(request: Request) -> Response:
            q = request.query_params
            with self._lock:
                if q.get("client_id") != self.client_id:
                    return JSONResponse({"error": "invalid_client"}, status_code=401)
                email = self.consent_as or next(iter(self.mailboxes), None)
                if email is None or q.get("response_type") != "code":
                    return JSONResponse({"error": "invalid_request"}, status_code=400)
                code = self.authorize(
                    email,
                    q.get("redirect_uri", ""),
                    q.get("code_challenge", ""),
                    q.get("code_challenge_method", "plain"),
                    q.get("scope", ""),
                )
            query = urlencode(
                {"code": code, "state": q.get("state", ""), "scope": q.get("scope", "")}
            )
            return RedirectResponse(f"{q.get('redirect_uri', '')}?{query}", status_code=302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            with self._lock:
                failed = self._gate("token")
                return failed or self._token(request, form)

        @app.get(api + "/profile")
        async def profile(user_id: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("profile") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return JSONResponse(
                    {
                        "emailAddress": box.email,
                        "messagesTotal": len(box.messages),
                        "threadsTotal": len({m.thread_id for m in box.messages.values()}),
                        "historyId": str(box.history_id),
                    }
                )

        @app.get(api + "/labels")
        async def labels(user_id: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("labels.list") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return JSONResponse({"labels": list(box.labels.values())})

        @app.get(api + "/messages")
        async def list_messages(user_id: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("messages.list") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._list(box, request)

        @app.get(api + "/messages/{mid}")
        async def get_message(user_id: str, mid: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("messages.get") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._get(box, mid, request)

        @app.post(api + "/messages/send")
        async def send_message(user_id: str, request: Request) -> Response:
            body = await _json_body(request)
            with self._lock:
                box = self._gate("messages.send") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._send(box, request, body)

        @app.post(api + "/messages/{mid}/modify")
        async def modify_message(user_id: str, mid: str, request: Request) -> Response:
            body = await _json_body(request)
            with self._lock:
                box = self._gate("messages.modify") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._modify(box, mid, body)

        @app.post(api + "/messages/{mid}/trash")
        async def trash(user_id: str, mid: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("messages.trash") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._modify(box, mid, {"addLabelIds": ["TRASH"]})

        @app.post(api + "/messages/{mid}/untrash")
        async def untrash(user_id: str, mid: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("messages.untrash") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._modify(box, mid, {"removeLabelIds": ["TRASH"]})

        @app.delete(api + "/messages/{mid}")
        async def delete(user_id: str, mid: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("messages.delete") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                token = request.headers.get("authorization", "").partition(" ")[2]
                if FULL_SCOPE not in self.access_scopes.get(token, "").split():
                    return google_error(
                        403,
                        "Request had insufficient authentication scopes.",
                        "insufficientPermissions",
                    )
                if mid not in box.messages:
                    return google_error(404, "Requested entity was not found.", "notFound")
                self.delete_message(box.email, mid)
                return Response(status_code=204)

        @app.get(api + "/history")
        async def history(user_id: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("history.list") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                return self._history(box, request)

        @app.post(api + "/watch")
        async def watch(user_id: str, request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = None
            with self._lock:
                box = self._gate("watch") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                if not isinstance(body, dict) or not TOPIC_RE.match(str(body.get("topicName"))):
                    return google_error(
                        400,
                        "Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC",
                        "invalidArgument",
                    )
                expiration = int(time.time() * 1000) + WATCH_LIFETIME_MS
                behavior = body.get("labelFilterBehavior") or body.get("labelFilterAction")
                box.watch = {
                    "topicName": body["topicName"],
                    "labelIds": list(body.get("labelIds") or []),
                    "behavior": str(behavior or "include").lower(),
                    "expiration": expiration,
                }
                return JSONResponse(
                    {"historyId": str(box.history_id), "expiration": str(expiration)}
                )

        @app.post(api + "/stop")
        async def stop(user_id: str, request: Request) -> Response:
            with self._lock:
                box = self._gate("stop") or self._user(request, user_id)
                if isinstance(box, Response):
                    return box
                box.watch = None
                return Response(status_code=204)

        return app

    def _token(self, request: Request, form: dict[str, str]) -> JSONResponse:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Unauthorized"}, status_code=401
            )
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None:
                return _oauth_error("invalid_grant", "Malformed auth code.")
            if code["redirect_uri"] != form.get("redirect_uri"):
                return _oauth_error("redirect_uri_mismatch", "Bad Request")
            if code["challenge"]:
                verifier = form.get("code_verifier")
                if not verifier:
                    return _oauth_error("invalid_grant", "Missing code verifier.")
                if code["method"] == "S256":
                    digest = hashlib.sha256(verifier.encode()).digest()
                    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                else:
                    expected = verifier
                if expected != code["challenge"]:
                    return _oauth_error("invalid_grant", "Invalid code verifier.")
            access, expires_in = self._new_access(code["email"], code["scope"])
            refresh = "1//" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = _Grant(code["email"], code["scope"], client_id)
            return JSONResponse(
                {
                    "access_token": access,
                    "expires_in": expires_in,
                    "refresh_token": refresh,
                    "scope": code["scope"],
                    "token_type": "Bearer",
                }
            )
        if grant_type == "refresh_token":
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
            access, expires_in = self._new_access(grant.email, grant.scope)
            return JSONResponse(
                {
                    "access_token": access,
                    "expires_in": expires_in,
                    "scope": grant.scope,
                    "token_type": "Bearer",
                }
            )
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _send(self, box: FakeMailbox, request: Request, body: Any) -> JSONResponse:
        """users.messages.send: Gmail takes the recipients from To, Cc and Bcc."""
        token = request.headers.get("authorization", "").partition(" ")[2]
        if not SEND_SCOPES & set(self.access_scopes.get(token, "").split()):
            return google_error(
                403, "Request had insufficient authentication scopes.", "insufficientPermissions"
            )
        data = body.get("raw") if isinstance(body, dict) else None
        if not isinstance(data, str) or not data:
            return google_error(
                400,
                "'raw' RFC822 payload message string or uploading message via /upload/* URL "
                "required",
                "invalidArgument",
            )
        try:
            raw = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_", validate=True)
        except ValueError:
            return google_error(
                400, "Invalid value for ByteString: " + data[:20], "invalidArgument"
            )
        recipients: list[str] = []
        headers = {h["name"].lower(): h["value"] for h in _headers(raw)}
        for name in ("to", "cc", "bcc"):
            for _, address in getaddresses([headers[name]] if name in headers else []):
                if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
                    return google_error(400, f"Invalid {name.title()} header", "invalidArgument")
                recipients.append(address)
        if not recipients:
            return google_error(400, "Recipient address required", "invalidArgument")
        thread = body.get("threadId") if isinstance(body.get("threadId"), str) else None
        mid = self.add_message(box.email, raw, ("SENT",), thread_id=thread)
        self.sent.append((box.email, recipients, raw))
        return JSONResponse(box.messages[mid].ref())

    def _list(self, box: FakeMailbox, request: Request) -> JSONResponse:
        q = request.query_params
        try:
            size = min(max(int(q.get("maxResults", "100")), 1), 500)
        except ValueError:
            return google_error(400, "Invalid value for maxResults", "invalidArgument")
        wanted = set(q.getlist("labelIds"))
        spam_trash = q.get("includeSpamTrash", "false").lower() == "true"
        matching = [
            m
            for m in box.messages.values()
            if wanted <= set(m.labels) and (spam_trash or not {"SPAM", "TRASH"} & set(m.labels))
        ]
        for term in q.get("q", "").split():
            name, _, value = term.partition(":")
            if term.lower() == "in:sent":
                matching = [m for m in matching if "SENT" in m.labels]
            elif name.lower() == "rfc822msgid":
                wanted_id = "<" + value.strip("<>") + ">"
                matching = [m for m in matching if _header(m.raw, "message-id") == wanted_id]
            else:  # Gmail knows many more; this fake only these
                return google_error(
                    400, f"fake Gmail: unsupported q term {term}", "invalidArgument"
                )
        matching.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
        page_token = q.get("pageToken")
        if page_token:
            after = _untoken(page_token).get("after")
            if not isinstance(after, list) or len(after) != 2:
                return google_error(400, "Invalid pageToken", "invalidArgument")
            matching = [m for m in matching if (m.internal_date, m.id) < tuple(after)]
        page = matching[:size]
        body: dict[str, Any] = {"resultSizeEstimate": len(matching)}
        if page:
            body["messages"] = [m.ref(False) for m in page]
        if len(matching) > size:
            body["nextPageToken"] = _token({"after": [page[-1].internal_date, page[-1].id]})
        return JSONResponse(body)

    def _get(self, box: FakeMailbox, mid: str, request: Request) -> JSONResponse:
        fmt = request.query_params.get("format", "full").lower()
        if fmt not in ("raw", "minimal", "metadata", "full"):
            return google_error(400, f"Invalid value at 'format' ({fmt})", "invalidArgument")
        message = box.messages.get(mid)
        if message is None:
            return google_error(404, "Requested entity was not found.", "notFound")
        body: dict[str, Any] = {
            **message.ref(),
            "snippet": message.snippet(),
            "sizeEstimate": len(message.raw),
            "historyId": str(message.history_id),
            "internalDate": str(message.internal_date),
        }
        if fmt == "raw":
            body["raw"] = base64.urlsafe_b64encode(message.raw).decode()
        elif fmt in ("metadata", "full"):
            wanted = {h.lower() for h in request.query_params.getlist("metadataHeaders")}
            headers = [
                h for h in _headers(message.raw) if not wanted or h["name"].lower() in wanted
            ]
            body["payload"] = {"partId": "", "mimeType": "message/rfc822", "headers": headers}
        return JSONResponse(body)

    def _modify(self, box: FakeMailbox, mid: str, body: Any) -> JSONResponse:
        """users.messages.modify (trash and untrash are modify of ``TRASH``)."""
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received.", "invalidArgument")
        add, remove = body.get("addLabelIds") or [], body.get("removeLabelIds") or []
        if not isinstance(add, list) or not isinstance(remove, list):
            return google_error(400, "Invalid JSON payload received.", "invalidArgument")
        if not add and not remove:
            return google_error(400, "No label add or removes specified", "invalidArgument")
        message = box.messages.get(mid)
        if message is None:
            return google_error(404, "Requested entity was not found.", "notFound")
        for lid in [*add, *remove]:
            if lid not in box.labels:
                return google_error(400, f"Invalid label: {lid}", "invalidArgument")
        self.modify(box.email, mid, add, remove)
        return JSONResponse(message.ref())

    def _history(self, box: FakeMailbox, request: Request) -> JSONResponse:
        q = request.query_params
        try:
            start = int(q.get("startHistoryId", ""))
            size = min(max(int(q.get("maxResults", "100")), 1), 500)
        except ValueError:
            return google_error(400, "Invalid startHistoryId", "invalidArgument")
        if start < box.history_floor:
            return google_error(404, "Requested entity was not found.", "notFound")
        after = start
        if q.get("pageToken"):
            after = int(_untoken(q["pageToken"]).get("after", start))
        types = set(q.getlist("historyTypes"))
        kinds = {
            "messageAdded": "messagesAdded",
            "messageDeleted": "messagesDeleted",
            "labelAdded": "labelsAdded",
            "labelRemoved": "labelsRemoved",
        }
        wanted_kinds = {kinds[t] for t in types if t in kinds} if types else set(kinds.values())
        label_id = q.get("labelId")
        records = []
        for record in box.history:
            if int(record["id"]) <= after:
                continue
            if not any(k in record for k in wanted_kinds):
                continue
            if label_id and not any(
                label_id in entry["message"].get("labelIds", [])
                for k in wanted_kinds
                for entry in record.get(k, [])
            ):
                continue
            records.append(record)
        page = records[:size]
        body: dict[str, Any] = {"historyId": str(box.history_id)}
        if page:
            body["history"] = page
        if len(records) > size:
            body["nextPageToken"] = _token({"after": int(page[-1]["id"])})
        return JSONResponse(body)


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _headers(raw: bytes) -> list[dict[str, str]]:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0].decode("utf-8", "replace")
    out: list[dict[str, str]] = []
    for line in re.split(r"\r?\n", head):
        if line[:1] in (" ", "\t") and out:
            out[-1]["value"] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            out.append({"name": name.strip(), "value": value.strip()})
    return out


def _header(raw: bytes, name: str) -> str | None:
    return next((h["value"] for h in _headers(raw) if h["name"].lower() == name), None)


@contextmanager
def serve(**kwargs: Any) -> Iterator[FakeGmail]:
    """A started fake (stopped on exit)."""
    fake = FakeGmail(**kwargs)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
