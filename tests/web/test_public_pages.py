"""Sign-in with a second factor, and the pages the platform's mail links to: choosing
a new password and accepting an invitation (the mail is read where ``inboxhub run``
drops it, ``<data>/system-mail/*.eml``, and its link followed)."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect

from tests.support.processes import wait_for
from tests.web.conftest import Browsing, Site

pytestmark = pytest.mark.e2e


def _mail_to(data: Path, address: str, path: str) -> str:
    """The link to ``path`` in the newest system mail to ``address``."""

    def find() -> str | None:
        for eml in sorted((data / "system-mail").glob("*.eml"), key=lambda p: p.stat().st_mtime):
            message = message_from_bytes(eml.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if address not in str(message["To"]):
                continue
            body = message.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            if found := re.search(rf"https?://\S+{re.escape(path)}\?token=[\w.~-]+", text):
                return found.group(0)
        return None

    return str(wait_for(find, timeout=60, what=f"the mail to {address}"))


def _new_user(site: Site, email: str, password: str | None = None) -> None:
    body = {"email": email, "roles": ["member"], "password": password}
    with site.api() as api:
        r = api.post("/api/v1/users", json=body)
        assert r.status_code == 201, r.text


def test_sign_in_with_an_authenticator_code(web: Browsing) -> None:
    email, password = "two-factor@example.com", "two-factor-pass-1"
    _new_user(web.site, email, password)
    with web.site.api(email, password) as me:
        r = me.post("/api/v1/auth/totp")
        assert r.status_code == 201, r.text
        totp = pyotp.TOTP(r.json()["secret"])
        r = me.post("/api/v1/auth/totp/confirm", json={"code": totp.now()})
        assert r.status_code == 200, r.text
    page = web.page
    page.goto(web.site.base + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    code = page.get_by_label(re.compile("Code from your authenticator app"))
    expect(code).to_be_focused()
    web.shot("26-sign-in-code")
    code.fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_be_visible()
    # The confirming code is spent: the next step's is accepted (one step of drift).
    code.fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator(".me")).to_have_text(email)


def test_choosing_a_new_password_from_the_reset_mail(web: Browsing) -> None:
    email = "forgetful@example.com"
    _new_user(web.site, email, "the-old-password-1")
    page = web.page
    page.goto(web.site.base + "/")
    page.get_by_text("Forgot your password?").click()
    form = page.get_by_role("form", name="Send a reset link")
    form.get_by_label("Account address").fill(email)
    form.get_by_role("button", name="Send the link").click()
    expect(form.get_by_role("status")).to_contain_text("on its way")
    link = _mail_to(web.site.data, email, "/reset-password")
    page.goto(link)
    form = page.get_by_role("form", name="Choose a new password")
    form.get_by_label(re.compile("New password")).fill("the-new-password-2")
    web.shot("27-reset-password")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("status")).to_contain_text("Done")
    form.get_by_role("link", name="Sign in").click()
    web.sign_in(email, "the-new-password-2")
    page.goto(link)  # the token worked once
    form.get_by_label(re.compile("New password")).fill("the-third-password-3")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("alert")).to_be_visible()


def test_accepting_an_invitation(web: Browsing) -> None:
    email = "invitee@example.com"
    with web.site.api() as api:
        r = api.post("/api/v1/invitations", json={"email": email, "roles": ["member"]})
        assert r.status_code == 201, r.text
    link = _mail_to(web.site.data, email, "/accept-invitation")
    page = web.page
    page.goto(link)
    form = page.get_by_role("form", name="Join your team on inboxhub")
    form.get_by_label(re.compile("New password")).fill("invitee-password-1")
    web.shot("28-accept-invitation")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("status")).to_contain_text("Done")
    form.get_by_role("link", name="Sign in").click()
    web.sign_in(email, "invitee-password-1")
    expect(page.locator(".me")).to_have_text(email)
