"""Password policy and lockout backoff: the rules, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.services.auth.lockout import LockoutPolicy, account_subject, ip_subject
from inboxhub.services.auth.passwords import check_password_policy

EMAIL = "Ada.Lovelace@Example.test"


@pytest.mark.parametrize(
    "password",
    [
        "short-pw",  # under ten characters
        "ada.lovelace@example.test",  # the address itself, any case
        "ADA.LOVELACE",  # its local part
        "aaaaaaaaaaaaaaaa",  # one character repeated
        "x" * 1025,  # longer than any request may carry
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput):
        check_password_policy(password, EMAIL, 10)


def test_a_long_password_without_symbols_is_enough() -> None:
    check_password_policy("correct horse battery staple", EMAIL, 10)
    check_password_policy("0123456789", EMAIL, 10)


def test_backoff_starts_at_the_threshold_doubles_and_is_capped() -> None:
    policy = LockoutPolicy(5, 50, timedelta(hours=1), 30, 900)
    waits = [policy.lock_seconds(n, 5) for n in range(1, 12)]
    assert waits[:4] == [None] * 4
    assert waits[4:] == [30, 60, 120, 240, 480, 900, 900]
    assert policy.lock_seconds(10_000, 5) == 900  # no overflow for a long siege


def test_addresses_have_their_own_threshold() -> None:
    policy = LockoutPolicy(5, 50)
    assert policy.threshold(ip_subject("192.0.2.7")) == 50
    assert policy.threshold(account_subject("t1", " Bob@X.test ")) == 5
    assert account_subject("t1", " Bob@X.test ") == ("t1", "email:bob@x.test")
    assert ip_subject(None) == ("*", "ip:unknown")
