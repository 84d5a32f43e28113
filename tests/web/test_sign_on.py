"""Single sign-on offered only where configured, signing in through a real OpenID
Provider in the browser, and Gmail's consent screen coming back to the app."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.fakes.gmail import FakeGmail
from tests.idp.oidc import CLIENT_ID, CLIENT_SECRET, OidcIdp
from tests.support.messages import make_message
from tests.support.processes import cli
from tests.web.conftest import ADMIN, Browsing, Site

pytestmark = pytest.mark.e2e

SSO_TENANT, SSO_ADMIN, SSO_PASSWORD = "acme", "boss@acme.test", "acme-boss-pass-1"
GMAIL = "someone@gmail.test"


@pytest.fixture(scope="module")
def oidc_tenant(site: Site, idp: OidcIdp) -> str:
    """Tenant ``acme`` with a verified domain and the test IdP as its OIDC provider."""
    done = cli(
        site.data, "tenant", "create", SSO_TENANT, "--admin-email", SSO_ADMIN,
        "--admin-password", SSO_PASSWORD, **ADMIN,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with site.api(SSO_ADMIN, SSO_PASSWORD) as acme:
        tenant_id = acme.get("/api/v1/tenants/current").json()["id"]
        assert acme.post("/api/v1/domains", json={"domain": "acme.test"}).status_code == 201
        with site.api() as operator:
            r = operator.post(f"/api/v1/tenants/{tenant_id}/domains/acme.test/verify")
            assert r.status_code == 200, r.text
        config = {"issuer": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        r = acme.put("/api/v1/sso/oidc", json=config)
        assert r.status_code == 200, r.text
    return SSO_TENANT


def test_discovery_names_only_what_is_configured(site: Site, oidc_tenant: str) -> None:
    def offer(tenant: str) -> dict[str, object]:
        r = httpx.get(f"{site.base}/api/v1/auth/sso/discover", params={"tenant": tenant})
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        assert set(body) == {"tenant", "methods"} and body["tenant"] == tenant
        return body

    configured = offer(oidc_tenant)["methods"]
    assert configured == [
        {"protocol": "oidc", "login_url": f"/api/v1/auth/sso/{oidc_tenant}/oidc/login"}
    ]
    # a tenant without single sign-on, an unknown one and nonsense: the same answer
    for tenant in ("default", "no-such-tenant", "../../etc", "x" * 100):
        assert offer(tenant)["methods"] == []


def test_sso_buttons_only_for_a_configured_tenant(web: Browsing, oidc_tenant: str) -> None:
    page = web.page
    page.goto(web.site.base + "/")
    sso = page.get_by_role("form", name="Single sign-on")
    sso.get_by_label("Organisation short name").fill("default")
    sso.get_by_role("button", name="Continue").click()
    expect(sso.get_by_role("status")).to_contain_text("offers no single sign-on")
    expect(sso.get_by_role("link", name=re.compile("Sign in with"))).to_have_count(0)
    web.shot("20-sso-none")

    sso.get_by_label("Organisation short name").fill(oidc_tenant)
    sso.get_by_role("button", name="Continue").click()
    expect(sso.get_by_role("link", name="Sign in with OpenID Connect")).to_be_visible()
    expect(sso.get_by_role("link", name="Sign in with SAML")).to_have_count(0)
    web.shot("21-sso-oidc")


def test_signing_in_through_the_identity_provider_lands_in_the_inbox(
    web: Browsing, idp: OidcIdp, oidc_tenant: str
) -> None:
    page = web.page
    idp.sign_in(SSO_ADMIN)  # the IdP's authorization endpoint signs this user in at once
    page.goto(web.site.base + "/")
    sso = page.get_by_role("form", name="Single sign-on")
    sso.get_by_label("Organisation short name").fill(oidc_tenant)
    sso.get_by_role("button", name="Continue").click()
    sso.get_by_role("link", name="Sign in with OpenID Connect").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator(".me")).to_have_text(SSO_ADMIN)
    assert "sso_code" not in page.url  # the one-time code is taken off the address
    assert urlsplit(page.url).netloc == urlsplit(web.site.base).netloc
    web.shot("22-sso-signed-in")


def test_gmail_consent_comes_back_to_the_mailboxes_page(web: Browsing, gmail: FakeGmail) -> None:
    page = web.page
    gmail.add_mailbox(GMAIL)
    gmail.add_message(GMAIL, make_message("hello from gmail"), labels=["INBOX"])
    web.sign_in()
    page.get_by_role("link", name="Mailboxes & sync").click()
    consent = page.get_by_role("region", name="Connect Gmail or Microsoft 365")
    consent.get_by_label("Name (optional)").fill("Google")
    consent.get_by_role("button", name="Connect Gmail").click()  # to the consent screen and back
    expect(page.get_by_role("status").filter(has_text="Connected Google")).to_be_visible()
    expect(page.locator("tr[data-mailbox='Google']")).to_contain_text("gmail")
    # the outcome is taken off the address by an effect, which runs after the first paint
    expect(page).to_have_url(f"{web.site.base}/admin/mailboxes")
    web.shot("23-gmail-connected")

    with web.site.api() as api:  # a refusal at the consent screen comes back too
        r = api.get(
            "/api/v1/mailboxes/oauth/gmail/authorize", params={"return_to": "/admin/mailboxes"}
        )
        assert r.status_code == 200, r.text
        state = parse_qs(urlsplit(r.json()["authorization_url"]).query)["state"][0]
        for box in api.get("/api/v1/mailboxes").json()["items"]:
            if box["name"] == "Google":  # leave the other tests the mailboxes they expect
                assert api.delete(f"/api/v1/mailboxes/{box['id']}").status_code == 204
        assert (
            api.get(
                "/api/v1/mailboxes/oauth/gmail/authorize",
                params={"return_to": "//evil.example/"},
            ).status_code
            == 422
        )
    denied = "error=access_denied&error_description=The+user+said+no"
    page.goto(f"{web.site.base}/api/v1/mailboxes/oauth/gmail/callback?{denied}&state={state}")
    expect(page.get_by_role("alert")).to_contain_text("The user said no")
    expect(page).to_have_url(f"{web.site.base}/admin/mailboxes")
    web.shot("24-gmail-refused")
