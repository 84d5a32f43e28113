"""Users' changes made on the IMAP server (``ImapConnector.apply``).

An IMAP message id is ``<folder>:<sha256>``; the folder's ``ItemMap`` (written by the
sync: ``<uidvalidity>.<uid>`` → ``<flags> <id>``) gives its UIDs under the folder's
current UIDVALIDITY, checked with ``UID SEARCH`` before use (another client may have
expunged them since). Labels are folders, and IMAP keeps one copy per folder:

* flags: ``UID STORE +FLAGS``/``-FLAGS`` of ``\\Seen`` and ``\\Flagged``, only for the
  flags that differ from what the last sync saw (the flags snapshot in the
  ``ItemMap``): a flag the user did not change is never written, so another
  client's change to it survives. For a flag both changed, the last writer wins: a
  change does not carry the MODSEQ its user saw, so CONDSTORE's ``UNCHANGEDSINCE``
  (RFC 7162) has nothing to compare with. The snapshot is updated from the server's
  answer, so the next sync reports nothing back.
* label added: ``UID COPY`` into that folder, if it exists (folders are never created).
  The copy's UID (``COPYUID``, RFC 4315 UIDPLUS) is remembered under the ``ItemMap``
  key ``#placed:<folder>``, so removing the label (or a repeat of the change) finds it
  even in a folder that is not synced.
* label removed: ``STORE \\Deleted`` + ``UID EXPUNGE`` of the copy in that folder; for
  the message's own folder, the message leaves it (added labels are copied first, so
  add + remove is a move).
* trash: ``UID MOVE`` (RFC 6851; else COPY + STORE ``\\Deleted`` + UID EXPUNGE) to the
  SPECIAL-USE ``\\Trash`` folder (RFC 6154; else a folder named Trash); untrash moves
  it back (a message synced from the Trash itself goes to the first other folder of
  its labels, else INBOX). delete: expunged from its folder, from the label folders it was copied to
  and from the Trash.
* Without UIDPLUS there is no UID EXPUNGE, and a plain EXPUNGE would also remove
  what other clients marked ``\\Deleted``: messages are then only marked deleted.

A ``NO`` with a response code that cannot change by retrying (RFC 5530: NONEXISTENT,
TRYCREATE, CANNOT, NOPERM) or a ``BAD`` refuses the change; other failures are
retried by the fetcher.
"""

from __future__ import annotations

import re

from inboxhub.domain.labels import is_trash
from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import APPLIED, ChangeResult, ItemMap, Outcome
from inboxhub.providers.imap_conn import Completion, ImapCommandError, ImapConnection, Response
from inboxhub.providers.imap_wire import (
    SPECIAL_USE_BY_NAME,
    as_text,
    fetch_items,
    flags_code,
    flags_from_code,
    flags_of,
    mailbox_arg,
    parse_list,
    parse_uid_set,
    response_code,
    uid_set,
)

_NUMBER = re.compile(rb"\d+")
PERMANENT_CODES = frozenset({"NONEXISTENT", "TRYCREATE", "CANNOT", "NOPERM"})
UNSELECTABLE = frozenset({"\\noselect", "\\nonexistent"})
IMAP_FLAGS = (("\\Seen", "seen"), ("\\Flagged", "flagged"))


def placed_key(folder: str) -> str:
    """The ``ItemMap`` folder noting the copies this module put into ``folder``:
    sha256 → ``<uidvalidity>.<uid>``."""
    return f"#placed:{folder}"


def find_folder(wanted: str, listing: dict[str, set[str]]) -> str | None:
    """The server's name for ``wanted``: the exact name, INBOX in any case, the name
    in another case, else the folder with the matching SPECIAL-USE flag."""
    if wanted.upper() == "INBOX":
        found = next((n for n in listing if n.upper() == "INBOX"), None)
    elif wanted in listing:
        found = wanted
    else:
        found = next((n for n in listing if n.lower() == wanted.lower()), None)
    if found is None and (use := SPECIAL_USE_BY_NAME.get(wanted.lower())):
        found = next((n for n, attrs in listing.items() if use in attrs), None)
    if found is None or UNSELECTABLE & listing.get(found, set()):
        return None
    return found


