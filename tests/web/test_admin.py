"""Administration in the browser: users and mailboxes for admins, the audit log for
auditors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import AUDITOR_EMAIL, AUDITOR_PASSWORD, Browsing

pytestmark = pytest.mark.e2e


def test_admin_manages_users(web: Browsing) -> None:
    page = web.page
    web.sign_in()
    page.get_by_role("link", name="Users").click()
    table = page.get_by_role("table", name="Users of this organisation")
    expect(table.locator("tr[data-user='auditor@example.com']")).to_contain_text("active")
    form = page.get_by_role("form", name="Add a user")
    form.get_by_label("Email").fill("newcomer@example.com")
    form.get_by_label("Role").select_option("member")
    form.get_by_label("Password").fill("a-long-enough-password")
    form.get_by_role("button", name="Add").click()
    row = table.locator("tr[data-user='newcomer@example.com']")
    expect(row).to_be_visible()
    row.get_by_role("button", name="Suspend").click()
    expect(row).to_contain_text("suspended")
    web.shot("13-admin-users")


def test_admin_sees_mailboxes_their_sync_and_assigns_readers(web: Browsing) -> None:
    page = web.page
    with web.site.api() as api:
        r = api.post(
            "/api/v1/users",
            json={"email": "reader@example.com", "roles": ["member"], "password": "reader-pass-1"},
        )
        assert r.status_code == 201, r.text
        reader = r.json()["id"]
    web.sign_in()
    page.get_by_role("link", name="Mailboxes & sync").click()
    row = page.locator("tr[data-mailbox='Work']")
    expect(row).to_contain_text("local")
    expect(row.locator(".badge")).to_be_visible()
    expect(page.get_by_role("form", name="Connect an IMAP mailbox")).to_be_visible()
    web.shot("14-admin-mailboxes")
    row.get_by_role("button", name="Members").click()
    members = page.get_by_role("form", name="Members of Work")
    members.get_by_label("reader@example.com").check()
    members.get_by_role("button", name="Save").click()
    expect(members).to_be_hidden()
    with web.site.api() as api:
        box = api.get("/api/v1/mailboxes").json()["items"][0]["id"]
        assert api.get(f"/api/v1/mailboxes/{box}/members").json()["user_ids"] == [reader]


def test_auditor_reads_filters_and_exports_the_audit_log(web: Browsing) -> None:
    page = web.page
    web.sign_in(AUDITOR_EMAIL, AUDITOR_PASSWORD)
    expect(page.get_by_role("button", name="Compose")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.get_by_role("link", name="Audit log").click()
    records = page.get_by_role("table", name=re.compile("Audit records"))
    expect(records.locator("tbody tr").first).to_be_visible()
    page.get_by_label("Action").fill("auth.login")
    page.get_by_role("button", name="Filter").click()
    expect(records.locator("tbody tr[data-action='auth.login']").first).to_be_visible()
    expect(records.locator("tbody tr:not([data-action='auth.login'])")).to_have_count(0)
    web.shot("15-audit-log")
    with page.expect_download() as export:
        page.get_by_role("button", name="Export CSV").click()
    text = Path(export.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("seq,id,time,actor_id,action")
    assert "auth.login" in text and "email.search" not in text
