"""Sending for Gmail mailboxes: ``users.messages.send`` with the whole message as
``raw`` (base64url). Gmail takes the recipients from the To, Cc and Bcc headers,
removes the Bcc header from what it delivers, and files the message in the sender's
Sent mail itself; the id it returns is the one the Gmail sync uses.

The consent's ``gmail.modify`` scope covers sending (Google's scope table for
messages.send: ``gmail.send``, ``gmail.compose``, ``gmail.modify`` or
``mail.google.com``). One attempt per call: a 429 or a 5xx comes back as a
``SendTemporaryError`` carrying Retry-After, for the send worker to schedule, rather
than being retried here (a 5xx may hide a message that went out; the worker asks
``find_sent`` before it tries again).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import default

from inboxhub.domain.errors import SendPermanentError, SendTemporaryError
from inboxhub.ports import SendReceipt
from inboxhub.providers.base import ProviderAuthError, ProviderError
from inboxhub.providers.gmail import GmailConnector
from inboxhub.providers.gmail_api import SCOPE_REASONS, Backoff, GmailApi

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")


class MissingSendScope(ProviderAuthError):
    """403 ``insufficientPermissions``: the grant does not allow sending."""


class _SendApi(GmailApi):
    @staticmethod
    def _failure(status: int, reason: str, message: str) -> ProviderError:
        if status == 403 and reason in SCOPE_REASONS:
            return MissingSendScope(
                f"Gmail refused to send ({reason}): the mailbox's consent does not include "
                "sending (gmail.send or gmail.modify); reconnect the mailbox"
            )
        return GmailApi._failure(status, reason, message)


def classify(exc: ProviderError) -> SendTemporaryError | SendPermanentError:
    """A provider error as the send worker's temporary/permanent error."""
    if exc.retryable:
        return SendTemporaryError(str(exc), exc.retry_after)
    return SendPermanentError(str(exc))


class GmailTransport:
    """One Gmail mailbox's outgoing mail (``MailTransport``)."""

    def __init__(self, connector: GmailConnector) -> None:
        self.connector = connector
        # The connector's HTTP client and token (refreshed once on a 401, saved).
        self.api = _SendApi(
            connector._http,
            connector.ctx.app.gmail_api_url,
            connector._tokens,
            Backoff(attempts=1),
        )

    async def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> SendReceipt:
        body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        thread_id = await self._thread_of(raw)
        if thread_id:
            body["threadId"] = thread_id
        try:
            sent = await self.api.request("POST", "/messages/send", json=body)
        except ProviderError as exc:
            raise classify(exc) from exc
        message_id = sent.get("id")
        return SendReceipt(str(message_id) if message_id else None, True)

    async def _thread_of(self, raw: bytes) -> str | None:
        """The thread of the message this one answers: Gmail files a reply in its
        thread only when ``threadId`` is given (and the headers and subject match)."""
        answered = BytesHeaderParser(policy=default).parsebytes(raw).get("In-Reply-To")
        found = _MESSAGE_ID.search(str(answered or ""))
        if found is None:
            return None
        params = {"q": f"rfc822msgid:{found.group(1)}", "maxResults": 1, "includeSpamTrash": "true"}
        try:
            listed = await self.api.request("GET", "/messages", params=params)
        except ProviderError:
            return None  # best effort: the reply still goes out, in a thread of its own
        messages = listed.get("messages") or [{}]
        thread = messages[0].get("threadId")
        return str(thread) if thread else None

    async def find_sent(self, message_id: str) -> bool | None:
        query = f"in:sent rfc822msgid:{message_id.strip().strip('<>')}"
        params = {"q": query, "maxResults": 1, "includeSpamTrash": "true"}
        try:
            found = await self.api.request("GET", "/messages", params=params)
        except ProviderError:
            return None
        return bool(found.get("messages"))

    async def close(self) -> None:
        await self.connector.close()
