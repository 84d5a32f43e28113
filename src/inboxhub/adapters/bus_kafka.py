"""The production event bus: Kafka (or any Kafka-protocol broker) through aiokafka.

Same semantics as the embedded bus (``bus_sqlite``), which is the contract:

* A topic ``T`` on the wire is ``<topic_prefix>T``; the prefix is stripped again from
  ``Record.topic``. Consumer groups carry the prefix too, so several deployments (or
  tests) can share one cluster without one's members joining the other's groups.
* Topics are created on first use with the configured partitions, replication factor
  and retention, each together with its dead-letter topic ``T.dlq``; a topic that
  exists already is used as it is. (Do not rely on the broker's auto-creation: it
  would give the topic the broker's default partition count.)
* ``publish`` is idempotent (``enable_idempotence``, ``acks=all``) and batched: the
  envelopes are packed into one record batch per partition, every batch is handed to
  the producer, then all delivery reports are awaited at once, so it is durable when
  it returns. The record key is ``envelope.key``, placed by Kafka's default (murmur2)
  partitioner, so one key stays in one partition, in order, and other Kafka clients
  agree on the placement. Headers: ``tenant_id`` (the envelope's; a caller's header of
  that name is ignored) plus the caller's.
* A subscription is one consumer-group member (``enable_auto_commit=False``, from the
  earliest offset when the group has none), joining on its first ``fetch``.
  ``commit`` commits per partition the highest offset given + 1, only for partitions
  this member still owns, and never backwards. On a rebalance the revocation
  callback waits for commits already in flight (they belong to the old generation,
  which the broker still accepts until this member rejoins), then drops its state
  for the revoked partitions; records fetched but not committed are delivered again,
  from the committed offset, to whoever owns the partition next (at-least-once). A
  partition the member keeps goes on after the last record it returned.
* A member whose consumer broke for good (aiokafka's coordination or fetch task died
  of an error it does not handle, such as a SyncGroup answer without an assignment
  after a broker restart) is replaced by a new one under the same static id: its
  records fetched and not committed are delivered again, as after a rebalance.
* ``read`` and ``reader`` use group-less consumers (no group joined, nothing
  committed): a reader is assigned its partitions and seeks to the offsets given; an
  offset below the log start (retention, DeleteRecords) is ``RecordsExpired``, never
  silently moved (``auto_offset_reset="none"``).
* A record that is not an envelope (another producer's) is not handed to the
  consumer: it is copied as it is to ``T.dlq`` with the reason in its headers.

Liveness has two sides in Kafka, where the embedded bus has one: a member whose
process dies stops heartbeating and is dropped after ``session_timeout`` (brokers
refuse values below ``group.min.session.timeout.ms``, 6 s by default: a refused value
is raised to the closest legal one, with a warning); a member that is alive but stops
fetching keeps heartbeating from a background task, and leaves the group after
``max_poll_interval`` without a fetch. Keep that well above the time a batch can take
to handle (retries and back-off included), or a slow batch is handed to another member
and handled twice.

With an ``instance_id`` (``INBOXHUB_INSTANCE_ID``) members are static (KIP-345): a
member that stops, or dies, and comes back under the same id within the session
timeout gets its partitions back without a rebalance of the others. A static member
does not leave the group when it stops; its partitions wait for it until the session
timeout runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CommitFailedError,
    IllegalStateError,
    InvalidProducerEpoch,
    InvalidSessionTimeoutError,
    KafkaError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceNumber,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    for_code,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from pydantic import ValidationError

from inboxhub.adapters.url_options import Reader, query_options
from inboxhub.domain.events import Envelope, dlq_topic
from inboxhub.ports import Record, RecordsExpired

log = structlog.get_logger(__name__)

DLQ_SUFFIX = dlq_topic("")
# Kafka's default group.min.session.timeout.ms / group.max.session.timeout.ms.
BROKER_MIN_SESSION_TIMEOUT = 6.0
BROKER_MAX_SESSION_TIMEOUT = 1800.0
# Batches up to this size per partition (the broker's default message.max.bytes is 1 MB).
MAX_BATCH_BYTES = 512 * 1024
TOPIC_METADATA_WAIT = 30.0  # seconds for a new topic to appear in the metadata

# aiokafka answers every batch within its request timeout (40 s; a batch in flight then
# expires too) while its sender runs: no answer after this long means it has stopped.
DELIVERY_WAIT = 120.0


class ProducerStuck(KafkaError):
    """No delivery report within ``DELIVERY_WAIT``: the producer's sender has stopped
    (after one of ``PRODUCER_STATE_LOST`` met by another publish, say)."""

    retriable = True  # with a new producer (``publish``), or once the broker is back


# The broker no longer accepts this producer's sequence numbers: after a batch that
# timed out in a broker outage left a gap, or once the broker forgot the producer id.
# aiokafka's idempotent producer stops for good on these; a new one (a new producer
# id, sequences from 0) takes over (see ``publish``).
PRODUCER_STATE_LOST = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerStuck,
)

# Session timeouts to try when the broker refuses a shorter one (see ``_join``).
SESSION_TIMEOUT_LADDER = (BROKER_MIN_SESSION_TIMEOUT, 10.0, 30.0, 45.0)


def _consumer_broken(exc: BaseException) -> bool:
    """aiokafka wraps an error that kills a consumer's background task (group
    coordination, fetching) in a bare ``KafkaError("Unexpected error during …")`` and
    raises it from then on: that consumer never works again."""
    message = exc.args[0] if exc.args else ""
    return type(exc) is KafkaError and str(message).startswith("Unexpected error during")


def _retention(text: str) -> int | None:
    """ "" or "none": the broker's default."""
    return None if text.lower() in ("", "none") else int(text)


