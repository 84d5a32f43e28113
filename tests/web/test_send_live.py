"""Sending from the browser (to a real SMTP submission server, from an IMAP mailbox on
Dovecot) and new mail appearing without a reload (IMAP push → pipeline → WebSocket)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from inboxhub.services.web.static import DIST
from tests.support.messages import dated, make_message
from tests.support.processes import running_server, wait_for
from tests.support.servers.dovecot import Dovecot
from tests.support.smtp_submission import Submission
from tests.web.conftest import ADMIN, Browsing, Site, _browsing

pytestmark = pytest.mark.e2e
ADDRESS = "pat@example.com"


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Team:
    def __init__(self, site: Site, dovecot: Dovecot, submission: Submission) -> None:
        self.site, self.dovecot, self.submission = site, dovecot, submission


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, dovecot: Dovecot) -> Iterator[Team]:
    if not (DIST / "index.html").is_file():
        pytest.skip(f"the web inbox is not built ({DIST}): `make test` builds it")
    root = tmp_path_factory.mktemp("web-send")
    password = "pw-pat-" + root.name
    dovecot.add_user(ADDRESS, password)
    dovecot.append(
        ADDRESS,
        "INBOX",
        crlf(
            make_message(
                "Lunch on Friday?",
                sender="Quinn <quinn@example.org>",
                to=f"Pat <{ADDRESS}>",
                date=dated(5),
                message_id="<lunch-1@example.org>",
                text="Shall we have lunch on Friday?\n",
            )
        ),
    )
    submission = Submission(root, "none", users={ADDRESS: password})
    env = {**ADMIN, "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS": "true"}
    with submission.running(), running_server(root / "data", **env) as base:
        site = Site(base, root / "data")
        settings = {
            "host": "127.0.0.1",
            "port": dovecot.imap_port,
            "security": "none",
            "username": ADDRESS,
            "password": password,
            "smtp": {"host": "127.0.0.1", "port": submission.port, "security": "none"},
        }
        with site.api() as api:
            r = api.post(
                "/api/v1/mailboxes", json={"name": "Pat", "provider": "imap", "settings": settings}
            )
            assert r.status_code == 201, r.text
            wait_for(
                lambda: api.get("/api/v1/search", params={"q": "lunch"}).json()["total"] == 1,
                timeout=120,
                what="the IMAP mailbox's first sync",
            )
        yield Team(site, dovecot, submission)


@pytest.fixture()
def web_team(browser: Any, team: Team) -> Iterator[Browsing]:
    yield from _browsing(browser, team.site, viewport={"width": 1280, "height": 860})


def test_compose_with_an_attachment_arrives_at_the_smtp_server(
    web_team: Browsing, team: Team, tmp_path: Path
) -> None:
    page = web_team.page
    web_team.sign_in()
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog", name="New message")
    expect(dialog).to_be_visible()
    dialog.get_by_label("To").fill("Robin <robin@example.net>")
    dialog.get_by_label("Subject").fill("Minutes of the meeting")
    dialog.get_by_label("Message").fill("Hello Robin,\nthe minutes are attached.\n")
    notes = tmp_path / "minutes.txt"
    notes.write_bytes(b"1. We met.\n2. We agreed.\n")
    dialog.get_by_label("Attach files").set_input_files(str(notes))
    expect(dialog.get_by_role("list", name="Attached files")).to_contain_text("minutes.txt")
    web_team.shot("16-compose")
    dialog.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").filter(has_text="Sent.")).to_be_visible(timeout=60_000)
    web_team.shot("17-sent")
    got = wait_for(
        lambda: [r for r in team.submission.received if b"Minutes of the meeting" in r.data],
        what="the message at the SMTP server",
    )
    assert got[0].recipients == ["robin@example.net"]
    message = message_from_bytes(got[0].data, policy=policy.default)
    assert message["Subject"] == "Minutes of the meeting"
    assert ADDRESS in str(message["From"])
    files = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    assert files["minutes.txt"].replace("\r\n", "\n") == "1. We met.\n2. We agreed.\n"
    page.get_by_role("link", name="Outbox").click()
    sent = page.locator("tr[data-state='sent']").filter(has_text="Minutes of the meeting")
    expect(sent).to_contain_text("robin@example.net")
    web_team.shot("18-outbox")


def test_reply_from_the_keyboard_answers_the_conversation(web_team: Browsing, team: Team) -> None:
    page = web_team.page
    web_team.sign_in()
    page.get_by_role("link", name=re.compile("Lunch on Friday")).first.click()
    expect(page.get_by_role("heading", level=1, name="Lunch on Friday?")).to_be_visible()
    page.keyboard.press("r")
    dialog = page.get_by_role("dialog", name="Reply")
    expect(dialog.get_by_label("To")).to_have_value(re.compile("quinn@example.org"))
    expect(dialog.get_by_label("Subject")).to_have_value("Re: Lunch on Friday?")
    dialog.get_by_label("Message").fill("Yes, see you at noon.\n")
    web_team.shot("19-reply")
    dialog.get_by_role("button", name="Send").click()
    got = wait_for(
        lambda: [r for r in team.submission.received if b"see you at noon" in r.data],
        timeout=60,
        what="the reply at the SMTP server",
    )
    message = message_from_bytes(got[0].data, policy=policy.default)
    assert message["In-Reply-To"] == "<lunch-1@example.org>"
    assert got[0].recipients == ["quinn@example.org"]


def test_new_mail_appears_without_a_reload(web_team: Browsing, team: Team) -> None:
    page = web_team.page
    web_team.sign_in()
    rows = page.get_by_role("list", name="Conversations")
    expect(rows.get_by_text("Lunch on Friday?")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    team.dovecot.append(
        ADDRESS,
        "INBOX",
        crlf(make_message("Fresh news just in", to=ADDRESS, text="It arrived while you looked.\n")),
    )
    expect(rows.get_by_text("Fresh news just in")).to_be_visible(timeout=90_000)
    assert page.evaluate("window.__notReloaded") is True  # the same page, not a reload
    web_team.shot("20-live-new-mail")
