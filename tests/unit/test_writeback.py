"""The pure parts of writing changes back: the order-keeping loop every connector
uses, and the IMAP helpers (COPYUID, folder names, which flags to store)."""

from __future__ import annotations

import pytest

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import (
    APPLIED,
    ChangeResult,
    Outcome,
    ProviderAuthError,
    ProviderError,
    apply_in_order,
)
from inboxhub.providers.imap_write import copy_uids, find_folder, flag_ops


def changes(n: int) -> list[MailChange]:
    return [MailChange(email_id=f"e{i}", provider_message_id=f"m{i}") for i in range(n)]


class Script:
    """Answers each change by its position: a result, or an exception to raise."""

    def __init__(self, *answers: ChangeResult | Exception) -> None:
        self.answers = list(answers)
        self.seen: list[str] = []

    async def __call__(self, change: MailChange) -> ChangeResult:
        self.seen.append(change.email_id)
        answer = self.answers[len(self.seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_transient_failure_stops_the_batch_and_keeps_the_order() -> None:
    script = Script(APPLIED, ProviderError("503", retry_after=7.0), APPLIED)
    results = await apply_in_order(changes(3), script)
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.FAILED, Outcome.SKIPPED]
    assert results[1].retry_after == 7.0 and results[1].detail == "503"
    assert script.seen == ["e0", "e1"], "nothing after the failure was tried"


async def test_a_refused_request_refuses_only_its_change() -> None:
    class Refused(ProviderError):
        retryable = False

    script = Script(Refused("400 bad request"), APPLIED)
    results = await apply_in_order(changes(2), script)
    assert [r.outcome for r in results] == [Outcome.REFUSED, Outcome.APPLIED]
    assert [r.done for r in results] == [True, True]


async def test_credentials_errors_concern_the_whole_mailbox() -> None:
    with pytest.raises(ProviderAuthError):
        await apply_in_order(changes(2), Script(ProviderAuthError("consent revoked"), APPLIED))


def test_copyuid_lists_the_new_uids_in_order() -> None:
    assert copy_uids(b"[COPYUID 38505 304,319:320 3956:3958] Done") == (38505, [3956, 3957, 3958])
    assert copy_uids(b"Done") is None
    assert copy_uids(b"[APPENDUID 1 2] Done") is None


def test_folders_by_name_case_and_special_use() -> None:
    listing = {
        "INBOX": set(),
        "Archives/2024": set(),
        "Papierkorb": {"\\trash", "\\hasnochildren"},
        "Old": {"\\noselect"},
    }
    assert find_folder("inbox", listing) == "INBOX"
    assert find_folder("archives/2024", listing) == "Archives/2024"
    assert find_folder("Trash", listing) == "Papierkorb"
    assert find_folder("Old", listing) is None
    assert find_folder("Nowhere", listing) is None


def test_only_the_flags_that_differ_from_the_snapshot_are_stored() -> None:
    assert flag_ops(Flags(seen=True), Flags()) == [("+FLAGS", ["\\Seen"])]
    assert flag_ops(Flags(seen=True), Flags(seen=True, flagged=True)) == [("-FLAGS", ["\\Flagged"])]
    assert flag_ops(Flags(), Flags()) == []
    assert flag_ops(Flags(flagged=True), None) == [
        ("+FLAGS", ["\\Flagged"]),
        ("-FLAGS", ["\\Seen"]),
    ]
