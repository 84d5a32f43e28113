"""What every connector hands the fetcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from inboxhub.domain.models import Flags


@dataclass(frozen=True)
class FetchedMessage:
    """One raw message as a provider delivered it.

    ``provider_message_id`` identifies the message within its mailbox for the life of
    the mailbox: the email id is derived from it, so fetching it again is a no-op.
    """

    provider_message_id: str
    data: bytes
    received_at: datetime
    flags: Flags = field(default_factory=Flags)
    sha256: str | None = None  # of ``data``, when the provider has it already
