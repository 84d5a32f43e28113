"""``inboxhub secrets rotate``: what was sealed under an old key opens under the new
one alone afterwards, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inboxhub.adapters.db_rotation import sealed_columns
from inboxhub.cli import app
from inboxhub.crypto import SecretBox, SecretDecryptionError
from inboxhub.runtime import build_auth, open_container
from inboxhub.services.auth.tokens import KEYS_SECRET
from inboxhub.settings import Settings


def test_the_encrypted_columns_are_found_from_the_schema() -> None:
    found = {f"{t.name}.{c.name}" for t, columns in sealed_columns() for c in columns}
    assert {"mailboxes.credentials", "secrets.value"} <= found


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/inboxhub.db"
    name = f"rotate_{request.node.name[-12:]}".lower().replace("[", "").replace("]", "")
    return str(request.getfixturevalue("postgres").create_database(name))


async def rotate(tmp_path: Path, database_url: str, keys: str) -> tuple[int, str]:
    """The command, in a thread of its own (it runs its own event loop)."""
    env = {
        "INBOXHUB_DATA_DIR": str(tmp_path / "data"),
        "INBOXHUB_DATABASE_URL": database_url,
        "INBOXHUB_SECRET_KEY": keys,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, ["secrets", "rotate"], env=env)
    return result.exit_code, result.output


async def test_rotated_secrets_open_with_the_new_key_alone(
    tmp_path: Path, database_url: str
) -> None:
    def settings(keys: str) -> Settings:
        return Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=keys)

    c = await open_container(settings("key1"))
    tenant = await c.directory.create_tenant("acme", "Acme")
    sealed = c.box.encrypt(json.dumps({"password": "hunter2"}).encode())
    box = await c.directory.create_mailbox(tenant.id, "Inbox", "imap", {}, sealed)
    kid = (await build_auth(c)).tokens.jwks()["keys"][0]["kid"]  # signing keys, sealed
    await c.close()

    code, output = await rotate(tmp_path, database_url, "key2,key1")
    assert code == 0, output
    assert "mailboxes.credentials: 1 re-encrypted" in output

    c = await open_container(settings("key2"))
    try:
        stored = await c.directory.get_mailbox_credentials(tenant.id, box.id)
        assert stored is not None
        assert json.loads(c.box.decrypt(stored)) == {"password": "hunter2"}
        with pytest.raises(SecretDecryptionError):
            SecretBox("key1").decrypt(stored)
        assert (await build_auth(c)).tokens.jwks()["keys"][0]["kid"] == kid
        keys = await c.directory.get_secret(KEYS_SECRET)
        assert keys is not None and c.box.decrypt(keys)
    finally:
        await c.close()


async def test_a_secret_no_key_opens_stops_the_rotation(tmp_path: Path, database_url: str) -> None:
    c = await open_container(
        Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="key1")
    )
    tenant = await c.directory.create_tenant("acme", "Acme")
    await c.directory.create_mailbox(tenant.id, "Inbox", "imap", {}, c.box.encrypt(b"{}"))
    await c.close()
    code, output = await rotate(tmp_path, database_url, "key2")
    assert code == 2
    assert "none of the configured keys" in output
