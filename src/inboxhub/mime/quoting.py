"""Replies and forwards: who they go to, their subject, their threading headers and the
quoted original, following what Gmail, Outlook and Thunderbird do.

The original's HTML is a stranger's: it is sanitised (``mime.sanitize``, ammonia via
nh3) before it is quoted, so no script, event handler or ``javascript:`` link of the
original ever goes out in a message we send.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parseaddr

from inboxhub.domain.models import Address
from inboxhub.mime.draft import ForwardFields, Original, Part, ReplyFields
from inboxhub.mime.fields import loose_message_id, without
from inboxhub.mime.sanitize import html_to_text, sanitize_html

# Reply prefixes in the languages mail clients write them in ("Re", German "Aw",
# Scandinavian "Sv", Finnish "Vs", Dutch "Antw", Polish "Odp", Turkish "Ynt", French
# "Réf", Italian "Rif", Greek, Chinese), with Outlook's counters ("Re[2]:", "RE(3):").
_REPLY = r"(?:re|aw|sv|vs|antw|odp|ynt|réf|rif|απ|σχετ|回复|回覆|答复)"
_FORWARD = r"(?:fwd?|wg|tr|rv|enc|doorst|vl|i|pd|πρθ|转发|轉寄)"
_COUNTER = r"(?:\s*[\[(]\d+[\])])?"
_REPLY_PREFIXES = re.compile(rf"^(?:\s*{_REPLY}{_COUNTER}\s*[:：])+\s*", re.I)
_FORWARD_PREFIX = re.compile(rf"^\s*{_FORWARD}{_COUNTER}\s*[:：]\s*", re.I)
MAX_REFERENCES = 20  # ids kept in References; the first (thread root) and the latest
FORWARD_MARK = "---------- Forwarded message ---------"
_QUOTE_STYLE = "margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex"
_CID = re.compile(r"""cid:([^"'\s>)]+)""", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IN_ID = re.compile(r"[^!-;=?-~]")  # a content id: printable ASCII but <, > and space


def reply_subject(subject: str) -> str:
    """``Re: `` once, however many reply prefixes the original piled up."""
    base = _REPLY_PREFIXES.sub("", " ".join(subject.split()))
    return f"Re: {base}" if base else "Re:"


def forward_subject(subject: str) -> str:
    """``Fwd: `` once: a subject that already starts with a forward prefix keeps it."""
    base = " ".join(subject.split())
    if _FORWARD_PREFIX.match(base):
        return "Fwd: " + _FORWARD_PREFIX.sub("", base, count=1)
    return f"Fwd: {base}" if base else "Fwd:"


def thread_references(original: Original) -> list[str]:
    """References of a reply (RFC 5322 section 3.6.4): the original's References (or,
    lacking them, its In-Reply-To) followed by its Message-ID. Past ``MAX_REFERENCES``
    the middle is dropped, keeping the thread's first id and the most recent ones, as
    JWZ's threading notes recommend: the root and the parent are what threads."""
    chain = list(original.references) or [original.in_reply_to or ""]
    ids: list[str] = []
    for value in [*chain, original.message_id or ""]:
        found = loose_message_id(value)
        if found and found not in ids:
            ids.append(found)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def reply_recipients(
    original: Original, *, reply_all: bool, me: str
) -> tuple[list[Address], list[Address]]:
    """(to, cc) of a reply. To is the original's Reply-To, else its From; replying to
    one's own message goes to the original's recipients instead. Reply-all adds the
    original's To (to To) and Cc (to Cc). ``me`` is never a recipient, and nobody
    appears twice (case-insensitive)."""
    myself = [Address(email=parseaddr(me)[1] or me)]
    authors = original.reply_to or ([original.from_] if original.from_ else [])
    to = without(authors, myself)
    if not to and authors:  # my own message: answer its recipients
        to = without(original.to, myself)
        if not reply_all:
            return to, []
    if not reply_all:
        return to, []
    to = without([*to, *original.to], myself)
    cc = without(original.cc, [*myself, *to])
    return to, cc


def _who(address: Address | None) -> str:
    if address is None:
        return "someone"
    if address.name and address.email:
        return f"{address.name} <{address.email}>"
    return address.name or address.email


def _when(date: datetime | None) -> str:
    return date.astimezone(UTC).strftime("%a, %d %b %Y at %H:%M UTC") if date else ""


def _attribution(original: Original) -> str:
    when = _when(original.date)
    return f"On {when}, {_who(original.from_)} wrote:" if when else f"{_who(original.from_)} wrote:"


def _plain(original: Original) -> str:
    text = original.text or html_to_text(original.html)
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def quote_text(text: str) -> str:
    """``> `` before every line; already quoted lines get ``>`` alone (``>> x``)."""
    lines = []
    for line in text.split("\n"):
        lines.append(">" + line if line.startswith(">") else ("> " + line).rstrip())
    return "\n".join(lines)


def _safe_html(original: Original) -> str:
    if original.html.strip():
        return sanitize_html(original.html)
    escaped = htmllib.escape(_plain(original))
    return f'<div style="white-space:pre-wrap">{escaped}</div>'


def carried(part: Part) -> Part:
    """A received attachment as we send it on: a filename broken over lines (seen in
    the wild) made one line, a content id cut down to the characters one may hold."""
    name = " ".join(_CONTROL.sub(" ", part.filename).split())
    cid = _NOT_IN_ID.sub("", part.content_id or "") or None
    if (name, cid) == (part.filename, part.content_id):
        return part
    return replace(part, filename=name, content_id=cid)


def _inline_shown(original: Original, html: str) -> list[Part]:
    shown = {m.group(1).strip("<>").lower() for m in _CID.finditer(html)}
    return [
        carried(p)
        for p in original.attachments
        if p.content_id and p.content_id.strip().strip("<>").lower() in shown
    ]


def reply_fields(original: Original, *, reply_all: bool, me: str) -> ReplyFields:
    to, cc = reply_recipients(original, reply_all=reply_all, me=me)
    attribution = _attribution(original)
    quoted_body = _safe_html(original)
    quoted_html = (
        f'<div class="inboxhub-quote"><div>{htmllib.escape(attribution)}</div>'
        f'<blockquote type="cite" style="{_QUOTE_STYLE}">{quoted_body}</blockquote></div>'
    )
    return ReplyFields(
        to=to,
        cc=cc,
        subject=reply_subject(original.subject),
        in_reply_to=loose_message_id(original.message_id),
        references=thread_references(original),
        quoted_text=f"{attribution}\n{quote_text(_plain(original))}\n",
        quoted_html=quoted_html,
        inline=_inline_shown(original, quoted_body),
    )


def _header_block(original: Original) -> list[tuple[str, str]]:
    rows = [("From", _who(original.from_)), ("Date", _when(original.date))]
    rows.append(("Subject", " ".join(original.subject.split())))
    rows.append(("To", ", ".join(_who(a) for a in original.to)))
    if original.cc:
        rows.append(("Cc", ", ".join(_who(a) for a in original.cc)))
    return [(name, value) for name, value in rows if value]


def forward_fields(original: Original) -> ForwardFields:
    rows = _header_block(original)
    text_head = "\n".join([FORWARD_MARK, *(f"{name}: {value}" for name, value in rows)])
    html_head = "<br>".join(
        [htmllib.escape(FORWARD_MARK)]
        + [f"{name}: {htmllib.escape(value)}" for name, value in rows]
    )
    return ForwardFields(
        subject=forward_subject(original.subject),
        text=f"{text_head}\n\n{_plain(original)}\n",
        html=(
            f'<div class="inboxhub-forward"><div>{html_head}</div><br>{_safe_html(original)}</div>'
        ),
        attachments=[carried(p) for p in original.attachments],
    )
