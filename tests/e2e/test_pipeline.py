"""The whole system as a user meets it: `inboxhub run`, `inboxhub import`, real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.messages import dated, make_message, write_maildir
from tests.support.processes import cli, running_server

pytestmark = pytest.mark.e2e

ADMIN = {"INBOXHUB_ADMIN_EMAIL": "admin@example.com", "INBOXHUB_ADMIN_PASSWORD": "s3cret-pass"}
PDF = b"%PDF-1.4\n% test attachment\n" + bytes(range(256))
HOSTILE_HTML = (
    '<p onclick="steal()">Quarterly <b>numbers</b></p><script>alert(1)</script>'
    '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
)


def corpus() -> list[bytes]:
    messages = [
        make_message(f"Weekly report {i}", date=dated(i), text=f"Status update number {i}.\n")
        for i in range(12)
    ]
    messages.append(
        make_message(
            "Contract draft",
            date=dated(100),
            text="Please find the contract attached.\n",
            attachments=[("contract ü.pdf", "application/pdf", PDF)],
        )
    )
    messages.append(make_message("Café menu", date=dated(101), text=None, html=HOSTILE_HTML))
    messages.append(b"this is not\x00 a mail\xff message at all")
    return messages


def login(base: str, email: str, password: str) -> httpx.Client:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["refresh_token"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {body['access_token']}"})


def all_items(client: httpx.Client, **params: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/emails",
            params={**params, "limit": 5, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture()
def server(tmp_path: Path):
    data = tmp_path / "data"
    with running_server(data, **ADMIN) as base:
        yield base, data


def test_import_then_list_view_raw_attachment_search(server, tmp_path: Path) -> None:
    base, data = server
    messages = corpus()
    maildir = write_maildir(tmp_path / "Maildir", messages, seen_every=3)
    done = cli(data, "import", str(maildir), "--mailbox", "Work", **ADMIN)
    assert done.returncode == 0, done.stderr
    client = login(base, "admin@example.com", "s3cret-pass")

    boxes = client.get("/api/v1/mailboxes").json()["items"]
    assert [(b["name"], b["provider"]) for b in boxes] == [("Work", "local")]
    items = all_items(client, mailbox_id=boxes[0]["id"])
    assert len(items) == 15 and len({i["id"] for i in items}) == 15
    dates = [i["date"] for i in items if i["date"]]
    assert dates == sorted(dates, reverse=True), "newest first"

    contract = next(i for i in items if i["subject"] == "Contract draft")
    assert contract["has_attachments"] and contract["from"]["email"] == "alice@example.com"
    view = client.get(f"/api/v1/emails/{contract['id']}").json()
    att = view["attachments"][0]
    assert att["filename"] == "contract ü.pdf" and att["size"] == len(PDF)
    got = client.get(f"/api/v1/emails/{contract['id']}/attachments/{att['id']}")
    assert got.content == PDF and got.headers["content-type"] == "application/pdf"
    no_direct = client.get(f"/api/v1/emails/{contract['id']}/attachments/{att['id']}/url")
    assert no_direct.status_code == 404, "the file store has no presigned URLs"
    assert no_direct.headers["content-type"] == "application/problem+json"
    raw = client.get(f"/api/v1/emails/{contract['id']}/raw")
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert raw.content in messages

    cafe = next(i for i in items if i["subject"] == "Café menu")
    html = client.get(f"/api/v1/emails/{cafe['id']}").json()["html"]
    assert "numbers" in html
    for bad in ("<script", "onerror", "onclick", "javascript:"):
        assert bad not in html

    broken = [i for i in items if not i["subject"] and i["from"] is None]
    assert len(broken) == 1, "the malformed message is stored and listed"
    detail = client.get(f"/api/v1/emails/{broken[0]['id']}").json()
    assert detail["parse_errors"], "and marked"

    hits = client.get("/api/v1/search", params={"q": "contract"}).json()
    assert [h["subject"] for h in hits["items"]] == ["Contract draft"] and hits["total"] == 1
    assert any("<mark>" in f for fs in hits["items"][0]["highlights"].values() for f in fs)
    assert client.get("/api/v1/search", params={"q": "cafe"}).json()["total"] == 1
    with_files = client.get("/api/v1/search", params={"q": "has:attachment", "limit": 50})
    assert {h["id"] for h in with_files.json()["items"]} == {
        i["id"] for i in items if i["has_attachments"]
    }
    in_work = client.get("/api/v1/search", params={"q": "in:work contract"}).json()
    assert in_work["total"] == 1
    assert client.get("/api/v1/search", params={"q": "in:elsewhere"}).json()["total"] == 0
    faceted = client.get("/api/v1/search", params={"q": "", "facets": "true"}).json()
    assert faceted["facets"]["mailbox"] == {boxes[0]["id"]: 15}
    assert sum(faceted["facets"]["has_attachment"].values()) == 15
    assert faceted["facets"]["sender_domain"].get("example.com", 0) >= 1
    unread = client.get("/api/v1/search", params={"q": "is:unread", "limit": 50}).json()
    assert unread["total"] == sum(not i["flags"]["seen"] for i in items) > 0

    again = cli(data, "import", str(maildir), "--mailbox", "Work", **ADMIN)
    assert again.returncode == 0, again.stderr
    assert len(all_items(client)) == 15, "importing again adds nothing"


def test_errors_are_problem_json(server) -> None:
    base, _ = server
    r = httpx.get(f"{base}/api/v1/emails")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401
    bad = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": "admin@example.com", "password": "wrong"}
    )
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    client = login(base, "admin@example.com", "s3cret-pass")
    missing = client.get("/api/v1/emails/does-not-exist")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
    bad_query = client.get("/api/v1/search", params={"q": '"unclosed'})
    assert bad_query.status_code == 400 and "position" in bad_query.json()
    bad_filter = client.get("/api/v1/search", params={"q": "before:someday"})
    assert bad_filter.status_code == 400 and bad_filter.json()["position"] == 7
    bad_cursor = client.get("/api/v1/emails", params={"cursor": "!!!"})
    assert bad_cursor.status_code == 422
    jwks = httpx.get(f"{base}/.well-known/jwks.json").json()
    assert jwks["keys"] and jwks["keys"][0]["alg"] == "EdDSA"
    assert httpx.get(f"{base}/metrics").text.count("inboxhub_http_requests_total") > 0


def test_tenants_are_walled_off(server, tmp_path: Path) -> None:
    base, data = server
    a_dir = write_maildir(tmp_path / "a", [make_message("alpha secret plan", date=dated(1))])
    b_dir = write_maildir(tmp_path / "b", [make_message("bravo other news", date=dated(2))])
    made = cli(
        data,
        "tenant",
        "create",
        "acme",
        "--admin-email",
        "boss@acme.test",
        "--admin-password",
        "acme-pass-123",
        **ADMIN,
    )
    assert made.returncode == 0, made.stderr
    assert cli(data, "import", str(a_dir), "--mailbox", "A", **ADMIN).returncode == 0
    assert (
        cli(data, "import", str(b_dir), "--mailbox", "B", "--tenant", "acme", **ADMIN).returncode
        == 0
    )

    default = login(base, "admin@example.com", "s3cret-pass")
    acme = login(base, "boss@acme.test", "acme-pass-123")
    a_item = all_items(default)[0]
    b_item = all_items(acme)[0]
    assert a_item["subject"] == "alpha secret plan" and b_item["subject"] == "bravo other news"
    for path in (f"/api/v1/emails/{a_item['id']}", f"/api/v1/emails/{a_item['id']}/raw"):
        assert acme.get(path).status_code == 404
    assert (
        acme.get("/api/v1/emails", params={"mailbox_id": a_item["mailbox_id"]}).status_code == 404
    )
    assert acme.get("/api/v1/search", params={"q": "alpha"}).json()["total"] == 0
    assert default.get("/api/v1/search", params={"q": "bravo"}).json()["total"] == 0
    assert [b["name"] for b in acme.get("/api/v1/mailboxes").json()["items"]] == ["B"]


def test_import_of_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    done = cli(tmp_path / "data", "import", str(tmp_path / "nowhere"), "--mailbox", "x", **ADMIN)
    said = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert done.returncode == 2
    assert "does not exist" in said and "Traceback" not in said
