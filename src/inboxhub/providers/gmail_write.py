"""Users' changes made in Gmail (``GmailConnector.apply``) with the Gmail API's
``users.messages`` methods (https://developers.google.com/gmail/api/reference/rest):

* flags: ``messages.modify`` removing or adding ``UNREAD`` (seen) and adding or
  removing ``STARRED`` (flagged). Both are set as the change says: the API has no
  conditional modify, so the last writer wins.
* labels: ``messages.modify`` with ``addLabelIds``/``removeLabelIds``; names become ids
  through ``labels.list`` (the connector's map, reloaded once for an unknown name). A
  label that does not exist is left out, never created.
* trash, untrash: ``messages.trash`` / ``messages.untrash``.
* delete: ``messages.delete`` deletes for good but needs the full
  ``https://mail.google.com/`` scope. The connector asks for ``gmail.modify`` only, so
  unless the grant has the full scope (and Google accepts it) the message goes to
  the Trash, which Gmail empties after 30 days.

A message that no longer exists (404) or a request Google refuses as it is (400)
refuses the change; throttling and 5xx are ridden out inside the call
(``gmail_api``), then the change fails for now and is tried again later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from inboxhub.domain.models import MailChange
from inboxhub.providers.base import APPLIED, ChangeResult, Outcome, ProviderAuthError
from inboxhub.providers.gmail_api import GmailApi, GmailBadRequest, GmailNotFound

FULL_SCOPE = "https://mail.google.com/"
LabelId = Callable[[str], Awaitable[str | None]]  # label name (or id) → id


class GmailWriter:
    def __init__(self, api: GmailApi, label_id: LabelId, scopes: str) -> None:
        self.api = api
        self.label_id = label_id
        self.may_delete = FULL_SCOPE in scopes.split()

    async def apply_one(self, change: MailChange) -> ChangeResult:
        try:
            return await self._apply(change)
        except GmailNotFound:
            return ChangeResult(Outcome.REFUSED, "the message no longer exists in Gmail")
        except GmailBadRequest as exc:
            return ChangeResult(Outcome.REFUSED, str(exc))

    async def _apply(self, change: MailChange) -> ChangeResult:
        mid = change.provider_message_id
        if change.delete:
            if self.may_delete:
                try:
                    await self.api.delete(mid)
                    return APPLIED
                except ProviderAuthError:  # 403 insufficientPermissions after all
                    self.may_delete = False
            await self.api.trash(mid)
            return ChangeResult(
                Outcome.APPLIED,
                f"moved to the Trash: deleting for good needs the {FULL_SCOPE} scope",
            )
        if change.untrash:
            await self.api.untrash(mid)
        add, remove, missing = await self._labels(change)
        if add or remove:
            await self.api.modify(mid, add, remove)
        if change.trash:
            await self.api.trash(mid)
        return ChangeResult(
            Outcome.APPLIED, f"no such label: {', '.join(missing)}" if missing else ""
        )

    async def _labels(self, change: MailChange) -> tuple[list[str], list[str], list[str]]:
        """(label ids to add, to remove, names that do not exist)."""
        add: dict[str, None] = {}
        remove: dict[str, None] = {}
        missing: list[str] = []
        for names, into in ((change.add_labels, add), (change.remove_labels, remove)):
            for name in names:
                lid = await self.label_id(name)
                if lid is None:
                    missing.append(name)
                else:
                    into[lid] = None
        if change.flags is not None:
            (remove if change.flags.seen else add)["UNREAD"] = None
            (add if change.flags.flagged else remove)["STARRED"] = None
        return list(add), [lid for lid in remove if lid not in add], missing
