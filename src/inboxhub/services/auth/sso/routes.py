"""Single sign-on over HTTP.

Tenant admins (owner, admin): ``GET|PUT|DELETE /api/v1/sso/oidc`` and
``/api/v1/sso/saml`` (their own tenant's, by their token). Browsers:
``/api/v1/auth/sso/{tenant_slug}/oidc/login|callback`` and
``/api/v1/auth/sso/{tenant_slug}/saml/metadata|login|acs``, and which of them a tenant
offers: ``GET /api/v1/auth/sso/discover?tenant=<slug>``; the web app then calls
``POST /api/v1/auth/sso/exchange {code}`` for its tokens.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from inboxhub.domain.errors import Forbidden, InvalidInput
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.routes import TokenPair
from inboxhub.services.auth.sso.accounts import SsoAccounts
from inboxhub.services.auth.sso.admin import SsoAdmin
from inboxhub.services.auth.sso.config import (
    OidcConfigIn,
    OidcConfigOut,
    SamlConfigIn,
    SamlConfigOut,
)
from inboxhub.services.auth.sso.discovery import ProviderCache
from inboxhub.services.auth.sso.login import SsoLogin
from inboxhub.services.auth.sso.offered import SsoOffer, offered
from inboxhub.services.auth.sso.oidc import OidcLogin
from inboxhub.services.auth.sso.saml import MAX_RESPONSE, SamlLogin
from inboxhub.services.auth.sso.tickets import Tickets
from inboxhub.services.auth.sso.urls import PREFIX
from inboxhub.services.gateway.problems import declares
from inboxhub.services.gateway.security import Principal, current_principal

SLUG = "{tenant_slug}"


class ExchangeRequest(BaseModel):
    code: str = Field(min_length=10, max_length=200)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _admin(principal: Principal = Depends(current_principal)) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only tenant admins manage single sign-on")
    return principal


def build_routers(c: Container, auth: AuthService) -> list[APIRouter]:
    providers = ProviderCache(c.settings.allow_private_mail_hosts)
    tickets = Tickets(c.sso, c.box)
    audit = auth.audit or AuditLog(c.bus)
    admin = SsoAdmin(c.sso, c.directory, c.box, c.bus, audit, providers, c.settings.public_url)
    login = SsoLogin(
        auth,
        c.sso,
        c.box,
        SsoAccounts(c.directory, c.tenancy, c.bus),
        tickets,
        OidcLogin(providers, tickets),
        SamlLogin(tickets, c.sso),
        c.settings.public_url,
    )
    return [_config_router(admin), _login_router(login), _discovery_router(c)]


def _config_router(admin: SsoAdmin) -> APIRouter:
    router = APIRouter(prefix="/api/v1/sso", tags=["sso"])

    @router.get("/oidc", response_model=OidcConfigOut, responses=declares(404))
    async def get_oidc(p: Principal = Depends(_admin)) -> OidcConfigOut:
        return await admin.get_oidc(p.tenant_id)

    @router.put("/oidc", response_model=OidcConfigOut)
    async def put_oidc(
        body: OidcConfigIn, request: Request, p: Principal = Depends(_admin)
    ) -> OidcConfigOut:
        return await admin.put_oidc(p.tenant_id, p.user_id, body, _ip(request))

    @router.get("/saml", response_model=SamlConfigOut, responses=declares(404))
    async def get_saml(p: Principal = Depends(_admin)) -> SamlConfigOut:
        return await admin.get_saml(p.tenant_id)

    @router.put("/saml", response_model=SamlConfigOut)
    async def put_saml(
        body: SamlConfigIn, request: Request, p: Principal = Depends(_admin)
    ) -> SamlConfigOut:
        return await admin.put_saml(p.tenant_id, p.user_id, body, _ip(request))

    for protocol in ("oidc", "saml"):
        _add_delete(router, admin, protocol)
    return router


def _add_delete(router: APIRouter, admin: SsoAdmin, protocol: str) -> None:
    async def delete(request: Request, p: Principal = Depends(_admin)) -> Response:
        await admin.delete(p.tenant_id, p.user_id, protocol, _ip(request))
        return Response(status_code=204)

    router.add_api_route(
        f"/{protocol}",
        delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=declares(404),
        name=f"delete_{protocol}",
    )


def _discovery_router(c: Container) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["auth"])

    @router.get("/discover", response_model=SsoOffer)
    async def discover(
        tenant: str = Query(min_length=1, max_length=100, description="the tenant's short name"),
    ) -> SsoOffer:
        """The single sign-on a tenant offers; the same empty answer for a tenant that
        does not exist, is suspended or has none."""
        return await offered(c.directory, c.sso, tenant)

    return router


def _login_router(login: SsoLogin) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["auth"])

    @router.get(f"/{SLUG}/oidc/login", status_code=302, response_class=RedirectResponse)
    async def oidc_login(tenant_slug: str) -> RedirectResponse:
        return RedirectResponse(await login.oidc_start(tenant_slug), status_code=302)

    @router.get(f"/{SLUG}/oidc/callback", status_code=302, response_class=RedirectResponse)
    async def oidc_callback(tenant_slug: str, request: Request) -> RedirectResponse:
        query = dict(request.query_params)
        target = await login.oidc_finish(tenant_slug, query, _ip(request))
        return RedirectResponse(target, status_code=302)

    @router.get(f"/{SLUG}/saml/metadata", response_class=Response)
    async def saml_metadata(tenant_slug: str) -> Response:
        body = await login.saml_metadata(tenant_slug)
        return Response(body, media_type="application/samlmetadata+xml")

    @router.get(f"/{SLUG}/saml/login", status_code=302, response_class=RedirectResponse)
    async def saml_login(tenant_slug: str) -> RedirectResponse:
        return RedirectResponse(await login.saml_start(tenant_slug), status_code=302)

    @router.post(f"/{SLUG}/saml/acs", status_code=303, response_class=RedirectResponse)
    async def saml_acs(tenant_slug: str, request: Request) -> RedirectResponse:
        body = await request.body()
        if len(body) > 2 * MAX_RESPONSE:
            raise InvalidInput("the form is too large")
        form = parse_qs(body.decode("latin-1"))
        saml_response = (form.get("SAMLResponse") or [""])[0]
        if not saml_response:
            raise InvalidInput("SAMLResponse is missing")
        target = await login.saml_finish(tenant_slug, saml_response, _ip(request))
        return RedirectResponse(target, status_code=303)

    @router.post("/exchange", response_model=TokenPair, responses=declares(401))
    async def exchange(body: ExchangeRequest, request: Request) -> dict[str, object]:
        return await login.exchange(body.code, _ip(request))

    return router
