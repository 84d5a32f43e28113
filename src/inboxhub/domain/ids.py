"""Stable identifiers and storage keys (DESIGN §5).

Everything that can be replayed is keyed by a hash of what identifies it, so that a
second delivery of the same thing lands on the same id and overwrites itself.
"""

from __future__ import annotations

import hashlib
import random
import uuid


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def email_id(tenant_id: str, mailbox_id: str, provider_message_id: str) -> str:
    """The email's id: stable across re-imports and replays of the same message."""
    raw = f"{tenant_id}\x00{mailbox_id}\x00{provider_message_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def eml_blob_key(tenant_id: str, sha256: str) -> str:
    return f"t/{tenant_id}/eml/{sha256}"


def attachment_blob_key(tenant_id: str, sha256: str) -> str:
    return f"t/{tenant_id}/att/{sha256}"


def tenant_blob_prefix(tenant_id: str) -> str:
    return f"t/{tenant_id}/"


def new_id() -> str:
    """A random, unguessable id for things created once (tenants, users, mailboxes)."""
    return uuid.uuid4().hex


def new_event_id() -> str:
    """A unique id for an event. Events are made by the thousand on the hot path, where
    ``uuid4``'s system call gives up the GIL and then waits to get it back; 128 bits
    from ``random`` (seeded by the OS, reseeded in forked children) are as unique and
    need not be unguessable: an event id grants nothing."""
    return f"{random.getrandbits(128):032x}"
