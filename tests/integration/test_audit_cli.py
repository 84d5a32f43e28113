"""``inboxhub audit verify`` and ``purge`` on SQLite and PostgreSQL: the command finds a
record edited in the store, keeps verifying after ``secrets rotate`` (the tenants'
audit keys are sealed columns), and purges by the tenant's retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from inboxhub.cli import app
from inboxhub.domain.audit import AuditEntry, AuditPolicy
from inboxhub.runtime import open_container
from inboxhub.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/inboxhub.db"
    name = f"audit_{request.node.name[-12:]}".lower().replace("[", "").replace("]", "")
    return str(request.getfixturevalue("postgres").create_database(name))


@pytest.fixture(autouse=True)
def _logging_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command would point the logs at the runner's captured stderr, closed once it
    returns, and later tests' logging would fail on it."""
    monkeypatch.setattr("inboxhub.logging.configure", lambda *_args, **_kwargs: None)


async def inboxhub(tmp_path: Path, url: str, keys: str, *args: str) -> tuple[int, str]:
    """The command, in a thread of its own (it runs its own event loop)."""
    env = {
        "INBOXHUB_DATA_DIR": str(tmp_path / "data"),
        "INBOXHUB_DATABASE_URL": url,
        "INBOXHUB_SECRET_KEY": keys,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.output


async def test_verify_rotate_tamper_and_purge(tmp_path: Path, database_url: str) -> None:
    c = await open_container(
        Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="key1")
    )
    acme = await c.directory.create_tenant("acme", "Acme")
    other = await c.directory.create_tenant("other", "Other")
    old = datetime.now(UTC) - timedelta(days=40)
    for n in range(6):
        when = old + timedelta(days=n * 10)  # 40, 30, 20, 10, 0 days ago, 10 days on
        await c.audit.append(acme.id, AuditEntry(f"a{n}", when, "auth.login", actor_id="u"))
    await c.audit.append(other.id, AuditEntry("b0", old, "auth.login", actor_id="v"))
    await c.close()

    code, output = await inboxhub(tmp_path, database_url, "key2,key1", "secrets", "rotate")
    assert code == 0 and "audit_chains.key: 2 re-encrypted" in output, output
    code, output = await inboxhub(tmp_path, database_url, "key2", "audit", "verify")
    assert code == 0, output
    assert f"{acme.id}: 6 records verified" in output and f"{other.id}: 1 records" in output

    c = await open_container(
        Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="key2")
    )
    await c.audit.set_policy(acme.id, AuditPolicy(retention_days=15))
    await c.close()
    code, output = await inboxhub(tmp_path, database_url, "key2", "audit", "purge")
    assert code == 0 and f"{acme.id}: 3 records purged" in output, output
    assert f"{other.id}: 0 records purged" in output
    code, output = await inboxhub(
        tmp_path, database_url, "key2", "audit", "verify", "--tenant", "acme"
    )
    assert code == 0 and f"{acme.id}: 3 records verified" in output, output

    c = await open_container(
        Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="key2")
    )
    async with c.directory.tx(acme.id) as conn:  # type: ignore[attr-defined]
        await conn.execute(text("UPDATE audit_log SET action = 'auth.logout' WHERE seq = 5"))
    await c.close()
    code, output = await inboxhub(tmp_path, database_url, "key2", "audit", "verify")
    assert code == 1 and "broken at seq 5" in output, output
    code, output = await inboxhub(
        tmp_path, database_url, "key2", "audit", "verify", "--tenant", "nobody"
    )
    assert code != 0