_URL_OPTIONS: dict[str, Reader] = {
    "session_timeout": float,
    "heartbeat_interval": float,
    "max_poll_interval": float,
    "partitions": int,
    "replication_factor": int,
    "retention_ms": _retention,
    "topic_prefix": str,
    "client_id": str,
    "instance_id": str,
}


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class KafkaEventBus:
    """An ``EventBus`` on Kafka. Build it with :meth:`from_url`."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "",
        client_id: str = "inboxhub",
        partitions: int = 4,
        replication_factor: int = 1,
        retention_ms: int | None = None,
        session_timeout: float = 10.0,
        heartbeat_interval: float = 1.0,
        max_poll_interval: float = 300.0,
        instance_id: str = "",
    ) -> None:
        if partitions < 1 or replication_factor < 1:
            raise ValueError("partitions and replication_factor must be at least 1")
        if session_timeout <= 0 or heartbeat_interval <= 0 or max_poll_interval <= 0:
            raise ValueError("session_timeout, heartbeat_interval, max_poll_interval must be > 0")
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.client_id = client_id
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.retention_ms = retention_ms
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self.max_poll_interval = max_poll_interval
        self.instance_id = instance_id
        self._members_of: dict[str, int] = {}  # group → members joined from this bus
        # The session timeout the broker accepted (None until a member has joined).
        self._session_timeout_used: float | None = None
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None  # group-less, for end offsets
        self._start_lock = asyncio.Lock()
        self._topics_lock = asyncio.Lock()
        self._topics: dict[str, list[int]] = {}  # wire name → partition ids
        self._subscriptions: set[KafkaSubscription] = set()
        self._partitioner = DefaultPartitioner()

    # ------------------------------------------------------------ construction

    @classmethod
    def from_url(cls, url: str, **options: Any) -> KafkaEventBus:
        """``kafka://host1:9092,host2:9092?topic_prefix=x.&client_id=...``.

        Keyword options: ``partitions``, ``replication_factor``, ``retention_ms``,
        ``session_timeout``, ``heartbeat_interval``, ``max_poll_interval`` (seconds),
        ``topic_prefix``, ``client_id``; each may also be given as a query parameter,
        which then wins over the keyword (the URL is the more specific setting).
        """
        parts = urlsplit(url)
        if parts.scheme != "kafka":
            raise ValueError(f"not a kafka:// URL: {url!r}")
        bootstrap = parts.netloc
        if not bootstrap:
            raise ValueError(f"no broker in {url!r}")
        if "@" in bootstrap:
            raise ValueError("credentials in a kafka:// URL are not supported (no SASL yet)")
        options.update(query_options(parts.query, _URL_OPTIONS, "kafka URL"))
        return cls(bootstrap, **options)

    @property
    def url(self) -> str:
        """A URL that :meth:`from_url` rebuilds this bus from (e.g. in another process)."""
        query: dict[str, Any] = {
            "topic_prefix": self.topic_prefix,
            "client_id": self.client_id,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "session_timeout": self.session_timeout,
            "heartbeat_interval": self.heartbeat_interval,
            "max_poll_interval": self.max_poll_interval,
        }
        if self.retention_ms is not None:
            query["retention_ms"] = self.retention_ms
        if self.instance_id:
            query["instance_id"] = self.instance_id
        return f"kafka://{self.bootstrap_servers}?{urlencode(query, quote_via=quote)}"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._producer is not None:
            return
        async with self._start_lock:
            if self._producer is not None:
                return
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, client_id=self.client_id
            )
            producer = self._new_producer()
            offsets = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
            )
            try:
                await admin.start()
                await producer.start()
                await offsets.start()
            except BaseException:
                await _stop(offsets)
                await _stop(producer)
                await admin.close()
                raise
            self._admin, self._producer, self._offsets = admin, producer, offsets

    async def close(self) -> None:
        for sub in list(self._subscriptions):
            await sub.close()
        producer, admin, offsets = self._producer, self._admin, self._offsets
        self._producer = self._admin = self._offsets = None
        self._topics.clear()
        if producer is not None:
            await _stop(producer)  # flushes whatever is still queued
        if offsets is not None:
            await _stop(offsets)
        if admin is not None:
            await admin.close()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            max_batch_size=MAX_BATCH_BYTES,
        )

    async def _replace_producer(self, failed: AIOKafkaProducer, error: Exception) -> None:
        """Put a new producer in place of ``failed`` (once, however many publishes saw
        it fail); the old one is dropped, with whatever it still held."""
        async with self._start_lock:
            if self._producer is not failed:
                return  # another publish replaced it already
            producer = self._new_producer()
            try:
                await producer.start()
            except BaseException:
                await _stop(producer)
                raise
            self._producer = producer
        log.warning("kafka.producer_replaced", error=type(error).__name__)
        # Its sender has stopped: what it still holds can never be flushed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_stop(failed), 10)

    async def _started(self) -> tuple[AIOKafkaProducer, AIOKafkaAdminClient]:
        await self.start()
        assert self._producer is not None and self._admin is not None
        return self._producer, self._admin

    # ------------------------------------------------------------ topics

    def wire(self, topic: str) -> str:
        return self.topic_prefix + topic

    def unwire(self, name: str) -> str:
        return name[len(self.topic_prefix) :] if name.startswith(self.topic_prefix) else name

    async def ensure_topics(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """Create the topics (and their dead-letter topics) if needed; their partitions."""
        wanted = {self.wire(t) for t in topics}
        wanted |= {t + DLQ_SUFFIX for t in wanted if not t.endswith(DLQ_SUFFIX)}
        if missing := wanted - self._topics.keys():
            async with self._topics_lock:
                if missing := wanted - self._topics.keys():
                    await self._create(sorted(missing))
        return {t: self._topics[t] for t in wanted}

    async def _create(self, names: list[str]) -> None:
        _, admin = await self._started()
        configs = {} if self.retention_ms is None else {"retention.ms": str(self.retention_ms)}
        response = await admin.create_topics(
            [
                NewTopic(n, self.partitions, self.replication_factor, topic_configs=configs)
                for n in names
            ]
        )
        for name, code, *message in response.topic_errors:
            error = for_code(code)
            if error in (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
                # Topics provisioned by the operators: use them if they are there.
                log.warning("kafka.topic_not_created", topic=name, error=error.__name__)
            elif code and error is not TopicAlreadyExistsError:
                raise error(f"cannot create topic {name!r}: {message}")
        log.debug("kafka.topics_ready", topics=names)
        # A new topic reaches every broker's metadata a little after it is created.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TOPIC_METADATA_WAIT
        pending = set(names)
        while True:
            for meta in await admin.describe_topics(sorted(pending)):
                if meta["error_code"] == 0 and meta["partitions"]:
                    parts = sorted(p["partition"] for p in meta["partitions"])
                    self._topics[meta["topic"]] = parts
                    pending.discard(meta["topic"])
            if not pending:
                return
            if loop.time() >= deadline:
                raise KafkaError(f"topics {sorted(pending)} did not appear in the metadata")
            await asyncio.sleep(0.05)

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        wire = self.wire(topic)
        parts = (await self.ensure_topics([topic]))[wire]
        return [TopicPartition(wire, p) for p in parts]

    # ------------------------------------------------------------ EventBus

    async def publish(
        self, topic: str, envelopes: Sequence[Envelope], headers: dict[str, str] | None = None
    ) -> None:
        if not envelopes:
            return
        producer, _ = await self._started()
        try:
            await self._publish(producer, topic, envelopes, headers)
        except PRODUCER_STATE_LOST as exc:
            # Delivered again in full: batches that did land before the error are
            # duplicates, which consumers already handle (at-least-once).
            await self._replace_producer(producer, exc)
            producer, _ = await self._started()
            await self._publish(producer, topic, envelopes, headers)

    async def _publish(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        envelopes: Sequence[Envelope],
        headers: dict[str, str] | None,
    ) -> None:
        await self.ensure_topics([topic])
        wire = self.wire(topic)
        partitions = sorted(await producer.partitions_for(wire))
        extra = [(k, v.encode()) for k, v in (headers or {}).items() if k != "tenant_id"]
        # Fill one batch per partition, hand each to the producer as it fills, then
        # wait for every delivery report at once: a round trip per batch, not per event.
        # The partition is Kafka's default for the key (murmur2), as any client would
        # choose; batches of one partition are sent in order (idempotent producer).
        batches: dict[int, BatchBuilder] = {}
        futures: list[asyncio.Future[Any]] = []
        partition_of: dict[str, int] = {}  # a batch has few keys (tenant:mailbox)
        try:
            for e in envelopes:
                key = e.key.encode()
                partition = partition_of.get(e.key)
                if partition is None:
                    partition = self._partitioner(key, partitions, partitions)
                    partition_of[e.key] = partition
                value = e.model_dump_json().encode()
                hdrs = [("tenant_id", e.tenant_id.encode()), *extra]
                batch = batches.get(partition)
                if batch is None:
                    batch = batches[partition] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=hdrs) is None:
                    futures.append(await _send_batch(producer, batch, wire, partition))
                    batch = batches[partition] = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=hdrs)
            for partition, batch in batches.items():
                futures.append(await _send_batch(producer, batch, wire, partition))
        finally:  # even after an error, wait for what was sent (no orphaned futures)
            await _delivered(futures)

    def subscribe(self, group: str, topics: Sequence[str]) -> KafkaSubscription:
        sub = KafkaSubscription(self, group, list(topics))
        self._subscriptions.add(sub)
        return sub

    async def end_offsets(self, topic: str) -> dict[int, int]:
        await self.start()
        tps = await self._partitions(topic)
        assert self._offsets is not None
        ends = await self._offsets.end_offsets(tps)
        return {tp.partition: ends[tp] for tp in tps}

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        tps = await self._partitions(topic)
        _, admin = await self._started()
        found = await admin.list_consumer_group_offsets(self.wire(group), partitions=tps)
        return {tp.partition: max(0, found[tp].offset) if tp in found else 0 for tp in tps}

    async def read(self, topic: str, limit: int = 100) -> list[Record]:
        """The oldest ``limit`` records: each partition's oldest, merged by time."""
        if limit <= 0:
            return []
        tps = await self._partitions(topic)
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        per: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {tp: [] for tp in tps}
        try:
            await reader.start()
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await reader.end_offsets(tps)
            todo = {tp for tp in tps if await reader.position(tp) < ends[tp]}
            deadline = asyncio.get_running_loop().time() + TOPIC_METADATA_WAIT
            while todo and asyncio.get_running_loop().time() < deadline:
                batches = await reader.getmany(*todo, timeout_ms=1000, max_records=limit)
                for tp, msgs in batches.items():
                    per[tp].extend(msgs)
                for tp in list(todo):
                    if len(per[tp]) >= limit or await reader.position(tp) >= ends[tp]:
                        todo.discard(tp)
                        reader.pause(tp)
        finally:
            await _stop(reader)
        records: list[Record] = []
        # Oldest first across partitions (log time, then event time), each partition's
        # own order kept: a merge only ever compares the partitions' heads.
        streams = [
            [
                (m.timestamp, rec.envelope.time.timestamp(), rec)
                for m in msgs[:limit]
                if (rec := self._decode(m)) is not None
            ]
            for msgs in per.values()
        ]
        for _, _, rec in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            records.append(rec)
            if len(records) >= limit:
                break
        return records

    def reader(self, start: Mapping[tuple[str, int], int]) -> KafkaReader:
        return KafkaReader(self, dict(start))

    async def delete_before(self, topic: str, offsets: Mapping[int, int]) -> None:
        _, admin = await self._started()
        await self.ensure_topics([topic])
        wire = self.wire(topic)
        await admin.delete_records(
            {TopicPartition(wire, p): RecordsToDelete(o) for p, o in offsets.items()}
        )

    # ------------------------------------------------------------ records

    def _decode(self, msg: ConsumerRecord[bytes, bytes], topic: str | None = None) -> Record | None:
        try:
            envelope = Envelope.model_validate_json(msg.value or b"")
        except ValidationError as exc:
            log.error(
                "kafka.undecodable_record",
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                error=str(exc)[:500],
            )
            return None
        headers = {k: (v or b"").decode(errors="replace") for k, v in msg.headers or ()}
        return Record(topic or self.unwire(msg.topic), msg.partition, msg.offset, envelope, headers)

    async def _dead_letter_raw(self, msg: ConsumerRecord[bytes, bytes]) -> None:
        """A record that is not an envelope cannot be handed to anyone: park it in
        ``T.dlq`` as it is, with the reason, rather than drop it."""
        if msg.topic.endswith(DLQ_SUFFIX):
            return  # already dead: leave it where it is (``read`` skips it)
        producer, _ = await self._started()
        headers = [
            *(msg.headers or ()),
            ("error", b"undecodable: not an inboxhub envelope"),
            ("original_topic", self.unwire(msg.topic).encode()),
            ("original_partition", str(msg.partition).encode()),
            ("original_offset", str(msg.offset).encode()),
        ]
        await self.ensure_topics([self.unwire(msg.topic)])
        try:
            fut = await producer.send(
                msg.topic + DLQ_SUFFIX, msg.value, key=msg.key, headers=headers
            )
            await fut
        except PRODUCER_STATE_LOST as exc:
            await self._replace_producer(producer, exc)
            raise  # the record is fetched again and parked by the new producer

    # ------------------------------------------------------------ members

    def _static_id(self, group: str) -> str | None:
        """This member's ``group.instance.id``: the process's instance id, with a
        suffix for a second member of the same group in this process (two members
        sharing an id would fence each other)."""
        if not self.instance_id:
            return None
        n = self._members_of[group] = self._members_of.get(group, 0) + 1
        return self.instance_id if n == 1 else f"{self.instance_id}.{n}"

    def _consumer_for(
        self, group: str, session_timeout: float, static_id: str | None
    ) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            group_id=self.wire(group),
            group_instance_id=static_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=_ms(session_timeout),
            # Kafka wants heartbeats well inside the session (a third at most).
            heartbeat_interval_ms=_ms(min(self.heartbeat_interval, session_timeout / 3)),
            max_poll_interval_ms=_ms(self.max_poll_interval),
            # A JoinGroup may be held by the broker for the whole rebalance timeout
            # (the session timeout, in aiokafka): don't give up on it before that.
            request_timeout_ms=max(40_000, _ms(session_timeout) + 5_000),
        )

    def _session_timeouts(self) -> list[float]:
        """The session timeouts to offer the broker, best first: the one asked for,
        then the closest ones that brokers commonly accept."""
        if self._session_timeout_used is not None:
            return [self._session_timeout_used]
        wanted = self.session_timeout
        if wanted > BROKER_MAX_SESSION_TIMEOUT:
            return [wanted, BROKER_MAX_SESSION_TIMEOUT]
        return [wanted, *(t for t in SESSION_TIMEOUT_LADDER if t > wanted)]

    async def _join(
        self, group: str, topics: list[str], listener: _Rebalance, static_id: str | None
    ) -> AIOKafkaConsumer:
        await self.ensure_topics(topics)
        wire = [self.wire(t) for t in topics]
        candidates = self._session_timeouts()
        for i, session_timeout in enumerate(candidates):
            consumer = self._consumer_for(group, session_timeout, static_id)
            listener.consumer = consumer
            consumer.subscribe(wire, listener=listener)
            try:
                await consumer.start()  # returns once this member has its partitions
            except InvalidSessionTimeoutError:
                await _stop(consumer)
                if i + 1 == len(candidates):
                    raise
                log.warning(
                    "kafka.session_timeout_raised",
                    requested=self.session_timeout,
                    trying=candidates[i + 1],
                    reason="the broker refuses session timeouts this short",
                )
                continue
            except BaseException:
                await _stop(consumer)
                raise
            self._session_timeout_used = session_timeout
            return consumer
        raise AssertionError("unreachable")


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, sub: KafkaSubscription) -> None:
        self.sub = sub
        self.consumer: AIOKafkaConsumer | None = None  # set before it joins
        self.retired = False  # its consumer was replaced: the state is the new one's

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if not self.retired:
            await self.sub._revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        assert self.consumer is not None
        if not self.retired:
            self.sub._assigned(self.consumer, assigned)


