"""The outgoing mail transport of a mailbox: through its own provider.

IMAP mailboxes submit over SMTP (their ``smtp`` settings, ``send_smtp``), Gmail ones
through the Gmail API (``send_gmail``), Microsoft 365 ones through Graph
(``send_graph``). Local archives cannot send; EWS mailboxes cannot send yet. The
transport is built on the mailbox's connector, from the same decrypted settings and
token (saved again when refreshed) as the fetcher's (``mailbox_sync.build_connector``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inboxhub.domain.errors import InvalidInput, SendPermanentError, SendTemporaryError
from inboxhub.domain.models import Mailbox
from inboxhub.ports import MailTransport
from inboxhub.providers.base import Connector, ProviderError

if TYPE_CHECKING:
    from inboxhub.runtime import Container


def cannot_send(mailbox: Mailbox) -> str | None:
    """Why ``mailbox`` cannot send, or None when it can (as far as its settings say)."""
    if mailbox.provider == "local":
        return "this mailbox cannot send: it is a local archive"
    if mailbox.provider == "ews":
        return "this mailbox cannot send: sending through Exchange (EWS) is not supported yet"
    if mailbox.provider == "imap" and not mailbox.config.get("smtp"):
        return "this mailbox cannot send: its settings have no smtp section (see docs/mailboxes.md)"
    if mailbox.provider not in ("imap", "gmail", "graph"):
        return f"this mailbox cannot send: unknown provider {mailbox.provider!r}"
    return None


async def open_transport(c: Container, mailbox: Mailbox) -> MailTransport:
    """The mailbox's transport. ``InvalidInput`` when the mailbox cannot send; the
    send errors when its settings or credentials cannot be loaded."""
    why = cannot_send(mailbox)
    if why is not None:
        raise InvalidInput(why)
    from inboxhub.services.fetcher.mailbox_sync import build_connector

    try:
        connector = await build_connector(c, mailbox)
    except ProviderError as exc:
        if exc.retryable:
            raise SendTemporaryError(str(exc), exc.retry_after) from exc
        raise SendPermanentError(str(exc)) from exc
    try:
        return _transport(mailbox, connector)
    except BaseException:
        await connector.close()
        raise


def _transport(mailbox: Mailbox, connector: Connector) -> MailTransport:
    if mailbox.provider == "imap":
        from inboxhub.providers.imap import ImapConnector
        from inboxhub.providers.send_smtp import SmtpTransport

        assert isinstance(connector, ImapConnector)
        if connector.config.smtp is None:
            raise InvalidInput("this mailbox cannot send: its settings have no smtp section")
        return SmtpTransport(connector, connector.config.smtp)
    if mailbox.provider == "gmail":
        from inboxhub.providers.gmail import GmailConnector
        from inboxhub.providers.send_gmail import GmailTransport

        assert isinstance(connector, GmailConnector)
        return GmailTransport(connector)
    from inboxhub.providers.graph import GraphConnector
    from inboxhub.providers.send_graph import GraphTransport

    assert isinstance(connector, GraphConnector)
    return GraphTransport(connector)
