"""A poison event: an ``email.eml.uploaded`` whose raw message is not in the blob
store (an upload that never completed, a blob deleted behind inboxhub's back). No
code path of the product is bent for it: the event is published on the real broker
exactly as the fetcher would have, and the processor genuinely cannot handle it.

It goes to ``email.eml.uploaded.dlq`` after the configured attempts (3 here,
``INBOXHUB_CONSUMER_MAX_ATTEMPTS``), the messages of the same mailbox published after
it are processed, and once the blob is put back, ``inboxhub dlq replay`` brings it
through the pipeline: stored and indexed once, like the others.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxhub.adapters.blobs_s3 import S3BlobStore
from inboxhub.adapters.bus_kafka import KafkaEventBus
from inboxhub.domain.events import EML_UPLOADED, EmlUploaded, dlq_topic, message_key
from inboxhub.domain.ids import email_id, eml_blob_key, sha256_hex
from inboxhub.ports import Record
from tests.faults.conftest import SETTINGS
from tests.faults.support import Truth, finished, maildir_of, start_import
from tests.support.distributed import Deployment
from tests.support.messages import make_message
from tests.support.processes import cli, wait_for

# `make test-faults` only: each case starts a whole distributed deployment (minutes).
pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(3600)]

POISON_ID = "poison-0@faults.example"


def settings(d: Deployment) -> dict[str, str]:
    return {k: v for k, v in d.env.items() if k.startswith("INBOXHUB_")}


def imported(d: Deployment, maildir: Path, mailbox: str) -> None:
    finished(start_import(d, maildir, mailbox), timeout=900)


async def publish_poison(d: Deployment, tenant_id: str, mailbox_id: str, raw: bytes) -> str:
    """The event the fetcher publishes after storing ``raw``, without storing it."""
    digest = sha256_hex(raw)
    key = eml_blob_key(tenant_id, digest)
    provider_id = "poison-0"
    event = EmlUploaded(
        mailbox_id=mailbox_id,
        provider_message_id=provider_id,
        blob_key=key,
        sha256=digest,
        size=len(raw),
        received_at=datetime.now(UTC),
    ).envelope(
        tenant_id, message_key(tenant_id, mailbox_id, email_id(tenant_id, mailbox_id, provider_id))
    )
    bus = KafkaEventBus.from_url(d.env["INBOXHUB_BUS_URL"])
    try:
        await bus.publish(EML_UPLOADED, [event])
    finally:
        await bus.close()
    return key


async def dead_letters(d: Deployment) -> list[Record]:
    bus = KafkaEventBus.from_url(d.env["INBOXHUB_BUS_URL"])
    try:
        return await bus.read(dlq_topic(EML_UPLOADED), 100)
    finally:
        await bus.close()


async def put_back(d: Deployment, key: str, raw: bytes) -> None:
    blobs = S3BlobStore.from_url(d.env["INBOXHUB_BLOB_URL"])
    try:
        await blobs.put_many([(key, raw)])
    finally:
        await blobs.close()


def test_a_poison_event_is_dead_lettered_without_blocking_its_mailbox_and_replays(
    faults_deployment: Deployment, truth: Truth, tmp_path: Path
) -> None:
    d = faults_deployment
    before, first_ids = maildir_of(tmp_path, "poison-before", 5)
    imported(d, before, "Poisoned")
    box = truth.mailbox_id(sorted(first_ids)[0])
    assert box is not None
    tenant_id = truth.mongo[truth.database]["emails"].find_one({"mailbox_id": box})["tenant_id"]

    raw = make_message("The poison", message_id=f"<{POISON_ID}>")
    key = asyncio.run(publish_poison(d, tenant_id, box, raw))
    after, later_ids = maildir_of(tmp_path, "poison-after", 40)
    imported(d, after, "Poisoned")  # returns once the processor consumed the poison too

    truth.assert_exactly_once(box, first_ids | later_ids)
    letters = asyncio.run(dead_letters(d))
    assert len(letters) == 1, [r.headers for r in letters]
    [letter] = letters
    assert letter.envelope.data["blob_key"] == key
    assert letter.headers["attempts"] == SETTINGS["INBOXHUB_CONSUMER_MAX_ATTEMPTS"]
    assert "NotFound" in letter.headers["error"], letter.headers
    listed = cli(d.root, "dlq", "list", EML_UPLOADED, **settings(d))
    assert listed.returncode == 0 and letter.envelope.id in listed.stderr, listed.stderr

    # The fix: the raw message is put where the event says; then the replay.
    asyncio.run(put_back(d, key, raw))
    replayed = cli(d.root, "dlq", "replay", EML_UPLOADED, **settings(d))
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 events" in replayed.stderr

    everything = first_ids | later_ids | {POISON_ID}
    wait_for(
        lambda: (
            truth.stored_count(box) == len(everything)
            and truth.indexed_count(box) == len(everything)
        ),
        timeout=300,
        what="the replayed message stored and indexed",
    )
    truth.assert_exactly_once(box, everything)
    again = cli(d.root, "dlq", "replay", EML_UPLOADED, **settings(d))
    assert "replayed 0 events" in again.stderr, "each dead letter is replayed once"
