"""The services wired on the embedded adapters, in one process: ingest → searchable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from inboxhub.domain.events import EML_UPLOADED, EmlUploaded, dlq_topic
from inboxhub.domain.ids import email_id
from inboxhub.domain.search_query import MatchAll, Term
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container
from tests.integration.conftest import TENANT, settle
from tests.support.messages import dated, make_message, write_maildir


async def test_ingested_messages_become_documents_and_search_hits(
    container: Container, tmp_path: Path
) -> None:
    messages = [make_message(f"Budget {i}", date=dated(i), text=f"numbers {i}") for i in range(30)]
    maildir = write_maildir(tmp_path / "md", messages)
    result = await container.ingest().run(TENANT, "box", iter_local(maildir))
    await settle(container)
    assert (result.published, result.skipped) == (30, 0)
    assert await container.emails.count(TENANT, ["box"]) == 30
    page = await container.search.search(TENANT, Term("budget"), ["box"], 100)
    assert page.total == 30
    newest = (await container.emails.list(TENANT, ["box"], 1))[0]
    assert newest.subject == "Budget 29"

    again = await container.ingest().run(TENANT, "box", iter_local(maildir))
    assert (again.published, again.skipped) == (0, 30)


async def test_a_message_whose_blob_is_gone_goes_to_the_dlq_and_the_rest_flows(
    container: Container, tmp_path: Path
) -> None:
    poison = EmlUploaded(
        mailbox_id="box",
        provider_message_id="lost",
        blob_key=f"t/{TENANT}/eml/" + "0" * 64,
        sha256="0" * 64,
        size=10,
        received_at=datetime.now(UTC),
    ).envelope(TENANT, f"{TENANT}:box")
    await container.bus.publish(EML_UPLOADED, [poison])
    maildir = write_maildir(tmp_path / "md", [make_message("after the poison")])
    await container.ingest().run(TENANT, "box", iter_local(maildir))
    await settle(container)
    dead = await container.bus.read(dlq_topic(EML_UPLOADED))
    assert [r.envelope.id for r in dead] == [poison.id]
    assert "NotFound" in dead[0].headers["error"]
    assert await container.emails.get(TENANT, email_id(TENANT, "box", "lost")) is None
    hits = await container.search.search(TENANT, MatchAll(), ["box"], 10)
    assert hits.total == 1
