"""Raw bytes → the parts of an email document. Pure and picklable: runs in workers.

Everything CPU-heavy of the processor happens here (MIME parsing, HTML
sanitising, hashing attachments), so it can run in a process pool while the event
loop does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.domain.ids import sha256_hex
from inboxhub.domain.models import Attachment, ParsedEmail
from inboxhub.mime.parse import ParseLimits, parse_message
from inboxhub.mime.sanitize import make_snippet, sanitize_html


@dataclass
class Built:
    """What ``build`` made of one message: the parsed email with sanitised HTML,
    its snippet, the attachment metadata and each attachment's bytes."""

    parsed: ParsedEmail
    snippet: str
    attachments: list[Attachment]
    attachment_data: dict[str, bytes]  # sha256 → bytes


def build(raw: bytes, limits: ParseLimits) -> Built:
    parsed = parse_message(raw, limits)
    html = parsed.html
    if html:
        try:
            html = sanitize_html(html)
        except Exception as exc:  # nh3 is robust, but a message must never be lost
            parsed.parse_errors.append(f"html could not be sanitised: {exc!r}; dropped")
            html = ""
    snippet = make_snippet(parsed.text, parsed.html)
    attachments: list[Attachment] = []
    data: dict[str, bytes] = {}
    for index, part in enumerate(parsed.attachments, start=1):
        digest = sha256_hex(part.data)
        data[digest] = part.data
        attachments.append(
            Attachment(
                id=str(index),
                filename=part.filename,
                content_type=part.content_type,
                size=len(part.data),
                sha256=digest,
                content_id=part.content_id,
                inline=part.inline,
            )
        )
    parsed = parsed.model_copy(update={"html": html, "attachments": []})
    return Built(parsed=parsed, snippet=snippet, attachments=attachments, attachment_data=data)


def build_many(raws: list[bytes], limits: ParseLimits) -> list[Built | str]:
    """``build`` for a batch; an unexpected crash becomes its message (a str), not a lost
    batch, so the handler can still store that message raw and marked."""
    out: list[Built | str] = []
    for raw in raws:
        try:
            out.append(build(raw, limits))
        except Exception as exc:  # the parser must not raise; this is the last fence
            out.append(f"parser crashed: {type(exc).__name__}: {exc}")
    return out
