"""Reading mail in the browser: sign in, the list, a conversation, a hostile message,
remote images, attachments, keyboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.processes import wait_for
from tests.web import corpus
from tests.web.conftest import Browsing, PixelServer

pytestmark = pytest.mark.e2e
THREADS = corpus.FILLER + 4  # the filler, the budget conversation, three single messages


def open_conversation(web: Browsing, subject: str) -> None:
    web.page.get_by_role("link", name=re.compile(re.escape(subject))).first.click()
    expect(web.page.get_by_role("heading", level=1, name=subject)).to_be_visible()


def test_sign_in_then_every_conversation_by_scrolling(web: Browsing) -> None:
    page = web.page
    page.goto(web.site.base + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    web.shot("01-sign-in")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    web.sign_in()
    rows = page.get_by_role("list", name="Conversations").locator("li.row-item")
    expect(rows.first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"Work, \d+ unread"))).to_be_visible()
    web.shot("02-inbox")
    # Newest first, then the next page arrives as the list scrolls (50 a page).
    expect(rows.first).to_contain_text("Logo preview")
    page.locator("li.sentinel").scroll_into_view_if_needed()
    expect(page.get_by_text(f"That is everything ({THREADS})")).to_be_visible()
    expect(rows).to_have_count(THREADS)


def test_a_conversation_shows_its_messages_in_order(web: Browsing) -> None:
    web.sign_in()
    open_conversation(web, "Budget 2025")
    messages = web.page.locator("article.message")
    expect(messages).to_have_count(3)
    expect(web.page.get_by_text("3 messages")).to_be_visible()
    expect(messages.nth(2)).to_contain_text("Carol Finance")
    # Unread messages are open; plain-text ones are shown as text.
    expect(messages.nth(2).locator("pre.plain-body")).to_have_text(
        "Agreed, I lowered the travel line.\n"
    )
    web.shot("03-conversation")


def test_hostile_html_runs_nothing(web: Browsing) -> None:
    web.sign_in()
    open_conversation(web, "Weekly newsletter")
    iframe = web.page.locator("iframe.message-frame")
    expect(iframe).to_have_count(1)
    frame = web.page.frame_locator("iframe.message-frame")
    expect(frame.locator("body")).to_contain_text("harmless")
    sandbox = iframe.get_attribute("sandbox")
    assert sandbox is not None and "allow-scripts" not in sandbox
    assert "allow-same-origin" not in sandbox
    srcdoc = iframe.get_attribute("srcdoc") or ""
    assert "Content-Security-Policy" in srcdoc and "script-src 'none'" in srcdoc
    assert "<script" not in srcdoc and "onerror" not in srcdoc and "javascript:" not in srcdoc
    # Clicking the link that carried javascript: does nothing either.
    frame.get_by_text("click me").click()
    web.shot("04-hostile-message")
    assert web.page.evaluate("window.__pwned") is None
    assert web.page.title() != "pwned"
    assert not web.dialogs
    inner = [f for f in web.page.frames if f != web.page.main_frame]
    assert inner, "the message frame"
    assert all("pwned" not in f.title() for f in inner)
    assert not [c for c in web.console if "pwned" in c or c.startswith("pageerror")]


def test_remote_images_load_only_when_allowed(web: Browsing, pixel: PixelServer) -> None:
    web.sign_in()
    open_conversation(web, "Logo preview")
    frame = web.page.frame_locator("iframe.message-frame")
    expect(frame.locator("body")).to_contain_text("Our new logo")
    notice = web.page.get_by_role("status").filter(has_text="remote image")
    expect(notice).to_contain_text("1 remote image is hidden")
    expect(frame.locator("img[data-blocked]")).to_have_count(1)
    web.shot("05-remote-image-blocked")
    assert pixel.hits == [], "a blocked image was fetched"
    notice.get_by_role("button", name="Show images").click()
    wait_for(lambda: pixel.hits, timeout=30, what="the remote image fetched once allowed")
    expect(frame.get_by_role("img", name="logo")).to_be_visible()
    web.shot("06-remote-image-shown")


def test_attachments_preview_and_download(web: Browsing) -> None:
    page = web.page
    web.sign_in()
    open_conversation(web, "Holiday photos and the contract")
    attachments = page.get_by_role("region", name="Attachments")
    expect(attachments).to_contain_text("2 attachments")
    preview = attachments.get_by_role("img", name="Preview of photo.png")
    expect(preview).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=preview.element_handle()
    )
    with page.expect_download() as pdf:
        attachments.get_by_role("button", name="Download contract.pdf").click()
    assert pdf.value.suggested_filename == "contract.pdf"
    assert Path(pdf.value.path()).read_bytes() == corpus.PDF
    attachments.get_by_role("button", name="Preview").click()
    expect(attachments.locator("iframe.pdf")).to_have_attribute("src", re.compile("^blob:"))
    with page.expect_download() as raw:
        page.get_by_role("button", name="Download .eml").click()
    body = Path(raw.value.path()).read_bytes()
    assert b"Subject: Holiday photos and the contract" in body
    web.shot("07-attachments")


def test_keyboard_shortcuts(web: Browsing) -> None:
    page = web.page
    web.sign_in()
    rows = page.locator("li.row-item")
    expect(rows.first).to_have_attribute("aria-current", "true")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(2)).to_have_attribute("aria-current", "true")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_attribute("aria-current", "true")
    subject = rows.nth(1).locator(".subject").inner_text()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(subject)
    page.keyboard.press("j")  # the next conversation of the list
    expect(page.get_by_role("heading", level=1)).not_to_have_text(subject)
    page.keyboard.press("u")
    expect(page.get_by_role("heading", name="All inboxes")).to_be_visible()
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("reply to all")
    web.shot("08-shortcuts")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("/")
    expect(page.get_by_role("combobox", name="Search mail")).to_be_focused()


def test_phone_layout(phone: Browsing) -> None:
    page = phone.page
    phone.sign_in()
    expect(page.get_by_role("heading", name="All inboxes")).to_be_visible()
    side = page.get_by_role("navigation", name="Mailboxes")
    expect(side).to_be_hidden()
    phone.shot("09-phone-inbox", full_page=False)
    page.get_by_role("button", name="Mailboxes").click()
    expect(side).to_be_visible()
    header = page.locator("header.top").bounding_box()
    menu = side.bounding_box()
    assert header and menu and menu["y"] >= header["y"] + header["height"] - 1, (header, menu)
    phone.shot("10-phone-menu", full_page=False)
    side.get_by_role("link", name=re.compile("^Work")).click()
    expect(page.get_by_role("heading", level=1, name="Work")).to_be_visible()
    expect(side).to_be_hidden()
