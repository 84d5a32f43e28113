"""Attachment text, format by format, from real files (``tests/support/attachments``)."""

from __future__ import annotations

import pytest

from inboxhub.domain.models import ParsedAttachment
from inboxhub.extract import Extracted, ExtractLimits, attachment_text
from inboxhub.extract.detect import detect
from inboxhub.mime.parse import parse_message
from tests.support import attachments as files

LIMITS = ExtractLimits()


def extract(
    filename: str, content_type: str, data: bytes, limits: ExtractLimits = LIMITS
) -> Extracted:
    part = ParsedAttachment(filename=filename, content_type=content_type, data=data)
    return attachment_text([part], limits)


def test_pdf_pages_are_read_in_order() -> None:
    data = files.pdf("Quarterly zephyrine revenue\nsecond line", "Page two ends here")
    out = extract("report.pdf", "application/pdf", data)
    assert out.errors == []
    assert out.text.index("zephyrine") < out.text.index("second line") < out.text.index("two")


def test_docx_body_tables_and_headers() -> None:
    data = files.docx(
        ["Docx says marmalade", "Second paragraph"],
        table=[["cellAlpha", "cellBeta"]],
        header="Letterhead gazpacho",
    )
    out = extract("letter.docx", files.DOCX_TYPE, data)
    assert out.errors == []
    lines = out.text.splitlines()
    assert lines[:2] == ["Docx says marmalade", "Second paragraph"]
    assert "cellAlpha" in lines and "cellBeta" in lines and "Letterhead gazpacho" in lines


def test_docx_text_box_is_read_once_not_again_from_its_fallback() -> None:
    box = "<w:txbxContent><w:p><w:r><w:t>boxed words</w:t></w:r></w:p></w:txbxContent>"
    body = (
        "<w:p><w:r><w:t>before</w:t></w:r><w:r><mc:AlternateContent>"
        f"<mc:Choice>{box}</mc:Choice><mc:Fallback>{box}</mc:Fallback>"
        "</mc:AlternateContent></w:r><w:r><w:t xml:space='preserve'> after</w:t></w:r>"
        "<w:r><w:tab/><w:t>tabbed</w:t><w:br/><w:t>broken</w:t></w:r></w:p>"
    )
    out = extract("box.docx", files.DOCX_TYPE, files.hand_docx(body))
    assert out.text.count("boxed words") == 1
    assert "before after\ttabbed\nbroken" in out.text


def test_xlsx_shared_strings_numbers_booleans_and_every_sheet() -> None:
    data = files.xlsx(
        {
            "Budget": [["Item", "Amount", "Approved"], ["Widgets", 1234.5, True], ["Gears", 7]],
            "Notes": [["second sheet rutabaga"]],
        }
    )
    out = extract("budget.xlsx", files.XLSX_TYPE, data)
    assert out.errors == []
    assert out.text.splitlines()[:3] == [
        "Item\tAmount\tApproved",
        "Widgets\t1234.5\tTRUE",
        "Gears\t7",
    ]
    assert "second sheet rutabaga" in out.text


def test_xlsx_inline_strings() -> None:
    data = files.inline_string_xlsx([["alpha", "beta"], ["gamma", 3.25, False]])
    out = extract("export.xlsx", files.XLSX_TYPE, data)
    assert (out.text, out.errors) == ("alpha\tbeta\ngamma\t3.25\tFALSE", [])


def test_pptx_slides_in_order_with_speaker_notes() -> None:
    data = files.pptx(
        [(f"Slide {n} title", f"Bullet {n}a\nBullet {n}b", f"notes {n}") for n in range(1, 12)]
    )
    out = extract("deck.pptx", files.PPTX_TYPE, data)
    assert out.errors == []
    titles = [line for line in out.text.splitlines() if line.endswith("title")]
    assert titles == [f"Slide {n} title" for n in range(1, 12)], "slide 10 after slide 9"
    assert "Bullet 3b" in out.text and "notes 11" in out.text


def test_odt_headings_paragraphs_and_spaces() -> None:
    data = files.odt(["An ODF paragraph about omelettes"], spaced=("wide", "gap"))
    out = extract("notes.odt", files.ODT_TYPE, data)
    assert out.errors == []
    assert out.text.splitlines() == [
        "Heading of the document",
        "An ODF paragraph about omelettes",
        "Spaced: wide gap",
    ]


def test_ods_cells() -> None:
    out = extract("sheet.ods", files.ODS_TYPE, files.ods([["Name", "Town"], ["Zoë", "Tórshavn"]]))
    assert out.errors == [] and out.text.split() == ["Name", "Town", "Zoë", "Tórshavn"]


def test_html_by_its_meta_charset_without_scripts() -> None:
    page = (
        '<html><head><meta charset="windows-1252"><title>T</title>'
        "<script>var hidden = 'scriptword';</script></head>"
        "<body><p>Caf\xe9 cr\xe8me &amp; <b>bold</b></p><p>Next</p></body></html>"
    ).encode("cp1252")
    out = extract("page.htm", "application/octet-stream", page)
    assert [line for line in out.text.splitlines() if line] == ["Café crème & bold", "Next"]
    assert "scriptword" not in out.text and out.errors == []


