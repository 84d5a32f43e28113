"""Every real-world message of the shared corpus goes through the whole pipeline:
stored, listed, searchable, none lost to the dead-letter topic."""

from __future__ import annotations

from inboxhub.domain.events import EML_UPLOADED, INDEX_REQUESTED, dlq_topic
from inboxhub.domain.search_query import MatchAll
from inboxhub.ports import ListCursor
from inboxhub.providers.local import iter_file
from inboxhub.runtime import Container
from tests.integration.conftest import TENANT, settle
from tests.support.corpus import message_paths


async def test_whole_corpus_is_stored_listed_and_indexed(container: Container) -> None:
    fetched = [m for path in message_paths() for m in iter_file(path)]
    expected = {m.provider_message_id for m in fetched}
    assert len(expected) > 1100
    await container.ingest().run(TENANT, "corpus", fetched)
    await settle(container)

    for topic in (EML_UPLOADED, INDEX_REQUESTED):
        assert await container.bus.read(dlq_topic(topic)) == [], f"dead letters on {topic}"
    listed, after = [], None
    while page := await container.emails.list(TENANT, ["corpus"], 200, after):
        listed += page
        after = ListCursor(page[-1].sort_date, page[-1].id)
    assert len(listed) == len(expected) == len({s.id for s in listed})
    hits = await container.search.search(TENANT, MatchAll(), ["corpus"], 1)
    assert hits.total == len(expected)
    marked = [
        d for d in await container.emails.get_many(TENANT, [s.id for s in listed]) if d.parse_errors
    ]
    assert all(isinstance(e, str) and e for d in marked for e in d.parse_errors)
    # every message is in a conversation, and its conversation holds it
    assert all(s.thread_id for s in listed)
    members = await container.emails.thread_emails(TENANT, sorted({s.thread_id for s in listed}))
    assert sorted(m.id for m in members) == sorted(s.id for s in listed)
