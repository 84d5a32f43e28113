"""Sending from a Gmail mailbox through the API: the outbox worker hands the message to
``users.messages.send`` (the fake Gmail of tests/fakes/gmail.py, as Google documents
it), and the copy lands in the mailbox's Sent view under Gmail's own id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from inboxhub.runtime import build_auth, open_container, start_consumers
from inboxhub.services.fetcher.mailbox_sync import seal_secrets
from inboxhub.services.gateway.app import create_app
from inboxhub.services.sender.worker import SendWorker
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import Settings
from tests.fakes.gmail import serve
from tests.integration.conftest import settle

EMAIL, PASSWORD = "alice@gmail-acme.test", "pass-word-123-gmail"


async def test_a_gmail_mailbox_sends_and_files_the_copy_under_sent(tmp_path: Path) -> None:
    with serve() as fake:
        fake.add_mailbox(EMAIL)
        settings = Settings(
            data_dir=tmp_path / "data",
            processor_workers=1,
            consumer_backoff_seconds=0.01,
            consumer_max_attempts=2,
            rate_limit_enabled=False,
            gmail_api_url=fake.url,
            google_token_url=fake.token_url,
            google_auth_url=fake.auth_url,
            google_client_id=fake.client_id,
            google_client_secret=fake.client_secret,
        )
        c = await open_container(settings)
        stop = asyncio.Event()
        tasks = start_consumers(c, ("processor", "indexer"), stop)
        try:
            auth = await build_auth(c)
            boot = await bootstrap(c.directory, c.bus, auth.hasher, "acme", EMAIL, PASSWORD)
            secrets = seal_secrets(c, {"token": fake.issue_token(EMAIL)})
            box = await c.directory.create_mailbox(
                boot.tenant.id, "Gmail", "gmail", {"email": EMAIL}, secrets
            )
            app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
                )
                client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                r = await client.post(
                    "/api/v1/messages",
                    json={
                        "mailbox_id": box.id,
                        "to": ["bob@partner.test"],
                        "bcc": ["hidden@partner.test"],
                        "subject": "Through the API",
                        "text": "Hello Bob.",
                    },
                )
                assert r.status_code == 202, r.text
                assert await SendWorker(c).run_once() == 1
                [(sender, recipients, raw)] = fake.sent
                assert sender == EMAIL
                assert sorted(recipients) == ["bob@partner.test", "hidden@partner.test"]
                assert r.json()["message_id"].encode() in raw

                done = (await client.get(r.json()["status_url"])).json()
                assert done["state"] == "sent" and done["provider_message_id"]
                await settle(c)
                found = await client.get("/api/v1/search", params={"q": "in:sent api"})
                assert [i["id"] for i in found.json()["items"]] == [done["email_id"]]
                copy = (await client.get(f"/api/v1/emails/{done['email_id']}")).json()
                assert copy["labels"] == ["SENT"]
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await c.close()