def test_latin1_csv_is_detected_not_mangled() -> None:
    rows = [
        "Nom;Ville;Montant",
        "José Ibáñez;Besançon;12,50",
        "Françoise Dürer;Orléans;7,00",
        "Hélène Noël;Besançon;3,20",
        "Gaëlle Çelik;Nîmes;9,99",
    ]
    out = extract("clients.csv", "text/csv", "\r\n".join(rows).encode("latin-1"))
    assert out.text.splitlines() == rows and out.errors == []


def test_utf16_text_with_a_byte_order_mark() -> None:
    out = extract("notes.txt", "text/plain", "Ünïcode notes".encode("utf-16"))
    assert out.text == "Ünïcode notes"


def test_attached_message_and_its_own_attachments() -> None:
    inner = files.eml(
        "Inner subject kohlrabi",
        "inner body quince",
        [("n.docx", files.DOCX_TYPE, files.docx(["nested docx yuzu"]))],
    )
    outer = files.eml("Outer subject", "outer body", messages=[inner])
    parsed = parse_message(files.eml("Top", "top body", messages=[outer]))
    [attached] = parsed.attachments
    assert attached.content_type == "message/rfc822"
    out = attachment_text(parsed.attachments, LIMITS)
    assert out.errors == []
    for words in ("Subject: Outer subject", "outer body", "Subject: Inner subject kohlrabi"):
        assert words in out.text
    assert "From: Carol Inner <carol@example.net>" in out.text
    assert out.text.index("inner body quince") < out.text.index("nested docx yuzu")


def test_attached_messages_are_read_only_so_deep() -> None:
    message = files.eml("Level 0", "deepest text", [("a.txt", "text/plain", b"leaf file text")])
    for level in range(1, 4):
        message = files.eml(f"Level {level}", f"text {level}", messages=[message])
    out = extract("m.eml", "message/rfc822", message, ExtractLimits(max_depth=2))
    assert "text 2" in out.text and "text 1" in out.text
    assert "deepest text" not in out.text and "leaf file text" not in out.text
    assert out.errors == [
        "attachment 'm.eml': attachments of messages nested deeper than 2 not read"
    ]


@pytest.mark.parametrize(
    ("filename", "content_type", "head", "kind"),
    [
        ("scan.dat", "application/octet-stream", b"%PDF-1.7\n", "pdf"),
        ("", "application/octet-stream", b"\r\n%PDF-1.4", None),  # junk first: a label must say so
        ("x.pdf", "application/octet-stream", b"\r\n%PDF-1.4", "pdf"),
        ("report", "application/octet-stream", b"PK\x03\x04", "zip"),
        ("report.docx", "application/octet-stream", b"PK\x03\x04", "office"),
        ("report.docx", "application/octet-stream", b"\xd0\xcf\x11\xe0", "office"),
        ("a", files.ODT_TYPE, b"", "office"),
        ("a.XLSM", "application/octet-stream", b"", "office"),
        ("page", "application/octet-stream", b"\xef\xbb\xbf <!DOCTYPE html><html>", "html"),
        ("notes", "text/x-diff", b"--- a\n+++ b\n", "text"),
        ("invite.ics", "text/calendar", b"BEGIN:VCALENDAR", None),
        ("fwd", "message/rfc822", b"From: a@b\n", "eml"),
        ("old.eml", "application/octet-stream", b"From: a@b\n", "eml"),
        ("photo.jpg", "image/jpeg", b"\xff\xd8\xff", None),
        ("archive.7z", "application/x-7z-compressed", b"7z\xbc\xaf", None),
    ],
)
def test_detection_trusts_bytes_then_type_then_name(
    filename: str, content_type: str, head: bytes, kind: str | None
) -> None:
    assert detect(filename, content_type, head) == kind


def test_formats_we_do_not_read_are_passed_over_silently() -> None:
    parts = [
        ParsedAttachment(filename="photo.jpg", content_type="image/jpeg", data=b"\xff\xd8\xff"),
        ParsedAttachment(filename="bundle.zip", content_type="application/zip", data=_plain_zip()),
        ParsedAttachment(filename="a.txt", content_type="text/plain", data=b"kept text"),
    ]
    assert attachment_text(parts, LIMITS) == Extracted(text="kept text", errors=[])


def test_a_mislabelled_or_binary_file_is_reported() -> None:
    fake = extract("r.pdf", "application/pdf", b"\x00\x01 random bytes")
    assert fake.errors == ["attachment 'r.pdf': text not extracted: not a PDF (no %PDF- header)"]
    binary = extract("data.txt", "text/plain", b"\x00\x00\x01\x02 binary")
    assert binary.errors == ["attachment 'data.txt': text not extracted: binary data, not text"]
    word = extract("old.docx", files.DOCX_TYPE, b"\xd0\xcf\x11\xe0 an OLE file")
    assert word.errors and "damaged zip" in word.errors[0]


def test_several_attachments_are_joined_in_order() -> None:
    parts = [
        ParsedAttachment(filename="1.txt", content_type="text/plain", data=b"first"),
        ParsedAttachment(
            filename="2.pdf", content_type="application/pdf", data=files.pdf("second")
        ),
        ParsedAttachment(filename="3.txt", content_type="text/plain", data=b"third"),
    ]
    assert attachment_text(parts, LIMITS).text == "first\n\nsecond\n\nthird"


def test_switched_off_reads_nothing() -> None:
    out = extract("a.txt", "text/plain", b"words", ExtractLimits(enabled=False))
    assert out == Extracted()


def _plain_zip() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "an ordinary archive")
    return out.getvalue()
