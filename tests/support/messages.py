"""Factories for realistic test messages and Maildirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path


def make_message(
    subject: str,
    *,
    sender: str = "Alice Example <alice@example.com>",
    to: str = "Bob <bob@example.org>",
    text: str | None = "Hello,\nthis is the body.\n",
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    date: datetime | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def write_maildir(root: Path, messages: list[bytes], seen_every: int = 0) -> Path:
    """A Maildir holding ``messages`` (every ``seen_every``-th one flagged seen, in cur/)."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(messages):
        seen = seen_every and i % seen_every == 0
        name = f"{1700000000 + i}.M{i}P1.test" + (":2,S" if seen else "")
        (root / ("cur" if seen else "new") / name).write_bytes(data)
    return root


def dated(i: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i)
