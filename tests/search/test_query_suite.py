"""Issue 5, "Proven": the same queries, with Gmail's meaning, find exactly the same
emails on FTS5 and on Elasticsearch (``corpus.py``, ``queries.py``)."""

from __future__ import annotations

import pytest

from inboxhub.domain.models import SearchPage
from inboxhub.ports import SearchIndex
from tests.search.conftest import compile_for_test
from tests.search.corpus import BY_ID, MAILBOXES, TENANT
from tests.search.queries import CASES

# the corpus is indexed once per module (conftest.py), in the module's event loop
in_module_loop = pytest.mark.asyncio(loop_scope="module")
LIMIT = 200  # more than the corpus holds: one page is every hit


async def search(
    index: SearchIndex, q: str, order: str, limit: int = LIMIT, cursor: str | None = None
) -> SearchPage:
    return await index.search(
        TENANT, compile_for_test(q), list(MAILBOXES), limit, cursor=cursor, order=order
    )


def test_the_suite_is_as_big_as_promised() -> None:
    assert len(CASES) >= 150
    assert len({q for q, _ in CASES}) == len(CASES), "each query once"
    assert 80 <= len(BY_ID) <= 120


@in_module_loop
@pytest.mark.parametrize(("q", "expected"), CASES, ids=[q for q, _ in CASES])
async def test_query_finds_exactly_the_expected_emails(
    corpus_index: SearchIndex, q: str, expected: frozenset[str]
) -> None:
    by_relevance = await search(corpus_index, q, "relevance")
    found = [h.id for h in by_relevance.hits]
    assert set(found) == expected, f"missing {expected - set(found)}, extra {set(found) - expected}"
    assert len(found) == len(set(found)) == by_relevance.total
    by_date = await search(corpus_index, q, "date")
    dated = [h.id for h in by_date.hits]
    assert set(dated) == expected and by_date.total == len(expected)
    newest_first = sorted(dated, key=lambda i: (BY_ID[i].sort_date, i), reverse=True)
    assert dated == newest_first


PAGED = ["is:read", "to:me", "has:attachment", "budget", "-has:attachment", "in:personal"]


@in_module_loop
@pytest.mark.parametrize("order", ["relevance", "date"])
@pytest.mark.parametrize("q", PAGED)
async def test_cursor_pages_give_the_same_set_as_one_page(
    corpus_index: SearchIndex, q: str, order: str
) -> None:
    whole = await search(corpus_index, q, order)
    paged: list[str] = []
    cursor = None
    for _ in range(len(BY_ID)):
        page = await search(corpus_index, q, order, limit=7, cursor=cursor)
        assert page.total == whole.total
        assert len(page.hits) <= 7
        paged += [h.id for h in page.hits]
        if (cursor := page.next_cursor) is None:
            break
    assert cursor is None, "the pages end"
    assert len(paged) == len(set(paged)), "no email twice"
    assert set(paged) == {h.id for h in whole.hits}
    if order == "date":
        assert paged == [h.id for h in whole.hits]
