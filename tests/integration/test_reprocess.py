"""``inboxhub reprocess`` rebuilds emails stored before an upgrade (here: documents
without a conversation, as every email stored before threads existed) from their raw
messages, through the pipeline, keeping what users changed since (flags, labels)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress

from inboxhub.domain.models import Flags
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container
from inboxhub.services.processor.reprocess import republish
from tests.integration.conftest import TENANT, settle
from tests.support.messages import dated, make_message, write_maildir


async def test_reprocess_rebuilds_old_documents_and_keeps_user_changes(
    container: Container, tmp_path: Path
) -> None:
    c = container
    parent = make_message("Budget", date=dated(1), message_id="<p@x.test>")
    reply = make_message(
        "Re: Budget", date=dated(2), message_id="<r@x.test>", in_reply_to="<p@x.test>"
    )
    box = await c.directory.get_or_create_mailbox(TENANT, "Inbox", "local")
    await c.ingest().run(
        TENANT, box.id, iter_local(write_maildir(tmp_path / "md", [parent, reply]))
    )
    await settle(c)
    docs = await c.emails.get_many(
        TENANT, [s.id for s in await c.emails.list(TENANT, [box.id], 10)]
    )
    assert len(docs) == 2 and docs[0].thread_id and docs[0].thread_id == docs[1].thread_id
    thread = docs[0].thread_id

    # As stored before conversations existed, and then flagged and labelled by a user.
    old = [d.model_copy(update={"thread_id": ""}) for d in docs]
    await c.emails.upsert_many(old)
    changed = old[0].model_copy(update={"flags": Flags(seen=True, flagged=True)})
    assert await c.emails.set_flags(TENANT, changed.id, changed.flags, ["Inbox", "Clients"])
    assert {d.thread_id for d in await c.emails.get_many(TENANT, [d.id for d in old])} == {""}

    with Progress(disable=True) as progress:
        assert await republish(c, TENANT, progress) == 2
    await settle(c)

    rebuilt = {d.id: d for d in await c.emails.get_many(TENANT, [d.id for d in old])}
    assert {d.thread_id for d in rebuilt.values()} == {thread}
    assert rebuilt[changed.id].flags == Flags(seen=True, flagged=True)
    assert rebuilt[changed.id].labels == ["Inbox", "Clients"]
    assert await c.emails.count(TENANT, [box.id]) == 2  # rebuilt in place, not added
