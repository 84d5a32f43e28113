"""Which single sign-on a tenant offers, for the sign-in page.

Public, so it tells nobody more than the sign-in URLs already do: an unknown tenant,
a suspended one and one without single sign-on all answer the same ``methods: []``;
only the protocols and where to start them are named, never any configuration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inboxhub.ports import Directory, SsoStore
from inboxhub.services.auth.sso.urls import PREFIX
from inboxhub.services.tenants.tenant_admin import SLUG

Protocol = Literal["oidc", "saml"]
PROTOCOLS: tuple[Protocol, ...] = ("oidc", "saml")


class SsoMethod(BaseModel):
    protocol: Protocol
    login_url: str = Field(description="same-origin path that starts the sign-in")


class SsoOffer(BaseModel):
    tenant: str = Field(description="the short name asked about, as given")
    methods: list[SsoMethod] = Field(description="empty when there is nothing to offer")


async def offered(directory: Directory, store: SsoStore, slug: str) -> SsoOffer:
    tenant = await directory.get_tenant_by_slug(slug) if SLUG.match(slug) else None
    methods: list[SsoMethod] = []
    if tenant is not None and tenant.status == "active":
        for protocol in PROTOCOLS:
            if await store.get_config(tenant.id, protocol) is not None:
                methods.append(SsoMethod(protocol=protocol, login_url=_login(slug, protocol)))
    return SsoOffer(tenant=slug, methods=methods)


def _login(slug: str, protocol: Protocol) -> str:
    return f"{PREFIX}/{slug}/{protocol}/login"