class KafkaSubscription:
    """One consumer-group member; joins the group on its first ``fetch``."""

    def __init__(self, bus: KafkaEventBus, group: str, topics: list[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self._consumer: AIOKafkaConsumer | None = None
        self._join_lock = asyncio.Lock()
        # Per partition of the current assignment: the offset after the last record
        # ``fetch`` returned, and the last offset this member committed (never go back).
        self._positions: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._kept: dict[TopicPartition, int] = {}  # positions across a rebalance
        self._in_flight = 0
        self._no_commit_in_flight = asyncio.Event()
        self._no_commit_in_flight.set()
        self._listener: _Rebalance | None = None

    @cached_property
    def _static_id(self) -> str | None:
        """Taken on the first join; a replacement member joins under it again."""
        return self.bus._static_id(self.group)

    async def _member(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            async with self._join_lock:
                if self._consumer is None:
                    self.bus._subscriptions.add(self)
                    self._listener = _Rebalance(self)
                    self._consumer = await self.bus._join(
                        self.group, self.topics, self._listener, self._static_id
                    )
        return self._consumer

    async def _replace_if_broken(self, broken: AIOKafkaConsumer | None, error: KafkaError) -> None:
        """Drop a consumer that broke for good (None: it broke while joining, and is
        stopped already); the next ``fetch`` joins with a new one and the partitions
        go on from their commits. Any other error is raised again."""
        if not _consumer_broken(error):
            raise error
        if self._consumer is broken:  # not replaced already by a concurrent call
            self._consumer = None
            if self._listener is not None:
                self._listener.retired = True
            self._forget()
            log.warning(
                "kafka.consumer_replaced",
                group=self.group,
                error=str(error),
                note="records fetched and not committed are delivered again",
            )
        if broken is not None:
            await _stop(broken)

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        consumer = None
        try:
            consumer = await self._member()
            batches = await consumer.getmany(
                timeout_ms=max(0, round(timeout * 1000)), max_records=max(1, max_records)
            )
        except KafkaError as exc:
            await self._replace_if_broken(consumer, exc)
            return []
        records: list[Record] = []
        for tp, msgs in batches.items():
            if not msgs:
                continue
            self._positions[tp] = msgs[-1].offset + 1
            topic = self.bus.unwire(tp.topic)
            for msg in msgs:
                record = self.bus._decode(msg, topic)
                if record is None:
                    await self.bus._dead_letter_raw(msg)
                else:
                    records.append(record)
        return records

    async def commit(self, records: Sequence[Record]) -> None:
        consumer = self._consumer
        if consumer is None or not records:
            return
        tops: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(self.bus.wire(r.topic), r.partition)
            tops[tp] = max(tops.get(tp, 0), r.offset + 1)
        owned = consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in tops.items()
            if tp in owned and offset > self._committed.get(tp, -1)
        }
        if not offsets:
            return  # nothing new, or rebalanced away: the new owner redelivers
        self._in_flight += 1
        self._no_commit_in_flight.clear()
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning(
                "kafka.commit_after_rebalance",
                group=self.group,
                error=f"{type(exc).__name__}: {exc}",
                note="the partitions' new owner redelivers these records",
            )
            return
        except KafkaError as exc:
            await self._replace_if_broken(consumer, exc)  # and the records come again
            return
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._no_commit_in_flight.set()
        owned = consumer.assignment()
        for tp, offset in offsets.items():
            if tp in owned:
                self._committed[tp] = max(self._committed.get(tp, 0), offset)

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        """Before the group moves on: let commits in flight land (the broker accepts
        them until this member rejoins), then forget the revoked partitions. Whoever
        owns one next reads it from the committed offset, so what was fetched and not
        committed is delivered again."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._no_commit_in_flight.wait(), self.bus._session_timeout_used or 10.0
            )
        self._kept = {tp: pos for tp, pos in self._positions.items() if tp in revoked}
        self._positions.clear()
        self._committed.clear()
        log.debug("kafka.revoked", group=self.group, partitions=sorted(revoked))

    def _assigned(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """A partition this member keeps through the rebalance goes on after the last
        record it returned, as in the embedded bus, rather than back from the commit,
        which would hand the batches in flight to their handler a second time. Nothing
        is skipped by it: every record before that position was returned to this
        member's caller, which handles and commits it (or closes, and the partition
        restarts from the commit)."""
        kept, self._kept = self._kept, {}
        for tp in assigned & kept.keys():
            consumer.seek(tp, kept[tp])
            self._positions[tp] = kept[tp]
        log.debug("kafka.assigned", group=self.group, partitions=sorted(assigned))

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        self.bus._subscriptions.discard(self)
        self._forget()
        if consumer is not None:
            await _stop(consumer)  # leaves the group: the others take the partitions

    def _forget(self) -> None:
        """The per-partition state of a member that is gone."""
        self._positions.clear()
        self._committed.clear()
        self._kept.clear()


class KafkaReader:
    """A group-less reader (``EventBus.reader``): assign + seek, started on first fetch."""

    def __init__(self, bus: KafkaEventBus, start: dict[tuple[str, int], int]) -> None:
        self.bus = bus
        self.start = start
        self._consumer: AIOKafkaConsumer | None = None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            await self.bus.ensure_topics({topic for topic, _ in self.start})
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bus.bootstrap_servers,
                client_id=self.bus.client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="none",
            )
            try:
                await consumer.start()
                tps = {TopicPartition(self.bus.wire(t), p): o for (t, p), o in self.start.items()}
                consumer.assign(list(tps))
                for tp, offset in tps.items():
                    consumer.seek(tp, offset)
            except BaseException:
                await _stop(consumer)
                raise
            self._consumer = consumer
        return self._consumer

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        consumer = await self._started()
        try:
            batches = await consumer.getmany(
                timeout_ms=max(0, round(timeout * 1000)), max_records=max(1, max_records)
            )
        except OffsetOutOfRangeError as exc:
            # aiokafka's argument: {TopicPartition: the offset asked for}
            gone = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            tp, offset = next(iter(gone.items()), (TopicPartition("?", -1), -1))
            raise RecordsExpired(self.bus.unwire(tp.topic), tp.partition, offset) from exc
        records: list[Record] = []
        for tp, msgs in batches.items():
            topic = self.bus.unwire(tp.topic)
            records += [r for m in msgs if (r := self.bus._decode(m, topic)) is not None]
        return records

    async def commit(self, records: Sequence[Record]) -> None:
        """Nothing to commit: a reader belongs to no group."""

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await _stop(consumer)


async def _delivered(futures: list[asyncio.Future[Any]]) -> None:
    """Wait for the delivery reports; raise the first failure once all are in. Two
    failures end the wait at once, since the other reports would never come: the
    broker refusing the producer's state (aiokafka's sender stops on it), and no
    report at all within ``DELIVERY_WAIT``."""
    pending = set(futures)
    while pending:
        done, pending = await asyncio.wait(
            pending, timeout=DELIVERY_WAIT, return_when=asyncio.FIRST_EXCEPTION
        )
        if not done:
            raise ProducerStuck(f"no delivery report in {DELIVERY_WAIT:.0f} s")
        for future in done:
            if future.cancelled():
                raise ProducerStuck("a delivery was cancelled")
            if isinstance(exc := future.exception(), PRODUCER_STATE_LOST):
                raise exc
    for future in futures:
        if (exc := future.exception()) is not None:
            raise exc


async def _send_batch(
    producer: AIOKafkaProducer, batch: BatchBuilder, wire: str, partition: int
) -> Any:
    batch.close()  # ours alone: ``producer.send`` must not add to it
    return await producer.send_batch(batch, wire, partition=partition)


async def _stop(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await client.stop()
