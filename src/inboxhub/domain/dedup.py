"""One message delivered to several mailboxes: how to know the copies (pure).

Each delivery adds its own trace headers (Received, Delivered-To, X-Original-To,
Return-Path, the provider's labels and ids), so the raw bytes of two copies differ.
What the sender wrote does not: the key hashes the Message-ID with the parsed
content (addresses, subject, date, bodies, attachments) and nothing else of the
headers. A copy in the sender's own Sent folder may carry Bcc, which the copies
delivered do not: Bcc is left out too. A message without a Message-ID has no key:
two such messages are never taken for one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from inboxhub.domain.models import Address


def dedup_key(
    message_id: str | None,
    *,
    from_: Address | None,
    to: Sequence[Address],
    cc: Sequence[Address],
    subject: str,
    date: datetime | None,
    text: str,
    html: str,
    attachment_sha256s: Sequence[str],
) -> str:
    """SHA-256 (hex) of the Message-ID and the content; "" without a Message-ID."""
    if not message_id or not message_id.strip():
        return ""

    def addresses(addrs: Sequence[Address]) -> list[str]:
        return [a.email.casefold() for a in addrs]

    head = json.dumps(
        [
            message_id.strip(),
            addresses([from_] if from_ else []),
            addresses(to),
            addresses(cc),
            subject,
            date.isoformat() if date else "",
            list(attachment_sha256s),
        ],
        ensure_ascii=False,
    )
    digest = hashlib.sha256(head.encode("utf-8", "surrogatepass"))
    for body in (text, html):
        digest.update(b"\x00")
        digest.update(hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest())
    return digest.hexdigest()
