"""Users' changes made on Exchange over EWS (``EwsConnector.apply``), with exchangelib:

* flags: ``UpdateItem`` of ``IsRead`` and of the follow-up flag (``PidTagFlagStatus``
  set to 2, or deleted to clear it), with ``ConflictResolution="AlwaysOverwrite"`` and
  no change key: the change does not carry the one its user saw, so the last writer
  wins. Read receipts are suppressed.
* labels are folders, given by distinguished name (``inbox``, ``sentitems`` …, as
  the connector reports them), and an item is in exactly one: adding a label moves
  it there (``MoveItem``). A folder without a distinguished name, or removing the
  item's folder without adding another, is left out with a note.
* trash: ``MoveItem`` to ``deleteditems``; untrash: back to the folder it was in (the
  change's ``labels`` other than the trash), else the inbox.
* delete: ``DeleteItem`` with ``HardDelete``.

An EWS ItemId changes when its item moves. The new id is noted in the ``ItemMap``
(``#moved``: the provider message id → the item's id now), so a later change to the
same message (an untrash after a trash) finds it. ``ErrorItemNotFound`` (or a
malformed id) refuses the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from exchangelib import Account
from exchangelib.items import ALWAYS_OVERWRITE, HARD_DELETE, Message
from exchangelib.properties import DistinguishedFolderId
from exchangelib.properties import Mailbox as EwsMailbox

from inboxhub.domain.labels import is_trash
from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import APPLIED, ChangeResult, ItemMap, Outcome

MOVED = "#moved"  # ItemMap folder: provider message id → the item's id now
FLAG_FIELD = "inboxhub_flag_status"  # registered on Message by providers.ews
FLAGGED = 2
Run = Callable[[Callable[[], Any]], Awaitable[Any]]


class ItemGone(Exception):
    """Exchange says the item does not exist (any more)."""


class EwsWriter:
    """``run`` is the connector's ``_ews`` (a thread, throttling, error mapping)."""

    def __init__(
        self,
        account: Account,
        email: str,
        run: Run,
        items: ItemMap,
        folders: frozenset[str],
        gone: tuple[type[Exception], ...],
    ) -> None:
        self.account, self.email, self.run, self.items = account, email, run, items
        self.folders = folders  # distinguished names of mail folders
        self.gone = gone

    async def apply_one(self, change: MailChange) -> ChangeResult:
        pmid = change.provider_message_id
        item_id = (await self.items.get(MOVED, [pmid])).get(pmid, pmid)
        try:
            return await self._apply(change, item_id)
        except ItemGone:
            return ChangeResult(Outcome.REFUSED, "the item no longer exists on Exchange")

    async def _apply(self, change: MailChange, item_id: str) -> ChangeResult:
        if change.delete:
            await self.run(partial(self._delete, item_id))
            await self.items.drop(MOVED, [change.provider_message_id])
            return APPLIED
        notes: list[str] = []
        if change.flags is not None:
            await self.run(partial(self._update_flags, item_id, change.flags))
        target = self._destination(change, notes)
        if target is not None:
            new_id = await self.run(partial(self._move, item_id, target))
            if new_id and new_id != change.provider_message_id:
                await self.items.put(MOVED, {change.provider_message_id: new_id})
        return ChangeResult(Outcome.APPLIED, "; ".join(notes)) if notes else APPLIED

    def _destination(self, change: MailChange, notes: list[str]) -> str | None:
        if change.trash:
            return "deleteditems"
        if change.untrash:
            back = [
                name.lower()
                for name in change.labels
                if name.lower() in self.folders
                and name.lower() != "deleteditems"
                and not is_trash(name)
            ]
            return back[0] if back else "inbox"
        own = {name.lower() for name in change.labels}
        wanted = [name for name in change.add_labels if name.lower() not in own]
        known = [name.lower() for name in wanted if name.lower() in self.folders]
        notes.extend(f"no distinguished folder {n!r}" for n in wanted if n.lower() not in known)
        if any(name.lower() in own for name in change.remove_labels) and not known:
            notes.append("an item stays in its folder unless moved to another one")
        if len(known) > 1:
            notes.append(f"an item is in one folder: moved to {known[-1]!r} only")
        return known[-1] if known else None

    # -- exchangelib calls (in a worker thread) -----------------------------------------

    def _check(self, answers: list[Any]) -> Any:
        """The one answer of a bulk call; an error in it raised."""
        answer = answers[0] if answers else None
        if isinstance(answer, self.gone):
            raise ItemGone(str(answer))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _update_flags(self, item_id: str, flags: Flags) -> None:
        item = Message(account=self.account, id=item_id)
        item.is_read = flags.seen
        setattr(item, FLAG_FIELD, FLAGGED if flags.flagged else None)
        self._check(
            self.account.bulk_update(
                [(item, ["is_read", FLAG_FIELD])], conflict_resolution=ALWAYS_OVERWRITE
            )
        )

    def _move(self, item_id: str, folder: str) -> str | None:
        target = DistinguishedFolderId(id=folder, mailbox=EwsMailbox(email_address=self.email))
        new = self._check(self.account.bulk_move([(item_id, None)], to_folder=target))
        return str(new[0]) if isinstance(new, tuple) and new and new[0] else None

    def _delete(self, item_id: str) -> None:
        self._check(self.account.bulk_delete([(item_id, None)], delete_type=HARD_DELETE))
