"""Factories for messages of conversations: Message-ID, In-Reply-To and References
exactly as given (or left out), and extra trace headers as a delivery adds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

DAY0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def message(
    mid: str | None,
    subject: str,
    *,
    hours: float = 0,
    in_reply_to: str | None = None,
    references: tuple[str, ...] | list[str] = (),
    sender: str = "Ann <ann@example.com>",
    trace: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A message dated ``hours`` after ``DAY0``; ``trace``: headers put on top, as
    each delivery adds its own (Received, Delivered-To, …)."""
    msg = EmailMessage()
    for name, value in trace:
        msg[name] = value
    msg["From"] = sender
    msg["To"] = "Team <team@example.com>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(DAY0 + timedelta(hours=hours))
    if mid:
        msg["Message-ID"] = f"<{mid}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    msg.set_content(f"{subject}\n\nsome words for {mid}\n")
    return msg.as_bytes()
