"""The outbox worker: sends the messages that are due, through each mailbox's own
provider, and files the sent copies.

Each pass claims due messages under a lease (``OutgoingStore.claim_due``: any number
of workers share the outbox, none takes a message another holds) and, for each:

1. builds the MIME once and stores it (``eml_key``), DKIM-signed when the tenant has
   a key for the sender's domain: every attempt sends the same bytes, with the same
   Message-ID;
2. marks it ``sending`` (attempt counted) BEFORE the provider is called, so that a
   crash during the call is seen afterwards: a ``sending`` message whose lease ran
   out is an interrupted send. The provider is then asked whether it has the message
   already (``find_sent``): yes → it counts as sent; no, or the provider cannot tell
   → it is sent again, with the same bytes and Message-ID (receivers that got the
   first one recognise the second);
3. hands it to the provider: a temporary failure is retried after an exponential
   backoff with jitter (at least what the provider asked for) until too many
   attempts or too old, then ``failed``; a permanent failure is ``failed`` at once,
   with the reason and the refused recipients;
4. on success marks it ``sent`` and files the copy in the mailbox's Sent view
   (``filing.py``), then drops the lease. A crash between the two leaves a ``sent``
   message not yet filed, which the next pass files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

import structlog

from inboxhub.domain.audit import FAILURE
from inboxhub.domain.errors import (
    InvalidInput,
    NotFound,
    SendPermanentError,
    SendTemporaryError,
)
from inboxhub.domain.ids import eml_blob_key, sha256_hex
from inboxhub.domain.models import Mailbox
from inboxhub.domain.outgoing import OutgoingMessage
from inboxhub.mime.compose import parse_addresses
from inboxhub.ports import MailTransport, OutgoingStore, SendReceipt
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.sender.building import build_raw, dkim_signed
from inboxhub.services.sender.filing import file_sent, sent_email_id
from inboxhub.services.sender.uploads import purge_expired

log = structlog.get_logger(__name__)

Opener = Callable[[Container, Mailbox], Awaitable[MailTransport]]
PURGE_EVERY = timedelta(hours=1)
ON_ITS_WAY = ("queued", "scheduled", "sending")


def _now() -> datetime:
    return datetime.now(UTC)


def _worker_id() -> str:
    return f"sender.{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def _default_opener(c: Container, box: Mailbox) -> MailTransport:
    from inboxhub.providers.send import open_transport

    return await open_transport(c, box)


class LeaseLost(Exception):
    """Another worker holds the message now, or its author cancelled it."""


@dataclass
class SendWorker:
    c: Container
    worker_id: str = field(default_factory=_worker_id)
    clock: Callable[[], datetime] = _now
    opener: Opener = _default_opener
    rng: random.Random = field(default_factory=random.Random)

    @property
    def store(self) -> OutgoingStore:
        return self.c.outgoing

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop``: straight on while there is work, else after
        ``send_poll_seconds``."""
        next_purge = self.clock()
        while not stop.is_set():
            busy = 0
            try:
                busy = await self.run_once()
                if self.clock() >= next_purge:
                    await purge_expired(self.store, self.c.blobs, self.clock())
                    next_purge = self.clock() + PURGE_EVERY
            except Exception:  # the database away for a moment: the next pass retries
                log.exception("sender.pass_failed", worker=self.worker_id)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.c.settings.send_poll_seconds)

    async def run_once(self) -> int:
        """One pass: claim what is due and work on it; how many were claimed."""
        s = self.c.settings
        claimed = await self.store.claim_due(
            self.worker_id, self.clock(), s.send_lease_seconds, s.send_concurrency
        )
        await asyncio.gather(*(self.process(m) for m in claimed))
        return len(claimed)

    async def process(self, m: OutgoingMessage) -> None:
        try:
            await self._process(m)
        except LeaseLost:
            log.info("sender.lease_lost", message=m.id)
        except Exception:
            # Unknown ground: the message keeps its state and lease, and is taken up
            # again when the lease runs out (a ``sending`` one asks the provider first).
            log.exception("sender.failed_unexpectedly", message=m.id, tenant=m.tenant_id)

    async def _process(self, m: OutgoingMessage) -> None:
        box = await self.c.directory.get_mailbox(m.tenant_id, m.mailbox_id)
        if box is None:
            if m.state == "sent":  # its copy has nowhere to go
                await self._change(m, ("sent",), filed_at=self.clock(), lease_owner=None)
            else:
                await self._fail(m, "the mailbox it was to be sent from was removed")
            return
        if m.state == "sent":  # sent, but the copy was not filed
            await self._file(m, box, await self.c.blobs.get(m.eml_key or ""))
            return
        marked = False
        try:
            raw = await self._raw(m)
            transport = await self.opener(self.c, box)
            try:
                if m.state == "sending" and await transport.find_sent(m.internet_message_id):
                    log.info("sender.found_sent", message=m.id)
                    await self._sent(m, box, raw, SendReceipt(None, True))
                    return
                m = await self._mark_sending(m)
                marked = True
                async with self._renewing(m):
                    receipt = await transport.send(raw, _address(m.sender), _envelope(m))
            finally:
                await transport.close()
        except SendTemporaryError as exc:
            await self._retry(m, marked, str(exc), exc.retry_after)
            return
        except (SendPermanentError, InvalidInput) as exc:
            rejected = exc.rejected if isinstance(exc, SendPermanentError) else {}
            await self._fail(m, exc.detail, rejected, counted=marked)
            return
        except LeaseLost:
            raise
        except Exception as exc:
            if marked:  # the provider may have it: the lease's expiry decides (find_sent)
                raise
            log.exception("sender.attempt_failed", message=m.id)
            await self._retry(m, False, f"{type(exc).__name__}: {exc}", None)
            return
        await self._sent(m, box, raw, receipt)

    # -- the steps ---------------------------------------------------------------

    async def _change(self, m: OutgoingMessage, states: tuple[str, ...], **values: Any) -> Any:
        done = await self.store.change(
            m.tenant_id, m.id, values, states=states, now=self.clock(), owner=self.worker_id
        )
        if done is None:
            raise LeaseLost(m.id)
        return done

    async def _raw(self, m: OutgoingMessage) -> bytes:
        """The message's bytes: as built before, else built (and signed) now."""
        if m.eml_key:
            with contextlib.suppress(NotFound):
                return await self.c.blobs.get(m.eml_key)
        raw = await build_raw(m, self.c.blobs, self.clock())
        raw = await dkim_signed(raw, self.c.dkim, m.tenant_id, _address(m.sender))
        key = eml_blob_key(m.tenant_id, sha256_hex(raw))
        await self.c.blobs.put(key, raw, "message/rfc822")
        await self._change(m, ON_ITS_WAY, eml_key=key)
        return raw

    @contextlib.asynccontextmanager
    async def _renewing(self, m: OutgoingMessage) -> AsyncIterator[None]:
        """Keep the lease on ``m`` alive while the provider takes its time (a large
        message on a slow link), so no other worker takes it for an interrupted send."""
        ttl = self.c.settings.send_lease_seconds

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                until = self.clock() + timedelta(seconds=ttl)
                await self.store.change(
                    m.tenant_id,
                    m.id,
                    {"lease_expires_at": until},
                    states=("sending",),
                    now=self.clock(),
                    owner=self.worker_id,
                )

        task = asyncio.create_task(renew(), name=f"sender-lease:{m.id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _mark_sending(self, m: OutgoingMessage) -> OutgoingMessage:
        done: OutgoingMessage = await self._change(
            m, ON_ITS_WAY, state="sending", attempts=m.attempts + 1
        )
        return done

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: doubling, capped, with jitter."""
        s = self.c.settings
        ceiling = min(s.send_retry_max_seconds, s.send_retry_base_seconds * 2 ** (attempts - 1))
        return ceiling * (0.5 + 0.5 * self.rng.random())

    async def _retry(
        self, m: OutgoingMessage, counted: bool, error: str, retry_after: float | None
    ) -> None:
        s = self.c.settings
        attempts = m.attempts if counted else m.attempts + 1
        now = self.clock()
        age = (now - (m.queued_at or m.created_at)).total_seconds()
        if attempts >= s.send_max_attempts or age >= s.send_max_age_seconds:
            await self._fail(m, f"gave up after {attempts} attempts: {error}", attempts=attempts)
            return
        delay = max(retry_after or 0.0, self.backoff(attempts))
        await self._change(
            m,
            ON_ITS_WAY,
            state="queued",
            attempts=attempts,
            last_error=error[:2000],
            next_attempt_at=now + timedelta(seconds=delay),
            lease_owner=None,
            lease_expires_at=None,
        )
        log.info("sender.retry", message=m.id, attempts=attempts, delay=delay, error=error)

    async def _fail(
        self,
        m: OutgoingMessage,
        error: str,
        rejected: dict[str, str] | None = None,
        counted: bool = True,
        attempts: int | None = None,
    ) -> None:
        done = await self._change(
            m,
            ON_ITS_WAY,
            state="failed",
            attempts=attempts if attempts is not None else m.attempts + (0 if counted else 1),
            last_error=error[:2000],
            rejected=dict(rejected or {}),
            next_attempt_at=None,
            lease_owner=None,
            lease_expires_at=None,
        )
        await self._audit(done, "message.failed", FAILURE, reason=error, rejected=rejected or {})

    async def _sent(
        self, m: OutgoingMessage, box: Mailbox, raw: bytes, receipt: SendReceipt
    ) -> None:
        now = self.clock()
        sent = m.model_copy(update={"provider_message_id": receipt.provider_message_id})
        done = await self._change(
            m,
            ON_ITS_WAY,
            state="sent",
            sent_at=now,
            provider_message_id=receipt.provider_message_id,
            email_id=sent_email_id(sent),
            rejected=dict(receipt.rejected),
            last_error=None,
            next_attempt_at=None,
        )
        await self._audit(done, "message.sent", "success", rejected=receipt.rejected)
        await self._file(done, box, raw)

    async def _file(self, m: OutgoingMessage, box: Mailbox, raw: bytes) -> None:
        await file_sent(self.c.ingest(), self.c.bus, m, box, raw, self.clock())
        await self._change(
            m, ("sent",), filed_at=self.clock(), lease_owner=None, lease_expires_at=None
        )

    async def _audit(self, m: OutgoingMessage, action: str, outcome: str, **detail: Any) -> None:
        await AuditLog(self.c.bus).record(
            m.tenant_id,
            m.user_id,
            action,
            m.id,
            None,
            outcome=outcome,
            mailbox_id=m.mailbox_id,
            attempts=m.attempts,
            message_id=m.internet_message_id,
            **detail,
        )


def _address(entry: str) -> str:
    return parseaddr(entry)[1] or entry


def _envelope(m: OutgoingMessage) -> list[str]:
    """Every recipient's address (Bcc too), in the form the envelope carries."""
    return [a.email for a in parse_addresses(m.recipients)]
