"""The resume cursor: where in the bus a client's stream stands.

A position is, per (topic, partition) the notifications read, the offset of the next
record. Every notification process reads the same bus records in the same
per-partition order, so a cursor one process gave means the same in any other. To
the client it is an opaque string: ``c1.`` + base64url of ``{topic: [offset of
partition 0, 1, ...]}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from inboxhub.domain.errors import InvalidInput
from inboxhub.ports import Record

Positions = dict[tuple[str, int], int]
PREFIX = "c1."
MAX_CURSOR_CHARS = 4096


def encode(positions: Mapping[tuple[str, int], int]) -> str:
    by_topic: dict[str, list[int]] = {}
    for (topic, partition), offset in sorted(positions.items()):
        offsets = by_topic.setdefault(topic, [])
        offsets.extend([0] * (partition + 1 - len(offsets)))
        offsets[partition] = offset
    raw = json.dumps(by_topic, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> Positions:
    """The positions of a cursor; ``InvalidInput`` for anything this did not make."""
    bad = InvalidInput("not a cursor this service gave")
    if len(cursor) > MAX_CURSOR_CHARS or not cursor.startswith(PREFIX):
        raise bad
    body = cursor.removeprefix(PREFIX)
    try:
        by_topic = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise bad from exc
    if not isinstance(by_topic, dict):
        raise bad
    positions: Positions = {}
    for topic, offsets in by_topic.items():
        if not isinstance(offsets, list):
            raise bad
        for partition, offset in enumerate(offsets):
            if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                raise bad
            positions[(topic, partition)] = offset
    return positions


def after(positions: Positions, record: Record) -> None:
    """Advance ``positions`` past ``record``."""
    positions[(record.topic, record.partition)] = record.offset + 1
