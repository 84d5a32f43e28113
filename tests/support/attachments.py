"""Real attachment files for the extraction tests, made the way real ones are: by the
libraries that write them (fpdf2, python-docx, XlsxWriter, openpyxl, python-pptx,
odfpy), and, for what no writer makes on purpose (bombs, lies, text boxes), by hand
from the file format's own parts."""

from __future__ import annotations

import io
import struct
import zipfile
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import make_msgid

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT_TYPE = "application/vnd.oasis.opendocument.text"
ODS_TYPE = "application/vnd.oasis.opendocument.spreadsheet"

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


def pdf(*pages: str) -> bytes:
    """A PDF with one page per argument, each line of it a line of text."""
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("helvetica", size=12)
    for text in pages:
        doc.add_page()
        for line in text.splitlines():
            doc.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def encrypted_pdf(text: str, user_password: str) -> bytes:
    """AES-128 encrypted; an empty ``user_password`` leaves it openable by anyone
    (only editing is protected, by the owner password)."""
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    doc = FPDF()
    doc.set_font("helvetica", size=12)
    doc.add_page()
    doc.cell(text=text)
    doc.set_encryption(
        owner_password="owner-secret",
        user_password=user_password,
        encryption_method=EncryptionMethod.AES_128,
    )
    return bytes(doc.output())


def slow_pdf(operators: int, first_page: str = "") -> bytes:
    """A PDF whose (small, compressed) content stream holds ``operators`` text-showing
    operators: cheap to send, slow to read in pure Python. ``first_page``: an ordinary
    page of that text before it."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    contents = [b"BT /F1 12 Tf 72 720 Td " + b"(slow) Tj 0 -1 Td " * operators + b"ET"]
    if first_page:
        contents.insert(0, b"BT /F1 12 Tf 72 720 Td (" + first_page.encode() + b") Tj ET")
    for data in contents:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        content = DecodedStreamObject()
        content.set_data(data)
        page[NameObject("/Contents")] = writer._add_object(content.flate_encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(paragraphs: list[str], table: list[list[str]] = (), header: str = "") -> bytes:  # type: ignore[assignment]
    import docx as python_docx

    doc = python_docx.Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    if table:
        grid = doc.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    if header:
        doc.sections[0].header.paragraphs[0].text = header
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    """A workbook as Excel writes it: strings in the shared-strings table (XlsxWriter)."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            sheet.write_row(r, 0, row)
    book.close()
    return out.getvalue()


def inline_string_xlsx(rows: list[list[object]]) -> bytes:
    """A workbook with its strings inline in the cells (``t="inlineStr"``), as openpyxl
    and many exporters write them."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx(slides: list[tuple[str, str, str]]) -> bytes:
    """Slides of (title, body, speaker notes)."""
    import pptx as python_pptx

    deck = python_pptx.Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        assert slide.shapes.title is not None
        slide.shapes.title.text = title
        slide.placeholders[1].text = body  # type: ignore[attr-defined]
        if notes:
            assert slide.notes_slide.notes_text_frame is not None
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def odt(paragraphs: list[str], spaced: tuple[str, str] = ("", "")) -> bytes:
    """A text document; ``spaced`` is two words written with a ``text:s`` between
    them (how ODF writes a run of spaces) inside a span."""
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P, S, Span

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text="Heading of the document"))
    for text in paragraphs:
        doc.text.addElement(P(text=text))
    if spaced[0]:
        p = P(text="Spaced: ")
        span = Span(text=spaced[0])
        span.addElement(S(c=3))
        span.addText(spaced[1])
        p.addElement(span)
        doc.text.addElement(p)
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def ods(rows: list[list[str]]) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="Sheet1")
    for values in rows:
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    doc.spreadsheet.addElement(table)
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def content_types(overrides: dict[str, str]) -> str:
    items = "".join(f'<Override PartName="/{n}" ContentType="{t}"/>' for n, t in overrides.items())
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f"{items}</Types>"
    )


def ooxml_zip(parts: dict[str, str | bytes], types: dict[str, str]) -> bytes:
    """An Office Open XML package made by hand: ``parts`` by name, and the content
    types of those that need one."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types(types))
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def word_document(body: str, prolog: str = '<?xml version="1.0"?>') -> str:
    return (
        f'{prolog}<w:document xmlns:w="{W_NS}" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
        f"<w:body>{body}</w:body></w:document>"
    )


def hand_docx(body: str, prolog: str = '<?xml version="1.0"?>') -> bytes:
    return ooxml_zip(
        {"word/document.xml": word_document(body, prolog)}, {"word/document.xml": DOCX_MAIN}
    )


def zip_bomb_docx(unpacked_bytes: int) -> bytes:
    """A DOCX whose document part unpacks to ``unpacked_bytes`` of one repeated byte
    (deflate packs that ~1,000:1), streamed so the test never holds it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types({"word/document.xml": DOCX_MAIN}))
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(word_document("<w:p><w:r><w:t>").encode()[:-30])
            chunk = b" " * (1024 * 1024)
            for _ in range(unpacked_bytes // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def lying_docx(text: str, declared: int) -> bytes:
    """A DOCX whose document part declares (in both of the zip's headers) that it
    unpacks to ``declared`` bytes, fewer than it really does."""
    data = bytearray(hand_docx(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"))
    name = b"word/document.xml"
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        at = data.find(signature)
        while at != -1:
            if data[at + name_at : at + name_at + len(name)] == name:
                struct.pack_into("<I", data, at + size_at, declared)
            at = data.find(signature, at + 4)
    return bytes(data)


def eml(
    subject: str,
    text: str,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    messages: list[bytes] = (),  # type: ignore[assignment]
    sender: str = "Carol Inner <carol@example.net>",
) -> bytes:
    """A message with file attachments and attached messages (``message/rfc822``)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Dan <dan@example.org>"
    msg["Subject"] = subject
    msg["Date"] = "Wed, 01 May 2024 12:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content(text)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    for inner in messages:
        msg.add_attachment(message_from_bytes(inner, policy=default))
    return msg.as_bytes(policy=SMTP)