def trash_folder(listing: dict[str, set[str]]) -> str | None:
    """The server's Trash: the folder flagged SPECIAL-USE ``\\Trash`` (RFC 6154), else
    one named Trash (any case); None when there is neither."""
    marked = next((n for n, a in listing.items() if "\\trash" in a and not UNSELECTABLE & a), None)
    return marked or find_folder("Trash", listing)


Copied = tuple[int, list[int]]  # (UIDVALIDITY of the target folder, the new UIDs)


def copy_uids(text: bytes) -> Copied | None:
    """What a ``[COPYUID <uidvalidity> <source UIDs> <new UIDs>]`` code says."""
    code = response_code(text)
    parts = code[1].split() if code is not None and code[0] == "COPYUID" else []
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), [u for lo, hi in parse_uid_set(parts[2]) for u in range(lo, hi + 1)]


class ImapWriter:
    """Applies changes on one connection (the sync's; never while it syncs)."""

    def __init__(self, conn: ImapConnection, items: ItemMap) -> None:
        self.conn = conn
        self.items = items
        self._listing: dict[str, set[str]] | None = None
        self._selected: tuple[str, int] | None = None  # (folder, uidvalidity)
        self._maps: dict[str, dict[str, str]] = {}  # folder → its ItemMap, this batch
        self._refs: dict[str, dict[str, list[str]]] = {}  # folder → message id → refs

    async def apply_one(self, change: MailChange) -> ChangeResult:
        folder, _, digest = change.provider_message_id.rpartition(":")
        if not folder or len(digest) != 64:
            return ChangeResult(Outcome.REFUSED, "not an IMAP message id")
        try:
            return await self._apply(change, folder, digest)
        except ImapCommandError as exc:
            done = exc.completion
            code = done.code()
            if done.status == "BAD" or (code is not None and code[0] in PERMANENT_CODES):
                return ChangeResult(Outcome.REFUSED, str(exc))
            raise

    async def _apply(self, change: MailChange, folder: str, digest: str) -> ChangeResult:
        notes: list[str] = []
        uids = await self._uids_in(folder, digest)
        if change.delete:
            return await self._delete(change, folder, digest, uids)
        if change.untrash and not uids:
            moved, uids = await self._untrash(folder, digest)
            if moved and not uids:  # no UIDPLUS: the next sync finds it
                return APPLIED
        if not uids:
            return ChangeResult(Outcome.REFUSED, f"the message is no longer in {folder!r}")
        if change.flags is not None:
            await self._store_flags(folder, digest, uids, change.flags)
        for label in change.add_labels:
            await self._add_label(folder, digest, uids, label, notes)
        leaves = False
        for label in change.remove_labels:
            if await self._folder(label) == folder:
                leaves = True
            else:
                await self._remove_label(digest, label, notes)
        if change.trash:
            await self._trash(folder, digest, uids, notes)
        elif change.untrash and folder == await self._trash_folder():
            await self._leave_trash(change, folder, uids, notes)
        elif leaves:
            await self._expunge(folder, uids)
        return ChangeResult(Outcome.APPLIED, "; ".join(notes)) if notes else APPLIED

    # -- folders ---------------------------------------------------------------------

    async def _folders(self) -> dict[str, set[str]]:
        if self._listing is None:
            done = await self.conn.check('LIST "" "*"')
            listing: dict[str, set[str]] = {}
            for r in done.untagged:
                if r.kind == "LIST":
                    attrs, _, name = parse_list(r.tokens())
                    listing[name] = attrs
            self._listing = listing
        return self._listing

    async def _folder(self, label: str) -> str | None:
        return find_folder(label, await self._folders())

    async def _trash_folder(self) -> str | None:
        return trash_folder(await self._folders())

    async def _select(self, folder: str) -> int | None:
        """SELECT ``folder`` (read-write); its UIDVALIDITY, None when it cannot be."""
        if self._selected is not None and self._selected[0] == folder:
            return self._selected[1]
        self._selected = None
        done = await self.conn.command(b"SELECT " + mailbox_arg(folder))
        if done.status != "OK":
            return None
        codes = [response_code(r.status_text) for r in done.untagged if r.kind == "OK"]
        uidvalidity = next((int(c[1]) for c in codes if c and c[0] == "UIDVALIDITY"), None)
        if uidvalidity is None:
            return None
        self._selected = (folder, uidvalidity)
        return uidvalidity

    # -- finding a message -------------------------------------------------------------

    async def _map(self, folder: str) -> dict[str, str]:
        """The folder's ItemMap (read once a batch) and, in ``_refs``, its refs by id."""
        if folder not in self._maps:
            synced = self._maps[folder] = await self.items.get(folder)
            refs: dict[str, list[str]] = {}
            for ref, value in synced.items():
                refs.setdefault(value.partition(" ")[2], []).append(ref)
            self._refs[folder] = refs
        return self._maps[folder]

    async def _uids_in(self, folder: str, digest: str) -> list[int]:
        """The UIDs in ``folder`` holding the message: from the sync's map and the
        copies noted here, those that still exist. Leaves ``folder`` selected."""
        uidvalidity = await self._select(folder)
        if uidvalidity is None:
            return []
        prefix, pmid = f"{uidvalidity}.", f"{folder}:{digest}"
        await self._map(folder)
        refs = self._refs[folder].get(pmid, [])
        known = {int(ref[len(prefix) :]) for ref in refs if ref.startswith(prefix)}
        placed = (await self.items.get(placed_key(folder), [digest])).get(digest, "")
        for ref in placed.split():
            if ref.startswith(prefix):
                known.add(int(ref[len(prefix) :]))
        if not known:
            return []
        found: list[int] = []

        def take(r: Response) -> None:
            if r.kind == "SEARCH":
                found.extend(int(n) for n in _NUMBER.findall(r.text))

        await self.conn.check(f"UID SEARCH UID {uid_set(known)}", take)
        return sorted(set(found) & known)

    async def _note_placed(self, folder: str, digest: str, copied: Copied | None) -> None:
        if copied is not None and copied[1]:
            refs = " ".join(f"{copied[0]}.{uid}" for uid in copied[1])
            await self.items.put(placed_key(folder), {digest: refs})

    # -- operations --------------------------------------------------------------------

    async def _store_flags(self, folder: str, digest: str, uids: list[int], flags: Flags) -> None:
        """Store the flags that differ from the sync's snapshot; update the snapshot."""
        uidvalidity = await self._select(folder)
        synced = await self._map(folder)
        groups: dict[str, list[int]] = {}
        for uid in uids:
            value = synced.get(f"{uidvalidity}.{uid}")
            groups.setdefault(value.partition(" ")[0] if value else "", []).append(uid)
        answers: dict[int, Flags] = {}

        def take(r: Response) -> None:
            if r.kind == "FETCH":
                items = fetch_items(r.tokens())
                if "UID" in items and "FLAGS" in items:
                    answers[int(as_text(items["UID"]))] = flags_of(items["FLAGS"])

        for code, group in groups.items():
            before = flags_from_code(code) if code else None
            for op, names in flag_ops(flags, before):
                await self.conn.check(f"UID STORE {uid_set(group)} {op} ({' '.join(names)})", take)
        ours = set(uids)  # the server may tell of other messages' flags meanwhile
        updates = {
            ref: f"{flags_code(new)} {folder}:{digest}"
            for uid, new in answers.items()
            if uid in ours and (ref := f"{uidvalidity}.{uid}") in synced
        }
        if updates:
            await self.items.put(folder, updates)
            synced.update(updates)

    async def _add_label(
        self, folder: str, digest: str, uids: list[int], label: str, notes: list[str]
    ) -> None:
        target = await self._folder(label)
        if target is None:
            notes.append(f"no folder {label!r} to copy to")
            return
        if target == folder or await self._uids_in(target, digest):
            return  # there already (a repeated change)
        await self._note_placed(target, digest, await self._copy(folder, uids, target))

    async def _remove_label(self, digest: str, label: str, notes: list[str]) -> None:
        target = await self._folder(label)
        if target is None:
            notes.append(f"no folder {label!r}")
            return
        uids = await self._uids_in(target, digest)
        if uids:
            await self._expunge(target, uids)
            await self.items.drop(placed_key(target), [digest])

    async def _trash(self, folder: str, digest: str, uids: list[int], notes: list[str]) -> None:
        trash = await self._trash_folder()
        if trash is None:
            notes.append("the server has no Trash folder: not moved")
            return
        if trash == folder:
            return
        await self._note_placed(trash, digest, await self._move(folder, uids, trash))

    async def _leave_trash(
        self, change: MailChange, folder: str, uids: list[int], notes: list[str]
    ) -> None:
        """Untrash a message that lives in the Trash: to the first other folder it
        had, else INBOX."""
        names = [label for label in change.labels if not is_trash(label)]
        targets = [await self._folder(name) for name in [*names, "INBOX"]]
        target = next((t for t in targets if t and t != folder), None)
        if target is None:
            notes.append("no folder to move it out of the Trash to")
            return
        await self._move(folder, uids, target)

    async def _untrash(self, folder: str, digest: str) -> tuple[bool, list[int]]:
        """Move the message back from the Trash: (moved, its UIDs in ``folder`` when
        the server said them)."""
        trash = await self._trash_folder()
        in_trash = await self._uids_in(trash, digest) if trash and trash != folder else []
        if not trash or not in_trash:
            return False, []
        moved = await self._move(trash, in_trash, folder)
        await self.items.drop(placed_key(trash), [digest])
        return True, moved[1] if moved else []

    async def _delete(
        self, change: MailChange, folder: str, digest: str, uids: list[int]
    ) -> ChangeResult:
        """Expunge the message from its folder, its label copies and the Trash."""
        found = bool(uids)
        if uids:
            await self._expunge(folder, uids)
        others = [await self._folder(label) for label in change.labels]
        others.append(await self._trash_folder())
        for other in dict.fromkeys(o for o in others if o and o != folder):
            copies = await self._uids_in(other, digest)
            if copies:
                found = True
                await self._expunge(other, copies)
                await self.items.drop(placed_key(other), [digest])
        return APPLIED if found else ChangeResult(Outcome.REFUSED, "the message is gone already")

    # -- IMAP primitives ---------------------------------------------------------------

    async def _copy(self, source: str, uids: list[int], target: str) -> Copied | None:
        """UID COPY; where the copies are, when the server says (UIDPLUS)."""
        await self._select(source)
        command = b"UID COPY " + uid_set(uids).encode() + b" " + mailbox_arg(target)
        return copy_uids((await self.conn.check(command)).text)

    async def _move(self, source: str, uids: list[int], target: str) -> Copied | None:
        """UID MOVE (RFC 6851), else COPY then expunge; where the messages are now."""
        if "MOVE" not in self.conn.capabilities:
            copies = await self._copy(source, uids, target)
            await self._expunge(source, uids)
            return copies
        await self._select(source)
        command = b"UID MOVE " + uid_set(uids).encode() + b" " + mailbox_arg(target)
        return _copyuid_of(await self.conn.check(command))

    async def _expunge(self, folder: str, uids: list[int]) -> None:
        await self._select(folder)
        await self.conn.check(f"UID STORE {uid_set(uids)} +FLAGS.SILENT (\\Deleted)")
        if "UIDPLUS" in self.conn.capabilities:
            await self.conn.check(f"UID EXPUNGE {uid_set(uids)}")


def flag_ops(flags: Flags, before: Flags | None) -> list[tuple[str, list[str]]]:
    """(+FLAGS/-FLAGS, names) for the flags whose wanted value differs from ``before``
    (all of them when there is no snapshot)."""
    add = [
        name
        for name, attr in IMAP_FLAGS
        if getattr(flags, attr) and (before is None or not getattr(before, attr))
    ]
    remove = [
        name
        for name, attr in IMAP_FLAGS
        if not getattr(flags, attr) and (before is None or getattr(before, attr))
    ]
    return [(op, names) for op, names in (("+FLAGS", add), ("-FLAGS", remove)) if names]


def _copyuid_of(done: Completion) -> Copied | None:
    """COPYUID of a MOVE: in an untagged OK before the expunges, or in the tagged OK."""
    for r in done.untagged:
        if r.kind == "OK" and (found := copy_uids(r.status_text)):
            return found
    return copy_uids(done.text)
