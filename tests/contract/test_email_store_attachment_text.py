"""Attachment text in the EmailStore, on every adapter: kept whole when it fits, and
shortened (and said so) where the store has a document size limit (MongoDB, 16 MiB)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.domain.encoded import encode
from inboxhub.ports import EmailStore
from tests.contract.adapters import EMAIL_STORES, Ctx
from tests.support.documents import email_doc


@pytest.fixture(params=sorted(EMAIL_STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmailStore]:
    s = EMAIL_STORES[request.param](Ctx(tmp_path, request))
    yield s
    await s.close()


async def test_attachment_text_round_trips(store: EmailStore) -> None:
    doc = email_doc(1).model_copy(update={"attachment_text": "Quarterly zephyrine revenue"})
    await store.upsert_encoded([encode(doc)])
    got = await store.get("t1", doc.id)
    assert got is not None and got.attachment_text == "Quarterly zephyrine revenue"
    [summary] = await store.summaries("t1", [doc.id])
    assert "attachment_text" not in summary.model_dump()


async def test_a_document_too_big_with_its_attachment_text_is_still_stored(
    store: EmailStore,
) -> None:
    doc = email_doc(2, text="a line of body text\n" * 400_000)  # 8 MB
    doc = doc.model_copy(update={"attachment_text": "attachment words " * 600_000})  # 10 MB
    await store.upsert_encoded([encode(doc)])
    got = await store.get("t1", doc.id)
    assert got is not None
    assert doc.text.startswith(got.text) and doc.attachment_text.startswith(got.attachment_text)
    if (got.text, got.attachment_text) != (doc.text, doc.attachment_text):
        assert got.parse_errors and "shortened" in got.parse_errors[-1]
        assert len(got.text) + len(got.attachment_text) > 15_000_000
