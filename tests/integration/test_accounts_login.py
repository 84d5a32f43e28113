"""Sign-in over HTTP: lockout and backoff per account and per address, and the TOTP
second factor (enrol, confirm, two-step login, no replay, recovery codes)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest

from inboxhub.services.auth.lockout import account_subject, ip_subject
from tests.integration.accounts_app import ADA, BOB, PASSWORD, Accounts, accounts_app, bearer

WRONG = "not-the-password"


@pytest.fixture()
async def accounts(tmp_path: Path) -> AsyncIterator[Accounts]:
    async with accounts_app(tmp_path / "data") as a:
        yield a


async def test_an_account_locks_after_three_failures_even_for_the_right_password(
    accounts: Accounts,
) -> None:
    for _ in range(3):
        assert (await accounts.login(ADA, WRONG)).status_code == 401
    refused = await accounts.login(ADA, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["retry_after"] == int(refused.headers["Retry-After"])
    assert (await accounts.login(BOB, PASSWORD)).status_code == 200  # others are not locked
    assert (await accounts.login(ADA, PASSWORD, ip="198.51.100.9")).status_code == 429
    reasons = [
        e["detail"].get("reason")  # type: ignore[union-attr]
        for e in await accounts.audit()
        if e["action"] == "auth.login_failed"
    ]
    assert sorted(reasons) == ["locked", "locked", "password", "password", "password"]


async def test_a_success_clears_the_accounts_count(accounts: Accounts) -> None:
    for _ in range(2):
        assert (await accounts.login(ADA, WRONG)).status_code == 401
    assert (await accounts.login(ADA, PASSWORD)).status_code == 200
    for _ in range(2):
        assert (await accounts.login(ADA, WRONG)).status_code == 401
    assert (await accounts.login(ADA, PASSWORD)).status_code == 200


async def test_unknown_addresses_lock_like_known_ones(accounts: Accounts) -> None:
    answers = [(await accounts.login("nobody@acme.test", WRONG)).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]


async def test_an_address_locks_after_its_own_threshold(accounts: Accounts) -> None:
    ip = "203.0.113.5"
    for n in range(6):  # six failures spread over accounts: none is locked on its own
        email = (ADA, BOB, f"x{n}@acme.test")[n % 3]
        assert (await accounts.login(email, WRONG, ip=ip)).status_code == 401
    assert (await accounts.login(BOB, PASSWORD, ip=ip)).status_code == 429
    assert (await accounts.login(BOB, PASSWORD, ip="203.0.113.6")).status_code == 200
    # the success elsewhere does not clear the address
    assert (await accounts.login(BOB, PASSWORD, ip=ip)).status_code == 429


async def test_the_lock_grows_with_each_further_failure_up_to_the_cap(
    accounts: Accounts,
) -> None:
    lockout = accounts.auth.lockout
    subject = [account_subject(accounts.tenant_id, "carol@acme.test")]
    waits = []
    for _ in range(9):
        await lockout.failed(subject)
        waits.append(await lockout.retry_after(subject))
    assert waits[:2] == [None, None]
    locked = [w for w in waits if w is not None]
    assert locked == sorted(locked) and locked[0] <= 60 < locked[1] <= 120
    assert locked[-1] == 900  # the default cap
    assert await lockout.retry_after([ip_subject("192.0.2.200")]) is None


# ---------------------------------------------------------------- second factor


def _code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current 30 s step (or one ahead), as the authenticator shows it."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def _enable_totp(accounts: Accounts) -> tuple[str, list[str]]:
    token = (await accounts.tokens())["access_token"]
    async with accounts.client() as client:
        client.headers.update(bearer(token))
        enrolled = await client.post("/api/v1/auth/totp")
        assert enrolled.status_code == 201, enrolled.text
        secret = enrolled.json()["secret"]
        assert enrolled.json()["otpauth_uri"].startswith("otpauth://totp/")
        assert (await client.get("/api/v1/auth/totp")).json() == {"enabled": False, "pending": True}
        wrong = await client.post("/api/v1/auth/totp/confirm", json={"code": "000000"})
        assert wrong.status_code == 422
        confirmed = await client.post("/api/v1/auth/totp/confirm", json={"code": _code(secret)})
        assert confirmed.status_code == 200, confirmed.text
        assert (await client.get("/api/v1/auth/totp")).json() == {"enabled": True, "pending": False}
        again = await client.post("/api/v1/auth/totp")
        assert again.status_code == 409
    return secret, confirmed.json()["recovery_codes"]


async def _ticket(accounts: Accounts) -> str:
    r = await accounts.login(ADA, PASSWORD)
    assert r.status_code == 401 and r.json()["mfa_required"] is True, r.text
    assert "access_token" not in r.json()
    return str(r.json()["mfa_ticket"])


async def _second_step(accounts: Accounts, ticket: str, code: str) -> int:
    async with accounts.client() as client:
        r = await client.post("/api/v1/auth/login/totp", json={"ticket": ticket, "code": code})
    return r.status_code


async def test_a_second_factor_takes_a_ticket_and_a_code_once(accounts: Accounts) -> None:
    secret, recovery = await _enable_totp(accounts)
    assert len(recovery) == 10 and len(set(recovery)) == 10
    ticket = await _ticket(accounts)
    code = _code(secret, steps_ahead=1)  # later than the step the confirmation used
    assert await _second_step(accounts, ticket, code) == 200
    assert await _second_step(accounts, ticket, code) == 401  # replayed
    assert await _second_step(accounts, ticket, recovery[0]) == 200
    assert await _second_step(accounts, ticket, recovery[0]) == 401  # used up
    assert await _second_step(accounts, "not a ticket at all", recovery[1]) == 401
    stored = await accounts.c.accounts.get_totp(accounts.tenant_id, await accounts.user_id(ADA))
    assert stored is not None and secret.encode() not in stored.secret  # sealed at rest


async def test_wrong_codes_lock_out_and_a_right_password_does_not_reset_the_count(
    accounts: Accounts,
) -> None:
    secret, _ = await _enable_totp(accounts)
    ticket = await _ticket(accounts)
    assert await _second_step(accounts, ticket, "111111") == 401
    assert await _second_step(accounts, ticket, "222222") == 401
    ticket = await _ticket(accounts)  # the password again: the count stays
    assert await _second_step(accounts, ticket, "333333") == 401
    assert await _second_step(accounts, ticket, _code(secret, 1)) == 429
    assert (await accounts.login(ADA, PASSWORD)).status_code == 429


async def test_disabling_the_second_factor_needs_the_password_or_a_code(
    accounts: Accounts,
) -> None:
    secret, _ = await _enable_totp(accounts)
    ticket = await _ticket(accounts)
    async with accounts.client() as client:
        r = await client.post("/api/v1/auth/login/totp", json={"ticket": ticket, "code": "x"})
        assert r.status_code == 422  # too short to be a code
        r = await client.post(
            "/api/v1/auth/login/totp", json={"ticket": ticket, "code": _code(secret, 1)}
        )
        assert r.status_code == 200
        client.headers.update(bearer(r.json()["access_token"]))
        assert (await client.post("/api/v1/auth/totp/disable", json={})).status_code == 422
        wrong = await client.post("/api/v1/auth/totp/disable", json={"password": WRONG})
        assert wrong.status_code == 403
        replayed = await client.post("/api/v1/auth/totp/disable", json={"code": _code(secret, 1)})
        assert replayed.status_code == 403
        done = await client.post("/api/v1/auth/totp/disable", json={"password": PASSWORD})
        assert done.status_code == 204
    assert (await accounts.login(ADA, PASSWORD)).status_code == 200
    actions = {e["action"] for e in await accounts.audit()}
    assert {"auth.totp_enabled", "auth.totp_disabled", "auth.login"} <= actions
