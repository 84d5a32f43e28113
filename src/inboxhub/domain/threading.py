"""Conversations: which messages belong together (pure).

A message names the messages it follows by Message-ID: ``In-Reply-To`` its parent,
``References`` its ancestors, oldest first (RFC 5322 §3.6.4). As in Jamie Zawinski's
threading algorithm (https://www.jwz.org/doc/threading.html), every Message-ID a
message names ties it to whatever else names that id, even when the message so
named never arrives (a missing middle message still joins its neighbours). Messages
that name no other fall back to their subject: "Re: Budget" joins "Budget".

A new conversation's id is a hash of the tenant and its oldest known ancestor, so
two processors that meet a message and its reply at the same moment, unknown to
each other, usually still give both the same id.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# A References header may name thousands of ids (a hostile one, or a mailing list
# thread of years): the oldest (the conversation's root) and the newest are the ones
# that tie a message to its conversation.
MAX_REFERENCES = 50

# Reply and forward markers, case-folded, as mail clients write them: English,
# German (AW, WG), Nordic (SV, VS, VB, VL), Dutch (Antw, Doorst), French (Réf, TR),
# Italian (Rif, I), Spanish and Portuguese (RV, Enc, Res), Polish (Odp, PD),
# Turkish (YNT, İLT), Greek, Hebrew, Chinese, Japanese and Korean.
_MARKERS = (
    "re",
    "fwd",
    "fw",
    "aw",
    "wg",
    "sv",
    "vs",
    "vb",
    "vl",
    "antw",
    "doorst",
    "réf",
    "ref",
    "tr",
    "rif",
    "rv",
    "enc",
    "res",
    "odp",
    "pd",
    "ynt",
    "i\u0307lt",  # "İLT" case-folded
    "ilt",
    "απ",
    "σχετ",
    "πρθ",
    "השב",
    "回复",
    "回覆",
    "答复",
    "转发",
    "轉寄",
    "转寄",
    "返信",
    "転送",
    "답장",
    "회신",
    "전달",
)
# A marker, an optional reply count ("Re[2]:", "Re(3):", "RE^2:"), then a colon
# (NFKC has already made a full-width colon an ASCII one).
_MARKER = "|".join(map(re.escape, _MARKERS))
_REPLY = re.compile(rf"(?:{_MARKER})\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*:")
_LIST_TAG = re.compile(r"\[[^\[\]]*\]")  # "[dev-list]", "[PATCH v2 3/7]"
_SPACES = re.compile(r"\s+")


def _fold(subject: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", subject).casefold()).strip()


def _strip(subject: str) -> tuple[str, bool]:
    """The folded subject without its leading markers and list tags, and whether a
    reply or forward marker was among them."""
    text, replied = _fold(subject), False
    while True:
        if match := _REPLY.match(text):
            replied = True
        elif not (match := _LIST_TAG.match(text)):
            return text, replied
        text = text[match.end() :].lstrip()


def normalize_subject(subject: str) -> str:
    """The subject a conversation is known by: without "Re:", "Fwd:", "AW:", "回复:"
    and the like (any number, any case, "Re[2]:" too), without mailing list tags,
    compatibility-normalised (NFKC), case-folded, white space collapsed."""
    return _strip(subject)[0]


def is_reply_subject(subject: str) -> bool:
    """Whether the subject starts (after any list tags) with a reply or forward marker."""
    return _strip(subject)[1]


def email_key(email_id: str) -> str:
    """The thread key of a message without a Message-ID: its email id, in a form no
    Message-ID (which has no spaces) can take."""
    return f"email {email_id}"


def thread_keys(
    message_id: str | None, in_reply_to: str | None, references: list[str] | tuple[str, ...]
) -> list[str]:
    """The Message-IDs that tie a message to others: its own, its References oldest
    first (the root and the newest ``MAX_REFERENCES`` - 1), then its In-Reply-To; each
    once, empty ones left out."""
    refs = list(references)
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    keys = [message_id, *refs, in_reply_to]
    return list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))


def new_thread_id(tenant_id: str, root: str) -> str:
    """The id of a conversation first seen with ``root`` as its oldest known message."""
    return hashlib.sha256(f"thread\x00{tenant_id}\x00{root}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ThreadFacts:
    """What threading needs to know of one message, worked out where it is parsed."""

    keys: tuple[str, ...]  # its own key first, then the ids it names
    new_thread_id: str  # its id should it start a conversation
    subject: str  # normalised; "" when there is none
    linked: bool  # it names a parent (In-Reply-To or References)
    reply_subject: bool  # its subject says it is a reply or forward

    @property
    def subject_fallback(self) -> bool:
        """Whether it may join a conversation by subject alone (when none of its keys
        is known): it names no parent, but its subject says it has one."""
        return not self.linked and self.reply_subject and bool(self.subject)


def thread_facts(
    tenant_id: str,
    email_id: str,
    message_id: str | None,
    in_reply_to: str | None,
    references: list[str] | tuple[str, ...],
    subject: str,
) -> ThreadFacts:
    own = message_id.strip() if message_id and message_id.strip() else email_key(email_id)
    named = thread_keys(None, in_reply_to, references)
    keys = tuple(dict.fromkeys([own, *named]))
    # the oldest known ancestor: References[0], else In-Reply-To, else itself
    refs = [r.strip() for r in references if r and r.strip()]
    root = refs[0] if refs else named[0] if named else own
    normalized, replied = _strip(subject)
    return ThreadFacts(
        keys=keys,
        new_thread_id=new_thread_id(tenant_id, root),
        subject=normalized,
        linked=bool(named),
        reply_subject=replied,
    )
