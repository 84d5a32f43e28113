"""Sending for Microsoft 365 mailboxes: Graph ``POST /users/{user}/sendMail`` with the
message in MIME format (the request body is the base64 of the whole message,
``Content-Type: text/plain``; Graph answers 202 Accepted and saves a copy in Sent
Items). Graph takes the recipients from the To, Cc and Bcc headers.

Sending needs the ``Mail.Send`` permission (delegated consent asks for it; mailboxes
connected before it was asked for must be reconnected; application permissions need
it granted to the app). A 403 is reported as a permanent error saying so.

The sent copy's id: sendMail returns none, so the transport looks the message up in
Sent Items by ``internetMessageId``. The Graph connector asks for immutable ids
(``Prefer: IdType="ImmutableId"``), so the id found is the one its sync will use; the
copy may take a moment to appear, and if it has not after a few tries the receipt
has no id (the sync then brings the copy in as a new email).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
from email.parser import BytesHeaderParser
from email.policy import default

import httpx

from inboxhub.domain.errors import SendPermanentError, SendTemporaryError
from inboxhub.ports import SendReceipt
from inboxhub.providers.base import ProviderError
from inboxhub.providers.graph import GraphConnector
from inboxhub.providers.graph_api import error_code
from inboxhub.providers.retry_after import retry_after_seconds
from inboxhub.providers.send_gmail import classify

TEMPORARY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
LOOKUP_WAITS = (0.0, 1.0, 2.0)  # seconds before each look for the sent copy


def message_id_of(raw: bytes) -> str | None:
    headers = BytesHeaderParser(policy=default).parsebytes(raw)
    value = headers.get("Message-ID")
    return str(value).strip() if value else None


class GraphTransport:
    """One Graph mailbox's outgoing mail (``MailTransport``)."""

    def __init__(
        self,
        connector: GraphConnector,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.connector = connector
        self.sleep = sleep

    async def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> SendReceipt:
        setup_error = self.connector._setup_error  # e.g. never signed in
        if setup_error is not None:
            raise classify(setup_error)
        response = await self._post_mime(raw)
        self._check(response)
        message_id = message_id_of(raw)
        provider_id = None
        if message_id:
            for wait in LOOKUP_WAITS:
                await self.sleep(wait)
                ids = await self._sent_items(message_id)
                if ids:
                    provider_id = ids[0]
                    break
        return SendReceipt(provider_id, True)

    async def _post_mime(self, raw: bytes) -> httpx.Response:
        c = self.connector
        url = c.api.url(f"{c.user_path}/sendMail")
        body = base64.b64encode(raw)
        refreshed = False
        while True:
            try:
                token = await c.tokens.access_token()
            except ProviderError as exc:
                raise classify(exc) from exc
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
            try:
                response = await c.http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise SendTemporaryError(f"Graph unreachable: {exc.__class__.__name__}") from exc
            if response.status_code == 401 and not refreshed:
                refreshed = True
                try:
                    await c.tokens.refresh()
                except ProviderError as exc:
                    raise classify(exc) from exc
                continue
            return response

    @staticmethod
    def _check(response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        code, message = error_code(response)
        text = f"Graph answered HTTP {status} {code}: {message}".strip()
        if status in TEMPORARY_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise SendTemporaryError(text, wait)
        if status == 401:
            raise SendPermanentError(f"{text} (reconnect the mailbox)")
        if status == 403:
            raise SendPermanentError(
                f"{text} (sending needs the Mail.Send permission: reconnect the mailbox so "
                "its consent includes it, or grant it to the app)"
            )
        raise SendPermanentError(text)

    async def _sent_items(self, message_id: str) -> list[str] | None:
        """The (immutable) ids of the messages in Sent Items with this Message-ID;
        None when Graph could not be asked."""
        c = self.connector
        literal = message_id.replace("'", "''")  # an OData string literal
        params = {"$filter": f"internetMessageId eq '{literal}'", "$select": "id", "$top": "1"}
        try:
            found = await c.api.json(
                "GET", f"{c.user_path}/mailFolders/sentitems/messages", params=params
            )
        except (ProviderError, ValueError):  # ValueError: a body that is not JSON
            return None
        return [str(m["id"]) for m in found.get("value") or [] if isinstance(m, dict)]

    async def find_sent(self, message_id: str) -> bool | None:
        ids = await self._sent_items(message_id)
        return None if ids is None else bool(ids)

    async def close(self) -> None:
        await self.connector.close()
