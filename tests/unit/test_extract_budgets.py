"""Hostile and oversized attachments: every budget holds, the message is still built,
and what was cut or refused is said in its parse errors."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from inboxhub.domain.models import ParsedAttachment
from inboxhub.extract import Extracted, ExtractLimits, attachment_text
from inboxhub.extract.budget import Full, Sink, TimedOut, Unreadable, can_time_out, deadline
from inboxhub.extract.safexml import units
from tests.support import attachments as files


def extract(
    filename: str, content_type: str, data: bytes, limits: ExtractLimits = ExtractLimits()
) -> Extracted:
    part = ParsedAttachment(filename=filename, content_type=content_type, data=data)
    return attachment_text([part], limits)


def test_the_deadline_interrupts_a_pure_python_loop() -> None:
    assert can_time_out(), "pytest runs tests in the main thread"
    spins = 0
    with pytest.raises(TimedOut), deadline(0.05) as armed:
        assert armed
        while True:
            spins += 1
    assert spins > 0


def test_the_deadline_is_disarmed_after_the_body() -> None:
    with deadline(0.05):
        pass
    time.sleep(0.2)  # a stray alarm would raise TimedOut here


def swallow_one_alarm() -> None:
    """What the garbage collector does when the alarm lands in a ``__del__`` or a
    weakref callback: the ``TimedOut`` is printed and lost."""
    try:
        time.sleep(1)
    except TimedOut:
        pass
    else:
        raise AssertionError("the deadline never rang")


def test_a_lost_alarm_rings_again() -> None:
    slept_through: list[bool] = []
    with pytest.raises(TimedOut), deadline(0.05):
        swallow_one_alarm()
        time.sleep(5)
        slept_through.append(True)
    assert slept_through == []


def test_a_body_that_ends_after_losing_the_alarm_still_timed_out() -> None:
    with pytest.raises(TimedOut), deadline(0.05):
        swallow_one_alarm()


def test_a_budget_spent_after_the_clock_is_reported_as_the_clock() -> None:
    with pytest.raises(TimedOut), deadline(0.05):
        swallow_one_alarm()
        raise Full


def test_outside_the_main_thread_only_the_size_budgets_hold() -> None:
    seen: list[bool] = []

    def body() -> None:
        with deadline(0.01) as armed:
            seen.append(armed)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == [False]


def test_a_pdf_that_takes_forever_is_stopped_by_the_clock() -> None:
    """200,000 text operators in a 9 KB PDF: many seconds of pypdf's time, unbudgeted."""
    data = files.slow_pdf(200_000)
    assert len(data) < 20_000
    out = extract("slow.pdf", "application/pdf", data, ExtractLimits(seconds_per_attachment=0.5))
    assert out.errors == ["attachment 'slow.pdf': text not extracted: timed out after 0.5 s"]


def test_what_was_read_before_the_clock_ran_out_is_kept() -> None:
    data = files.slow_pdf(200_000, first_page="An ordinary first page")
    out = extract("slow.pdf", "application/pdf", data, ExtractLimits(seconds_per_attachment=0.5))
    assert out.text == "An ordinary first page"
    assert out.errors == [
        "attachment 'slow.pdf': text incomplete: timed out after 0.5 s; 22 characters kept"
    ]


def test_an_encrypted_pdf_is_reported_and_one_only_protected_from_editing_is_read() -> None:
    locked = extract("locked.pdf", "application/pdf", files.encrypted_pdf("hidden", "open-sesame"))
    assert locked.text == ""
    assert locked.errors == [
        "attachment 'locked.pdf': text not extracted: encrypted PDF: it needs a password to open"
    ]
    readable = extract("signed.pdf", "application/pdf", files.encrypted_pdf("visible words", ""))
    assert (readable.text, readable.errors) == ("visible words", [])


