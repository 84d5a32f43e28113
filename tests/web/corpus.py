"""The mail the browser tests read: a conversation, a hostile HTML message, one with a
remote image, attachments (a PNG and a PDF) and enough filler to need a second page."""

from __future__ import annotations

import base64
from pathlib import Path

from fpdf import FPDF

from tests.support.messages import dated, make_message, write_maildir

# A 1x1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def _pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=20)
    pdf.cell(text="Signed contract")
    return bytes(pdf.output())


PDF = _pdf()
FILLER = 55  # more than one page of the list (50)

# Each handler would set a marker on the app's window (or its own) if it ever ran.
HOSTILE_HTML = (
    "<p>Totally <b>harmless</b> newsletter</p>"
    "<script>window.top.__pwned = 'script'; document.title = 'pwned'</script>"
    '<img src="x" onerror="window.top.__pwned = \'onerror\'">'
    '<a id="evil" href="javascript:window.top.__pwned=\'link\'">click me</a>'
    "<svg onload=\"window.top.__pwned = 'svg'\"></svg>"
    "<iframe src=\"javascript:window.top.__pwned='iframe'\"></iframe>"
)


def remote_image_html(url: str) -> str:
    return f'<p>Our new logo:</p><img alt="logo" src="{url}"><p>Best, Marketing</p>'


def messages(pixel_url: str) -> list[bytes]:
    first = "<budget-1@example.com>"
    second = "<budget-2@example.com>"
    out = [
        make_message(f"Filler note {i}", date=dated(i), text=f"Filler body {i}.\n")
        for i in range(FILLER)
    ]
    out += [
        make_message(
            "Budget 2025",
            sender="Carol Finance <carol@finance.example>",
            date=dated(200),
            message_id=first,
            text="Here is the draft budget for next year.\n",
        ),
        make_message(
            "Re: Budget 2025",
            sender="Dave <dave@example.org>",
            date=dated(201),
            message_id=second,
            in_reply_to=first,
            text="Looks good, but the travel line is too high.\n",
        ),
        make_message(
            "Re: Budget 2025",
            sender="Carol Finance <carol@finance.example>",
            date=dated(202),
            in_reply_to=second,
            text="Agreed, I lowered the travel line.\n",
        ),
        make_message(
            "Holiday photos and the contract",
            sender="Erin <erin@example.net>",
            date=dated(210),
            text="The picture and the signed contract are attached.\n",
            attachments=[("photo.png", "image/png", PNG), ("contract.pdf", "application/pdf", PDF)],
        ),
        make_message(
            "Weekly newsletter",
            sender="News <news@spam.example>",
            date=dated(220),
            text=None,
            html=HOSTILE_HTML,
        ),
        make_message(
            "Logo preview",
            sender="Marketing <marketing@example.com>",
            date=dated(230),
            text=None,
            html=remote_image_html(pixel_url),
        ),
    ]
    return out


def write(root: Path, pixel_url: str) -> Path:
    return write_maildir(root, messages(pixel_url), seen_every=4)
