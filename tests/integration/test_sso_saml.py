"""SAML 2.0 sign-in against a real identity provider (pysaml2's Server with its own
key, on a loopback port, tests/idp/saml.py), and the tenant admins' SAML config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from inboxhub.services.auth.sso.saml_sp import XMLSEC
from tests.idp.harness import MEMBER, UNVERIFIED, VERIFIED, Site, local, site, sso_code
from tests.idp.saml import SamlIdp, form_fields

pytestmark = pytest.mark.skipif(XMLSEC is None, reason="xmlsec1 is not installed (apt xmlsec1)")

LOGIN = "/api/v1/auth/sso/acme/saml/login"
ACS = "/api/v1/auth/sso/acme/saml/acs"


@pytest.fixture(scope="module")
def idp() -> Iterator[SamlIdp]:
    server = SamlIdp().start()
    yield server
    server.stop()


@pytest.fixture()
async def s(tmp_path: Path, idp: SamlIdp) -> AsyncIterator[Site]:
    idp.tamper = None
    async with site(tmp_path) as running, running.browser() as browser:
        idp.sp_metadata = [
            (await browser.get(f"/api/v1/auth/sso/{slug}/saml/metadata")).text
            for slug in ("acme", "other")
        ]
        body = {"idp_metadata_url": f"{idp.url}/metadata"}
        r = await running.admin.put("/api/v1/sso/saml", json=body)
        assert r.status_code == 200, r.text
        yield running


async def _response_form(s: Site, idp: SamlIdp, email: str) -> tuple[str, dict[str, str]]:
    """Start at inboxhub, sign in at the IdP: the form the browser would post."""
    idp.login_as = email
    async with s.browser() as browser:
        start = await browser.get(LOGIN)
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(f"{idp.url}/sso/redirect?SAMLRequest=")
    async with httpx.AsyncClient() as at_idp:
        page = await at_idp.get(start.headers["location"])
    assert page.status_code == 200, page.text
    return form_fields(page.text)


async def _post(s: Site, action: str, fields: dict[str, str]) -> httpx.Response:
    async with s.browser() as browser:
        return await browser.post(
            local(action) if action.startswith("http://inboxhub.test") else ACS,
            content=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


async def _sign_in(s: Site, idp: SamlIdp, email: str) -> httpx.Response:
    done = await _post(s, *await _response_form(s, idp, email))
    assert done.status_code == 303, done.text
    async with s.browser() as browser:
        return await browser.post(
            "/api/v1/auth/sso/exchange", json={"code": sso_code(done.headers["location"])}
        )


# ---------------------------------------------------------------- configuration


async def test_sp_metadata_names_the_tenants_acs(s: Site) -> None:
    async with s.browser() as browser:
        r = await browser.get("/api/v1/auth/sso/acme/saml/metadata")
        missing = await browser.get("/api/v1/auth/sso/nobody/saml/metadata")
    assert r.status_code == 200 and "samlmetadata+xml" in r.headers["content-type"]
    assert 'entityID="http://inboxhub.test/api/v1/auth/sso/acme/saml/metadata"' in r.text
    assert 'Location="http://inboxhub.test/api/v1/auth/sso/acme/saml/acs"' in r.text
    assert missing.status_code == 404


async def test_admins_read_the_config_others_cannot(s: Site, idp: SamlIdp) -> None:
    r = await s.admin.get("/api/v1/sso/saml")
    assert r.status_code == 200
    assert r.json()["idp_entity_id"] == idp.entity_id
    assert r.json()["want_assertions_signed"] is True
    assert (await s.member.get("/api/v1/sso/saml")).status_code == 403
    assert (await s.other_admin.get("/api/v1/sso/saml")).status_code == 404


async def test_metadata_that_is_not_metadata_is_refused(s: Site) -> None:
    r = await s.admin.put("/api/v1/sso/saml", json={"idp_metadata_xml": "<nope/>"})
    assert r.status_code == 422


# ---------------------------------------------------------------- sign-in


async def test_an_existing_user_signs_in(s: Site, idp: SamlIdp) -> None:
    tokens = await _sign_in(s, idp, MEMBER)
    assert tokens.status_code == 200, tokens.text
    logins = [a for a in await s.audit("auth.login") if a["detail"].get("protocol") == "saml"]
    assert [a["tenant_id"] for a in logins] == [s.acme]


async def test_a_new_user_on_a_verified_domain_is_created(s: Site, idp: SamlIdp) -> None:
    tokens = await _sign_in(s, idp, f"fresh@{VERIFIED}")
    assert tokens.status_code == 200, tokens.text
    [(user, _)] = await s.c.directory.find_users_by_email(f"fresh@{VERIFIED}")
    assert user.tenant_id == s.acme and user.roles == ["member"]


async def test_no_new_user_on_an_unverified_domain(s: Site, idp: SamlIdp) -> None:
    done = await _post(s, *await _response_form(s, idp, f"someone@{UNVERIFIED}"))
    assert done.status_code == 403


@pytest.mark.parametrize(
    "tamper", ["unsigned", "other_key", "audience", "expired", "recipient", "unsolicited"]
)
async def test_a_bad_response_is_refused(s: Site, idp: SamlIdp, tamper: str) -> None:
    idp.tamper = tamper
    done = await _post(s, *await _response_form(s, idp, MEMBER))
    assert done.status_code == 401, done.text
    assert done.headers["content-type"] == "application/problem+json"


async def test_a_response_is_accepted_once(s: Site, idp: SamlIdp) -> None:
    action, fields = await _response_form(s, idp, MEMBER)
    assert (await _post(s, action, fields)).status_code == 303
    assert (await _post(s, action, fields)).status_code == 401


async def test_a_response_for_another_request_is_refused(s: Site, idp: SamlIdp) -> None:
    idp.login_as = MEMBER
    async with s.browser() as browser:  # a request is outstanding, but not this one
        assert (await browser.get(LOGIN)).status_code == 302
    page = idp.respond(
        "http://inboxhub.test/api/v1/auth/sso/acme/saml/metadata",
        "http://inboxhub.test/api/v1/auth/sso/acme/saml/acs",
        "_not-a-request-we-made",
    )
    assert (await _post(s, *form_fields(page))).status_code == 401


async def test_another_tenants_acs_does_not_take_the_response(s: Site, idp: SamlIdp) -> None:
    other = {"idp_metadata_url": f"{idp.url}/metadata"}
    assert (await s.other_admin.put("/api/v1/sso/saml", json=other)).status_code == 200
    _, fields = await _response_form(s, idp, MEMBER)  # made for acme
    async with s.browser() as browser:
        r = await browser.post(
            "/api/v1/auth/sso/other/saml/acs",
            content=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 401
