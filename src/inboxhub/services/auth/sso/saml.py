"""SAML 2.0 Web Browser SSO (SAML Profiles §4.1) with pysaml2: an AuthnRequest by
HTTP-Redirect, the Response by HTTP-POST to the ACS.

pysaml2 checks signatures (against the IdP metadata's certificates only), audience,
NotBefore/NotOnOrAfter with a small skew, and InResponseTo against the request we
remember. On top: the request is remembered server side and used once, the issuer
must be the configured IdP, Destination and every bearer Recipient must be our ACS
URL, and each assertion id is accepted once until it expires (replay protection).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.response import AuthnResponse
from saml2.samlp import Response, response_from_string
from saml2.time_util import str_to_time

from inboxhub.domain.errors import Unauthorized
from inboxhub.ports import SsoStore
from inboxhub.services.auth.sso.config import SamlSettings
from inboxhub.services.auth.sso.oidc import Identity
from inboxhub.services.auth.sso.saml_sp import SpKeys, sp_config
from inboxhub.services.auth.sso.tickets import LOGIN_SECONDS, SAML_REQUEST, Tickets

MAX_RESPONSE = 1 << 20


@dataclass(frozen=True)
class Sp:
    """One tenant's service provider: who we are to its IdP."""

    entity_id: str
    acs_url: str
    keys: SpKeys

    def client(self, config: SamlSettings) -> Saml2Client:
        return Saml2Client(
            config=sp_config(self.entity_id, self.acs_url, self.keys, config.idp_metadata_xml)
        )


@dataclass
class SamlLogin:
    tickets: Tickets
    store: SsoStore

    async def start(self, tenant_id: str, sp: Sp, config: SamlSettings) -> str:
        """The IdP URL carrying our AuthnRequest (HTTP-Redirect binding)."""

        def prepare() -> tuple[str, str]:
            request_id, info = sp.client(config).prepare_for_authenticate(
                entityid=config.idp_entity_id, binding=BINDING_HTTP_REDIRECT
            )
            return str(request_id), dict(info["headers"])["Location"]

        request_id, location = await asyncio.to_thread(prepare)
        await self.tickets.put(tenant_id, SAML_REQUEST, request_id, {}, LOGIN_SECONDS)
        return location

    async def finish(
        self, tenant_id: str, sp: Sp, config: SamlSettings, saml_response: str
    ) -> Identity:
        outer = _outer(saml_response)
        request_id = outer.in_response_to or ""
        if await self.tickets.take(tenant_id, SAML_REQUEST, request_id) is None:
            raise Unauthorized("unsolicited SAML response, or its request was answered already")
        _check_issuers(outer, config.idp_entity_id)

        def parse() -> AuthnResponse:
            parsed = sp.client(config).parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
            )
            if parsed is None:
                raise ValueError("no response")
            return parsed

        try:
            parsed = await asyncio.to_thread(parse)
        except Exception as exc:  # pysaml2 raises many kinds; none may pass
            raise Unauthorized(f"the SAML response is not valid: {_reason(exc)}") from exc
        _check_addresses(parsed.response, sp.acs_url)
        for assertion in parsed.response.assertion:
            expires = _expiry(assertion)
            if not await self.store.remember_assertion(tenant_id, assertion.id, expires):
                raise Unauthorized("this SAML assertion was used already")
        return Identity(email=_email(parsed, config.email_attribute), subject=_name_id(parsed))


def _outer(saml_response: str) -> Response:
    if len(saml_response) > MAX_RESPONSE:
        raise Unauthorized("the SAML response is too large")
    try:
        outer = response_from_string(base64.b64decode(saml_response, validate=False))
    except (binascii.Error, ValueError, SyntaxError) as exc:
        raise Unauthorized("the SAML response does not parse") from exc
    if outer is None:
        raise Unauthorized("not a SAML response")
    return outer


def _check_issuers(outer: Response, idp_entity_id: str) -> None:
    issuers = [outer.issuer] + [a.issuer for a in outer.assertion]
    for issuer in issuers:
        if issuer is not None and (issuer.text or "").strip() != idp_entity_id:
            raise Unauthorized("the SAML response comes from another identity provider")
    if outer.encrypted_assertion:
        return  # its issuer is checked by its signature against the IdP's certificates
    if not outer.assertion or any(a.issuer is None for a in outer.assertion):
        raise Unauthorized("the SAML response has no assertion from the identity provider")


def _check_addresses(response: Response, acs_url: str) -> None:
    if response.destination and response.destination != acs_url:
        raise Unauthorized("the SAML response is addressed to another service provider")
    for assertion in response.assertion:
        confirmations = assertion.subject.subject_confirmation if assertion.subject else []
        bearers = [c for c in confirmations if c.subject_confirmation_data is not None]
        if not bearers or any(c.subject_confirmation_data.recipient != acs_url for c in bearers):
            raise Unauthorized("the SAML assertion is meant for another recipient")


def _expiry(assertion: Any) -> datetime:
    limit = assertion.conditions.not_on_or_after if assertion.conditions else None
    if limit:
        expires = datetime.fromtimestamp(calendar.timegm(str_to_time(limit)), UTC)
        return expires + timedelta(minutes=5)
    return datetime.now(UTC) + timedelta(days=1)


def _email(parsed: AuthnResponse, attribute: str) -> str:
    values = (parsed.ava or {}).get(attribute) or []
    candidate = values[0] if values else _name_id(parsed)
    if not isinstance(candidate, str) or "@" not in candidate:
        raise Unauthorized(f"the SAML assertion carries no email ({attribute!r} nor NameID)")
    return candidate.strip().lower()


def _name_id(parsed: AuthnResponse) -> str:
    name_id = parsed.name_id
    return str(name_id.text).strip() if name_id is not None and name_id.text else ""


def _reason(exc: Exception) -> str:
    return exc.__class__.__name__
