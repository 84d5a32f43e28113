"""Mail the platform itself writes (reset links, invitations): plain text, one line a
header, and the ``Date`` and ``Message-ID`` that receiving servers expect (mail
without them is scored as spam, and some servers refuse it)."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr


def system_message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = " ".join(subject.split())  # a name in it may hold line breaks
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid("inboxhub", domain=_domain(sender))
    # Unwrapped when it can be, so that a link stays whole in the bytes sent.
    message.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
    return message


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"
