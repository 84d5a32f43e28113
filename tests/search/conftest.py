"""The corpus indexed once per module on each SearchIndex adapter (FTS5, Elasticsearch),
and on FTS5 walking by date for every newest-first page (``walk_from=0``: the plan
it takes for big result sets, which this small corpus never reaches otherwise)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from inboxhub.adapters.search_fts import FtsSearchIndex
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import Node, resolve_mailboxes
from inboxhub.ports import SearchIndex
from tests.contract.adapters import SEARCH_INDEXES, Ctx
from tests.search.corpus import EMAILS, MAILBOX_IDS_BY_NAME, NOW, UNSEEN


def _walking(ctx: Ctx) -> Any:
    return FtsSearchIndex(ctx.tmp / "search.db", walk_from=0)


BACKENDS = {**SEARCH_INDEXES, "sqlite-walk": _walking}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=sorted(BACKENDS))
async def corpus_index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SearchIndex]:
    index = BACKENDS[request.param](Ctx(tmp_path_factory.mktemp("search"), request))
    try:
        await index.index_many([*EMAILS, *UNSEEN])
        yield index
    finally:
        await index.close()


def compile_for_test(q: str) -> Node:
    """What the API does with the search box: parse (at the corpus' ``NOW``), then
    resolve ``in:`` names."""
    return resolve_mailboxes(parse_query(q, now=NOW), MAILBOX_IDS_BY_NAME)
