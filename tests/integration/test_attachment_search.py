"""Words found only inside attachments are searchable once a message has gone through
the pipeline (processor → indexer), on SQLite FTS5 and on Elasticsearch; hostile
attachments cost a parse error, never the message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.domain.ids import email_id
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import MatchAll
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, open_container, start_consumers
from inboxhub.settings import Settings
from tests.contract.adapters import Ctx, search_elastic_url
from tests.integration.conftest import TENANT, settle
from tests.support import attachments as files
from tests.support.messages import make_message, write_maildir


def attachments() -> dict[str, tuple[str, str, bytes]]:
    """Files by a word that appears in that file only: never in a subject, a body or a
    file name."""
    return {
        "xylophonist": ("minutes.docx", files.DOCX_TYPE, files.docx(["The xylophonist agreed"])),
        "quokkaville": ("scan.dat", "application/octet-stream", files.pdf("Trip to Quokkaville")),
        "rutabagas": ("stock.xlsx", files.XLSX_TYPE, files.xlsx({"S": [["rutabagas", 12]]})),
        "kumquatiness": ("deck.pptx", files.PPTX_TYPE, files.pptx([("Kumquatiness", "b", "")])),
        "omelettery": ("notes.odt", files.ODT_TYPE, files.odt(["The omelettery opens"])),
        "gazpachos": ("page.html", "text/html", b"<html><body><p>Two gazpachos</p></body></html>"),
        "besancon": (  # found without its cedilla
            "clients.csv",
            "text/csv",
            "Nom;Ville\nJosé;Besançon\nFrançoise;Orléans\nHélène;Nîmes\n".encode("latin-1"),
        ),
    }


@pytest.fixture(params=["fts5", "elastic"])
async def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Container]:
    """The embedded pipeline (a real parse process), with its search index in SQLite
    FTS5 or in Elasticsearch (noida), and a short time budget per attachment."""
    search = {}
    if request.param == "elastic":
        search["search_url"] = search_elastic_url(Ctx(tmp_path, request))
    settings = Settings(
        data_dir=tmp_path / "data",
        processor_workers=1,
        consumer_backoff_seconds=0.01,
        consumer_max_attempts=2,
        attachment_text_seconds=1.0,
        **search,  # type: ignore[arg-type]
    )
    c = await open_container(settings)
    stop = asyncio.Event()
    tasks = start_consumers(c, ("processor", "indexer"), stop)
    yield c
    stop.set()
    await asyncio.gather(*tasks)
    await c.close()


async def found(c: Container, query: str) -> list[str]:
    page = await c.search.search(TENANT, parse_query(query), ["box"], 50)
    return sorted(hit.id for hit in page.hits)


async def test_words_inside_attachments_find_their_message(
    pipeline: Container, tmp_path: Path
) -> None:
    by_word = attachments()
    messages = [
        make_message(f"Message {n}", text=f"Plain body number {n}.", attachments=[attached])
        for n, attached in enumerate(by_word.values())
    ]
    inner = files.eml(
        "Inner", "inner body marzipanery", [("list.txt", "text/plain", b"three pumpernickels")]
    )
    forwarded = files.eml("Message 8", "Plain body number 8.", messages=[inner])
    hostile = make_message(
        "Hostile attachments",
        text="The body of the hostile one is searchable: tamarillo.",
        attachments=[
            ("bomb.docx", files.DOCX_TYPE, files.zip_bomb_docx(30 * 1024 * 1024)),
            ("laughs.docx", files.DOCX_TYPE, files.hand_docx("<w:p/>", files.BILLION_LAUGHS)),
            ("slow.pdf", "application/pdf", files.slow_pdf(200_000)),
            ("locked.pdf", "application/pdf", files.encrypted_pdf("cassowary words", "pw")),
        ],
    )
    maildir = write_maildir(tmp_path / "md", [*messages, forwarded, hostile])
    await pipeline.ingest().run(TENANT, "box", iter_local(maildir))
    await settle(pipeline)
    assert (await pipeline.search.search(TENANT, MatchAll(), ["box"], 50)).total == 9

    subjects = {}
    for summary in await pipeline.emails.list(TENANT, ["box"], 50):
        subjects[summary.subject] = summary.id
    for n, word in enumerate(by_word):
        assert await found(pipeline, word) == [subjects[f"Message {n}"]], word
    forwarded_id = [subjects["Message 8"]]
    assert await found(pipeline, "marzipanery") == forwarded_id, "an attached message's body"
    assert await found(pipeline, "pumpernickels") == forwarded_id, "and its attachment"
    assert await found(pipeline, "tamarillo") == [subjects["Hostile attachments"]]
    assert await found(pipeline, "cassowary") == [], "an encrypted PDF gives no text"

    doc = await pipeline.emails.get(TENANT, subjects["Hostile attachments"])
    assert doc is not None and doc.attachment_text == ""
    assert [e.split(":")[0] for e in doc.parse_errors] == [
        "attachment 'bomb.docx'",
        "attachment 'laughs.docx'",
        "attachment 'slow.pdf'",
        "attachment 'locked.pdf'",
    ]
    assert "timed out after 1 s" in doc.parse_errors[2]
    assert doc.id == email_id(TENANT, "box", doc.provider_message_id)


async def test_a_match_in_an_attachment_is_highlighted_in_the_body(
    pipeline: Container, tmp_path: Path
) -> None:
    long_body = "An ordinary introduction sentence. " * 40
    raw = make_message(
        "Report attached",
        text=long_body,
        attachments=[("r.pdf", "application/pdf", files.pdf("Results of the quokka census"))],
    )
    await pipeline.ingest().run(TENANT, "box", iter_local(write_maildir(tmp_path / "md", [raw])))
    await settle(pipeline)
    page = await pipeline.search.search(TENANT, parse_query("census"), ["box"], 10)
    [hit] = page.hits
    [fragment] = hit.highlights["body"]
    assert "Results of the quokka <mark>census</mark>" in fragment, "the attachment's passage"
