"""One message's attachments → their text, within the budgets of ``ExtractLimits``.

Each attachment is read on its own clock (``budget.deadline``) and into its own
``Sink``; what could not be read, or was cut, is reported as a parse error of the
message, which is stored all the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from inboxhub.domain.models import ParsedAttachment
from inboxhub.extract.budget import Full, Sink, TimedOut, Unreadable, deadline
from inboxhub.extract.detect import Kind, detect
from inboxhub.extract.htmlpage import html_text
from inboxhub.extract.limits import ExtractLimits
from inboxhub.extract.message import message_text
from inboxhub.extract.office import office_text, zip_text
from inboxhub.extract.pdf import pdf_text
from inboxhub.extract.plaintext import plain_text

Reader = Callable[[bytes, Sink, ExtractLimits], None]
READERS: dict[Kind, Reader] = {
    "pdf": pdf_text,
    "office": office_text,
    "zip": zip_text,
    "html": html_text,
    "text": plain_text,
}
_TRAILING_SPACE = re.compile(r"[ \t\r\f\v]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass
class Extracted:
    text: str = ""
    errors: list[str] = field(default_factory=list)


def _name(attachment: ParsedAttachment, index: int) -> str:
    return repr(attachment.filename or f"part {index}")


def _failure(exc: Exception) -> str:
    if isinstance(exc, Unreadable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:200]  # a reader's bug, or a file it chokes on


def _read(kind: Kind, data: bytes, sink: Sink, limits: ExtractLimits, depth: int) -> None:
    if kind == "eml":
        message_text(data, sink, limits, depth, read_inner)
    else:
        READERS[kind](data, sink, limits)


def read_inner(attachment: ParsedAttachment, sink: Sink, limits: ExtractLimits, depth: int) -> None:
    """An attachment of an attached message, into the outer attachment's sink and on
    its clock: what goes wrong is noted; a spent budget (``Stop``) ends it all."""
    kind = detect(attachment.filename, attachment.content_type, attachment.data)
    if kind is None:
        return
    where = f"attached {_name(attachment, 0)}"
    try:
        _read(kind, attachment.data, sink, limits, depth)
    except Exception as exc:
        sink.note(f"{where}: text not extracted: {_failure(exc)}")


def tidy(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", text.replace("\x00", ""))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _one(
    kind: Kind, attachment: ParsedAttachment, limit: int, limits: ExtractLimits
) -> tuple[str, list[str]]:
    """The attachment's text, and what to report about it (without its name)."""
    sink = Sink(limit)
    failure = ""
    try:
        with deadline(limits.seconds_per_attachment):
            _read(kind, attachment.data, sink, limits, 0)
    except Full:
        sink.notes.insert(0, f"text cut to {limit} characters")
    except TimedOut:
        failure = f"timed out after {limits.seconds_per_attachment:g} s"
    except Exception as exc:
        failure = _failure(exc)
    text = tidy(sink.text())
    if failure and text:
        sink.notes.insert(0, f"text incomplete: {failure}; {len(text)} characters kept")
    elif failure:
        sink.notes.insert(0, f"text not extracted: {failure}")
    return text, sink.notes


def attachment_text(attachments: Sequence[ParsedAttachment], limits: ExtractLimits) -> Extracted:
    """The text of every attachment in a format we read, in order, separated by blank
    lines; attachments of other formats are passed over without a word."""
    out = Extracted()
    if not limits.enabled:
        return out
    texts: list[str] = []
    left = limits.max_chars_per_message
    unread: list[str] = []
    for index, attachment in enumerate(attachments, start=1):
        kind = detect(attachment.filename, attachment.content_type, attachment.data)
        if kind is None:
            continue
        name = _name(attachment, index)
        if len(attachment.data) > limits.max_attachment_bytes:
            if kind != "zip":
                out.errors.append(
                    f"attachment {name}: text not extracted: {len(attachment.data)} bytes, "
                    f"more than the {limits.max_attachment_bytes} read"
                )
            continue
        if left <= 0:
            unread.append(name)
            continue
        text, problems = _one(kind, attachment, min(limits.max_chars_per_attachment, left), limits)
        out.errors += [f"attachment {name}: {p}" for p in problems]
        if text:
            texts.append(text)
            left -= len(text)
    if unread:
        out.errors.append(
            f"text of attachments {', '.join(unread[:10])} not extracted: the message's "
            f"{limits.max_chars_per_message} characters of attachment text are used up"
        )
    out.text = "\n\n".join(texts)
    return out
