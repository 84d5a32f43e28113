"""Totals are exact up to a cap (10,000 by default, as issue 5 asks; Elasticsearch's
``track_total_hits``), then say so, and the pages still reach every hit."""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxhub.adapters.search_fts import FtsSearchIndex
from inboxhub.domain.query_parser import parse_query
from inboxhub.ports import SearchIndex
from tests.contract.adapters import Ctx, search_elastic
from tests.support.documents import search_doc

CAP = 5


def capped(kind: str, ctx: Ctx) -> SearchIndex:
    if kind == "sqlite":
        return FtsSearchIndex(ctx.tmp / "search.db", total_cap=CAP)
    return search_elastic(ctx, track_total_hits=CAP)  # type: ignore[no-any-return]


@pytest.mark.parametrize("order", ["relevance", "date"])
@pytest.mark.parametrize("kind", ["sqlite", "elastic"])
async def test_a_total_past_the_cap_says_it_is_a_lower_bound(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, order: str
) -> None:
    index = capped(kind, Ctx(tmp_path, request))
    try:
        await index.index_many([search_doc(n, subject=f"invoice {n}") for n in range(12)])
        await index.index_many([search_doc(20 + n, subject=f"receipt {n}") for n in range(3)])
        few = await index.search("t1", parse_query("receipt"), ["inbox"], 10, order=order)
        assert (few.total, few.total_exact) == (3, True)
        seen: list[str] = []
        cursor = None
        while True:
            page = await index.search("t1", parse_query("invoice"), ["inbox"], 4, cursor, order)
            assert (page.total, page.total_exact) == (CAP, False)
            seen += [h.id for h in page.hits]
            if (cursor := page.next_cursor) is None:
                break
        assert sorted(seen) == [f"e{n:05d}" for n in range(12)]
    finally:
        await index.close()
