"""Password change, and reset by mail through a real SMTP server (aiosmtpd): the link
arrives, works once, and ends every session."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.accounts_app import ADA, BOB, PASSWORD, Accounts, accounts_app, bearer
from tests.support.smtp_sink import SmtpSink

NEW = "second-password-2"
PUBLIC = "https://mail.acme.test"


@pytest.fixture()
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink().running() as server:
        yield server


@pytest.fixture()
async def accounts(tmp_path: Path, smtp: SmtpSink) -> AsyncIterator[Accounts]:
    async with accounts_app(
        tmp_path / "data", system_mail_url=smtp.url, public_url=PUBLIC, password_resets_per_hour=2
    ) as a:
        yield a


async def test_change_needs_the_current_password_and_ends_other_sessions(
    accounts: Accounts,
) -> None:
    other_session = await accounts.tokens()
    this_session = await accounts.tokens()
    async with accounts.client() as client:
        client.headers.update(bearer(this_session["access_token"]))
        url = "/api/v1/auth/password"
        wrong = await client.post(url, json={"current_password": "nope", "new_password": NEW})
        assert wrong.status_code == 403
        weak = await client.post(url, json={"current_password": PASSWORD, "new_password": ADA})
        assert weak.status_code == 422
        same = await client.post(url, json={"current_password": PASSWORD, "new_password": PASSWORD})
        assert same.status_code == 422
        done = await client.post(url, json={"current_password": PASSWORD, "new_password": NEW})
        assert done.status_code == 200, done.text
        client.headers.update(bearer(done.json()["access_token"]))
        assert (await client.get("/api/v1/auth/totp")).status_code == 200
        for session in (other_session, this_session):
            refreshed = await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
            )
            assert refreshed.status_code == 401
        kept = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": done.json()["refresh_token"]}
        )
        assert kept.status_code == 200
    assert (await accounts.login(ADA, PASSWORD)).status_code == 401
    assert (await accounts.login(ADA, NEW)).status_code == 200


def _token(sink: SmtpSink, index: int = -1) -> str:
    got = sink.received[index]
    text = got.data.decode()
    assert f"{PUBLIC}/reset-password?token=" in text
    found = re.search(r"/reset-password\?token=([A-Za-z0-9_\-]+)", text)
    assert found is not None
    return found.group(1)


async def test_a_mailed_reset_link_sets_the_password_once(
    accounts: Accounts, smtp: SmtpSink
) -> None:
    session = await accounts.tokens()
    async with accounts.client() as client:
        asked = await client.post("/api/v1/auth/password/reset", json={"email": ADA.upper()})
        assert asked.status_code == 202
        [mail] = smtp.received
        assert (
            mail.recipients == [ADA] and mail.message["Subject"] == "Reset your inboxhub password"
        )
        token = _token(smtp)
        stored = await accounts.c.accounts.find_reset_token(token)
        assert stored is None  # the database holds only its hash
        confirm = "/api/v1/auth/password/reset/confirm"
        weak = await client.post(confirm, json={"token": token, "new_password": "short"})
        assert weak.status_code == 422  # refused before the token is spent
        done = await client.post(confirm, json={"token": token, "new_password": NEW})
        assert done.status_code == 204
        again = await client.post(
            confirm, json={"token": token, "new_password": "third-password-3"}
        )
        assert again.status_code == 422
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert refreshed.status_code == 401
    assert (await accounts.login(ADA, PASSWORD)).status_code == 401
    assert (await accounts.login(ADA, NEW)).status_code == 200
    actions = [e["action"] for e in await accounts.audit()]
    assert "auth.password_reset_requested" in actions and "auth.password_reset" in actions


async def test_reset_answers_the_same_for_unknown_addresses(
    accounts: Accounts, smtp: SmtpSink
) -> None:
    async with accounts.client() as client:
        known = await client.post("/api/v1/auth/password/reset", json={"email": BOB})
        unknown = await client.post("/api/v1/auth/password/reset", json={"email": "no@acme.test"})
        other_tenant = await client.post(
            "/api/v1/auth/password/reset", json={"email": BOB, "tenant": "nope"}
        )
    assert known.status_code == unknown.status_code == other_tenant.status_code == 202
    assert known.json() == unknown.json() == other_tenant.json()
    assert [m.recipients for m in smtp.received] == [[BOB]]


async def test_a_reset_lifts_a_lockout_and_mails_are_limited(
    accounts: Accounts, smtp: SmtpSink
) -> None:
    for _ in range(3):
        await accounts.login(BOB, "wrong-password")
    assert (await accounts.login(BOB, PASSWORD)).status_code == 429
    async with accounts.client() as client:
        for _ in range(3):  # two an hour in these settings: the third is dropped
            assert (
                await client.post("/api/v1/auth/password/reset", json={"email": BOB})
            ).status_code == 202
        assert len(smtp.received) == 2
        first, second = _token(smtp, 0), _token(smtp, 1)
        confirm = "/api/v1/auth/password/reset/confirm"
        assert (
            await client.post(confirm, json={"token": second, "new_password": NEW})
        ).status_code == 204
        # setting the password spends every other link too
        assert (
            await client.post(confirm, json={"token": first, "new_password": NEW + "x"})
        ).status_code == 422
    assert (await accounts.login(BOB, NEW)).status_code == 200
