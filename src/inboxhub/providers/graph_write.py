"""Users' changes made in Microsoft 365 / Outlook.com through Graph v1.0
(``GraphConnector.apply``; https://learn.microsoft.com/graph/api/resources/message):

* flags: ``PATCH /users/{user}/messages/{id}`` with ``isRead`` and
  ``flag.flagStatus`` (``flagged``/``notFlagged``). Both are set as the change says;
  the last writer wins (Graph would take an ``If-Match`` change key, but the change
  does not carry the one its user saw).
* labels are folders, and a message is in exactly one: adding a label moves it there
  (``POST …/messages/{id}/move`` with ``destinationId``, a folder id or a well-known
  name); removing its own folder without adding another archives it (to the
  well-known ``archive`` folder, as Outlook's Archive button does); removing a label
  that is not its folder changes nothing. Folders are never created.
* trash: a move to ``deleteditems``; untrash: a move back to the folder it was in
  (the change's ``labels`` other than the trash), else to the inbox.
* delete: ``DELETE /users/{user}/messages/{id}``.

Every request asks for immutable ids (``Prefer: IdType="ImmutableId"``), so a moved
message keeps its id: the next delta shows a move, not a deletion and a new message.
A 404 (the message is gone) or another 4xx refuses the change; throttling is ridden
out inside the call (``graph_api``), then the change fails for now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from inboxhub.domain.labels import is_trash
from inboxhub.domain.models import MailChange
from inboxhub.providers.base import APPLIED, ChangeResult, Outcome
from inboxhub.providers.graph_api import GraphClient

FolderId = Callable[[str], Awaitable[str | None]]  # folder name → id (or well-known name)


class GraphWriter:
    def __init__(self, api: GraphClient, message_path: Callable[[str], str], folder_id: FolderId):
        self.api = api
        self.message_path = message_path
        self.folder_id = folder_id

    async def apply_one(self, change: MailChange) -> ChangeResult:
        path = self.message_path(change.provider_message_id)
        if change.delete:
            await self.api.request("DELETE", path)
            return APPLIED
        notes: list[str] = []
        if change.flags is not None:
            flag = "flagged" if change.flags.flagged else "notFlagged"
            body = {"isRead": change.flags.seen, "flag": {"flagStatus": flag}}
            await self.api.request("PATCH", path, json=body)
        destination = await self._destination(change, notes)
        if destination is not None:
            await self.api.request("POST", f"{path}/move", json={"destinationId": destination})
        return ChangeResult(Outcome.APPLIED, "; ".join(notes)) if notes else APPLIED

    async def _destination(self, change: MailChange, notes: list[str]) -> str | None:
        """The folder the change moves the message to, if any."""
        if change.trash:
            return "deleteditems"
        if change.untrash:
            names = [name for name in change.labels if not is_trash(name)]
            back = await self.folder_id(names[0]) if names else None
            return back or "inbox"
        targets = [name for name in change.add_labels if name not in change.labels]
        found: list[str] = []
        for name in targets:
            folder = await self.folder_id(name)
            if folder is None:
                notes.append(f"no folder {name!r}")
            else:
                found.append(folder)
        if len(found) > 1:
            notes.append(f"a message is in one folder: moved to {targets[-1]!r} only")
        if found:
            return found[-1]
        own = {label.casefold() for label in change.labels}
        if not targets and any(name.casefold() in own for name in change.remove_labels):
            return "archive"
        return None
