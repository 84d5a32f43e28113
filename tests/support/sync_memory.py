"""An in-memory ``SyncSink`` and ``ItemMap`` for testing a connector on its own:
what the connector reported, in the order it reported it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inboxhub.domain.models import Flags
from inboxhub.providers.base import Cursor, FetchedMessage, FlagChange


@dataclass
class MemorySink:
    messages_by_id: dict[str, FetchedMessage] = field(default_factory=dict)
    flags_by_id: dict[str, Flags] = field(default_factory=dict)
    labels_by_id: dict[str, tuple[str, ...]] = field(default_factory=dict)
    deleted_ids: list[str] = field(default_factory=list)
    cursors: list[Cursor] = field(default_factory=list)
    batches: int = 0
    received: int = 0  # messages handed over, counting repeats

    async def messages(self, batch: Sequence[FetchedMessage]) -> None:
        self.batches += 1
        self.received += len(batch)
        for m in batch:
            self.messages_by_id[m.provider_message_id] = m
            self.flags_by_id[m.provider_message_id] = m.flags
            self.labels_by_id[m.provider_message_id] = m.labels

    async def flags(self, changes: Sequence[FlagChange]) -> None:
        for c in changes:
            if c.provider_message_id in self.messages_by_id:
                self.flags_by_id[c.provider_message_id] = c.flags
                if c.labels is not None:
                    self.labels_by_id[c.provider_message_id] = c.labels

    async def deleted(self, provider_message_ids: Sequence[str]) -> None:
        for pid in provider_message_ids:
            self.deleted_ids.append(pid)
            self.messages_by_id.pop(pid, None)
            self.flags_by_id.pop(pid, None)
            self.labels_by_id.pop(pid, None)

    async def checkpoint(self, cursor: Cursor) -> None:
        self.cursors.append(cursor)

    @property
    def cursor(self) -> Cursor:
        return self.cursors[-1] if self.cursors else {}


@dataclass
class MemoryItemMap:
    folders: dict[str, dict[str, str]] = field(default_factory=dict)

    async def get(self, folder: str, refs: Sequence[str] | None = None) -> dict[str, str]:
        items = self.folders.get(folder, {})
        if refs is None:
            return dict(items)
        return {r: items[r] for r in refs if r in items}

    async def put(self, folder: str, items: Mapping[str, str]) -> None:
        self.folders.setdefault(folder, {}).update(items)

    async def drop(self, folder: str, refs: Sequence[str] | None = None) -> None:
        if refs is None:
            self.folders.pop(folder, None)
            return
        for r in refs:
            self.folders.get(folder, {}).pop(r, None)


@dataclass
class SavedSecrets:
    """A ``save_secrets`` callback that remembers every call."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, secrets: dict[str, Any]) -> None:
        self.calls.append(secrets)
