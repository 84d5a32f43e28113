"""The tenant's hash chain over its audit records.

Each record's ``hash`` is SHA-256 over a canonical JSON of its place in the chain
(tenant, ``seq``, the previous record's hash) and of what is not personal (event
id, time, action, outcome, request id). The personal fields (actor, target, and
the detail with its IP address, user agent and email addresses) enter through
their ``commitment``, an HMAC-SHA256 under the tenant's audit key: a GDPR erasure
rewrites them and marks the record ``erased``, the commitment stays, and the chain
still verifies. Records not erased are checked against their commitment too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the previous hash of a tenant's first record


def canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def timestamp(value: datetime) -> str:
    """UTC with microseconds; SQLite gives the time back naive (it was UTC)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def commitment(
    key: bytes, actor_id: str | None, object_id: str | None, detail: dict[str, Any]
) -> str:
    personal = {"actor_id": actor_id, "object_id": object_id, "detail": detail}
    return hmac.new(key, canonical(personal), hashlib.sha256).hexdigest()


def chain_hash(
    *,
    tenant_id: str,
    seq: int,
    prev_hash: str,
    event_id: str,
    time: datetime,
    action: str,
    outcome: str,
    request_id: str | None,
    commitment: str,
) -> str:
    record = {
        "tenant_id": tenant_id,
        "seq": seq,
        "prev_hash": prev_hash,
        "event_id": event_id,
        "time": timestamp(time),
        "action": action,
        "outcome": outcome,
        "request_id": request_id,
        "commitment": commitment,
    }
    return hashlib.sha256(canonical(record)).hexdigest()


def row_hash(tenant_id: str, row: Any) -> str:
    """The hash a stored row (``audit_log``) should carry."""
    return chain_hash(
        tenant_id=tenant_id,
        seq=row.seq,
        prev_hash=row.prev_hash,
        event_id=row.event_id,
        time=row.time,
        action=row.action,
        outcome=row.outcome,
        request_id=row.request_id,
        commitment=row.commitment,
    )