def test_a_truncated_pdf_is_reported() -> None:
    whole = files.pdf("first page words", "second page words")
    out = extract("cut.pdf", "application/pdf", whole[: len(whole) // 2])
    [error] = out.errors
    assert error.startswith("attachment 'cut.pdf': text not extracted: damaged PDF (")


def test_a_zip_bomb_is_refused_by_its_compression_ratio() -> None:
    bomb = files.zip_bomb_docx(50 * 1024 * 1024)
    assert len(bomb) < 100_000
    out = extract("bomb.docx", files.DOCX_TYPE, bomb)
    assert out.errors == [
        "attachment 'bomb.docx': text not extracted: zip bomb? word/document.xml is packed "
        "1025:1 (at most 200:1)"
    ]


def test_a_zip_bomb_is_refused_by_its_unpacked_size() -> None:
    bomb = files.zip_bomb_docx(3 * 1024 * 1024)
    limits = ExtractLimits(max_unpacked_bytes=1024 * 1024, max_compression_ratio=10_000)
    [error] = extract("bomb.docx", files.DOCX_TYPE, bomb, limits).errors
    assert "zip bomb? word/document.xml declares 31" in error
    assert error.endswith("left to unpack")


def test_a_zip_that_lies_about_its_sizes_unpacks_no_more_than_it_declared() -> None:
    out = extract("lie.docx", files.DOCX_TYPE, files.lying_docx("lying text " * 100, 50))
    assert out.text == ""
    assert out.errors == [
        "attachment 'lie.docx': text not extracted: word/document.xml is damaged "
        "(Bad CRC-32 for file 'word/document.xml')"
    ]


def test_billion_laughs_is_refused_before_any_entity_is_expanded() -> None:
    laughs = files.BILLION_LAUGHS + "<root>&lol9;</root>"
    with pytest.raises(Unreadable, match=r"amplification|DTD"):
        list(units(io.BytesIO(laughs.encode()), {"root"}))
    docx = files.hand_docx("<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>", prolog=files.BILLION_LAUGHS)
    [error] = extract("laughs.docx", files.DOCX_TYPE, docx).errors
    assert error.startswith("attachment 'laughs.docx': text not extracted: XML refused")


def test_a_document_with_a_dtd_is_refused_and_external_entities_never_read(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is hunter2")
    prolog = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{secret}">'
        '<!ENTITY small "harmless">]>'
    )
    docx = files.hand_docx("<w:p><w:r><w:t>&xxe; &small;</w:t></w:r></w:p>", prolog)
    out = extract("xxe.docx", files.DOCX_TYPE, docx)
    assert "hunter2" not in out.text and "harmless" not in out.text
    assert out.errors == [
        "attachment 'xxe.docx': text not extracted: XML with a DTD refused "
        "(entity expansion attack?)"
    ]


def test_malformed_xml_is_reported() -> None:
    out = extract("bad.docx", files.DOCX_TYPE, files.hand_docx("<w:p><w:r><w:t>open"))
    [error] = out.errors
    assert error.startswith("attachment 'bad.docx': text not extracted: XML refused or malformed (")


def test_streamed_xml_keeps_memory_flat() -> None:
    """Each row read is dropped with everything before it: the sheet holds only the
    rows the parser has read ahead, never the whole of them."""
    rows = "".join(f"<row><c>{i}</c><c>x</c></row>" for i in range(20_000))
    stream = io.BytesIO(f"<sheet><data>{rows}</data></sheet>".encode())
    seen: list[str] = []
    held = 0
    for row in units(stream, {"row"}):
        assert len(row) == 2, "a row is whole when handed out"
        seen.append(row[0].text or "")
        held = max(held, len(row.getparent()))
    assert seen == [str(i) for i in range(20_000)]
    assert held < 5_000, held


def test_text_past_the_attachment_budget_is_cut_and_said() -> None:
    out = extract(
        "big.txt", "text/plain", b"word " * 1000, ExtractLimits(max_chars_per_attachment=100)
    )
    assert len(out.text) <= 100 and out.text.startswith("word word")
    assert out.errors == ["attachment 'big.txt': text cut to 100 characters"]


def test_the_message_budget_is_shared_and_what_is_left_over_is_named() -> None:
    parts = [
        ParsedAttachment(filename=f"{n}.txt", content_type="text/plain", data=f"{n} ".encode() * 80)
        for n in range(4)
    ]
    limits = ExtractLimits(max_chars_per_attachment=100, max_chars_per_message=150)
    out = attachment_text(parts, limits)
    first, second = out.text.split("\n\n")
    assert len(first) + len(second) <= 150 and second.startswith("1 1")
    assert out.errors == [
        "attachment '0.txt': text cut to 100 characters",
        "attachment '1.txt': text cut to 51 characters",
        "text of attachments '2.txt', '3.txt' not extracted: the message's 150 characters "
        "of attachment text are used up",
    ]


def test_an_attachment_over_the_size_limit_is_not_read() -> None:
    data = files.pdf("too big to read")
    out = extract("big.pdf", "application/pdf", data, ExtractLimits(max_attachment_bytes=100))
    assert out.text == ""
    assert out.errors == [
        f"attachment 'big.pdf': text not extracted: {len(data)} bytes, more than the 100 read"
    ]


def test_a_failure_inside_an_attached_message_is_named_and_the_rest_kept() -> None:
    inner = files.eml(
        "Inner",
        "inner body stays",
        [
            ("broken.pdf", "application/pdf", b"%PDF-1.4 then nothing"),
            ("ok.txt", "text/plain", b"ok"),
        ],
    )
    out = extract("fwd.eml", "message/rfc822", inner)
    assert "inner body stays" in out.text and out.text.endswith("ok")
    [error] = out.errors
    assert error.startswith("attachment 'fwd.eml': attached 'broken.pdf': text not extracted: ")


def test_the_sink_keeps_what_fits() -> None:
    sink = Sink(10)
    sink.add("12345")
    with pytest.raises(Full):
        sink.add("6789012")
    assert sink.text() == "1234567890"


def test_a_string_table_is_held_only_as_far_as_its_text_could_be_kept() -> None:
    data = files.xlsx({"S": [[f"word{i}"] for i in range(5_000)]})
    out = extract("s.xlsx", files.XLSX_TYPE, data, ExtractLimits(max_chars_per_attachment=100))
    assert out.text.split()[:3] == ["word0", "word1", "word2"]
    assert out.errors == [
        "attachment 's.xlsx': text cut to 100 characters",
        "attachment 's.xlsx': shared strings past the first 16 not read",
    ]
