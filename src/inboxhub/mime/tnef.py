"""TNEF (``winmail.dat``, Outlook's rich-text wrapper, [MS-OXTNEF]) → body and files."""

from __future__ import annotations

from tnefparse import TNEF

from inboxhub.domain.models import ParsedAttachment


def unpack_tnef(data: bytes, errors: list[str]) -> tuple[str, list[ParsedAttachment]] | None:
    """The text body and attachments inside, or None (and an error) if unreadable."""
    try:
        tnef = TNEF(data)
    except Exception as exc:
        errors.append(f"winmail.dat: unreadable TNEF ({type(exc).__name__}); kept as is")
        return None
    body = tnef.body or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace") if body else ""
    files = [
        ParsedAttachment(
            filename=(a.long_filename() or a.name or "attachment").replace("\x00", ""),
            content_type="application/octet-stream",
            data=a.data if isinstance(a.data, bytes) else bytes(a.data or b""),
        )
        for a in tnef.attachments
    ]
    return body.replace("\x00", ""), files
