"""Tenant admins' side of single sign-on: read, save (checked) and remove the tenant's
OIDC and SAML configurations (see ``config``)."""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.domain.events import TenantConfigUpdated
from inboxhub.domain.models import SsoConfig
from inboxhub.ports import Directory, EventBus, SsoStore
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth.sso import outbound, urls
from inboxhub.services.auth.sso.config import (
    OidcConfigIn,
    OidcConfigOut,
    OidcSettings,
    SamlConfigIn,
    SamlConfigOut,
    SamlSettings,
)
from inboxhub.services.auth.sso.discovery import ProviderCache
from inboxhub.services.auth.sso.saml_sp import idp_entity_id, require_xmlsec


@dataclass
class SsoAdmin:
    store: SsoStore
    directory: Directory
    box: SecretBox
    bus: EventBus
    audit: AuditLog
    providers: ProviderCache
    public_url: str

    async def _slug(self, tenant_id: str) -> str:
        tenant = await self.directory.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        return tenant.slug

    async def _stored(self, tenant_id: str, protocol: str) -> SsoConfig:
        found = await self.store.get_config(tenant_id, protocol)
        if found is None:
            raise NotFound(f"the tenant has no {protocol.upper()} sign-on")
        return found

    async def _changed(
        self, tenant_id: str, actor: str, protocol: str, what: str, ip: str | None
    ) -> None:
        await self.audit.record(
            tenant_id, actor, "sso.config_updated", protocol, ip, protocol=protocol, change=what
        )
        event = TenantConfigUpdated(what=f"sso.{protocol}.{what}", object_id=protocol)
        await self.bus.publish(event.topic, [event.envelope(tenant_id, f"{tenant_id}:sso")])

    # ------------------------------------------------------------ OIDC

    async def get_oidc(self, tenant_id: str) -> OidcConfigOut:
        return await self._oidc_view(await self._stored(tenant_id, "oidc"))

    async def _oidc_view(self, stored: SsoConfig) -> OidcConfigOut:
        slug = await self._slug(stored.tenant_id)
        return OidcConfigOut(
            **OidcSettings.model_validate(stored.settings).model_dump(),
            client_secret_set=stored.secret is not None,
            redirect_uri=urls.oidc_callback(self.public_url, slug),
            login_url=urls.oidc_login(self.public_url, slug),
            updated_at=stored.updated_at,
        )

    async def put_oidc(
        self, tenant_id: str, actor: str, body: OidcConfigIn, ip: str | None
    ) -> OidcConfigOut:
        existing = await self.store.get_config(tenant_id, "oidc")
        if body.client_secret is None and (existing is None or existing.secret is None):
            raise InvalidInput("client_secret is required")
        await self.providers.metadata(body.issuer, admin=True)
        secret = self.box.encrypt(body.client_secret.encode()) if body.client_secret else None
        settings = OidcSettings.model_validate(body.model_dump(exclude={"client_secret"}))
        stored = await self.store.put_config(tenant_id, "oidc", settings.model_dump(), secret)
        await self._changed(tenant_id, actor, "oidc", "saved", ip)
        return await self._oidc_view(stored)

    # ------------------------------------------------------------ SAML

    async def get_saml(self, tenant_id: str) -> SamlConfigOut:
        return await self._saml_view(await self._stored(tenant_id, "saml"))

    async def _saml_view(self, stored: SsoConfig) -> SamlConfigOut:
        slug = await self._slug(stored.tenant_id)
        saved = SamlSettings.model_validate(stored.settings)
        return SamlConfigOut(
            **saved.model_dump(exclude={"idp_metadata_xml"}),
            sp_entity_id=urls.saml_metadata(self.public_url, slug),
            acs_url=urls.saml_acs(self.public_url, slug),
            metadata_url=urls.saml_metadata(self.public_url, slug),
            login_url=urls.saml_login(self.public_url, slug),
            updated_at=stored.updated_at,
        )

    async def put_saml(
        self, tenant_id: str, actor: str, body: SamlConfigIn, ip: str | None
    ) -> SamlConfigOut:
        require_xmlsec()
        xml = body.idp_metadata_xml
        if body.idp_metadata_url is not None:
            fetched = await outbound.get(
                body.idp_metadata_url, self.providers.allow_private, admin=True
            )
            xml = fetched.decode("utf-8", "replace")
        assert xml is not None
        settings = SamlSettings(
            **body.model_dump(exclude={"idp_metadata_xml", "idp_entity_id"}),
            idp_metadata_xml=xml,
            idp_entity_id=idp_entity_id(xml, body.idp_entity_id),
        )
        stored = await self.store.put_config(tenant_id, "saml", settings.model_dump(), None)
        await self._changed(tenant_id, actor, "saml", "saved", ip)
        return await self._saml_view(stored)

    # ------------------------------------------------------------ both

    async def delete(self, tenant_id: str, actor: str, protocol: str, ip: str | None) -> None:
        if not await self.store.delete_config(tenant_id, protocol):
            raise NotFound(f"the tenant has no {protocol.upper()} sign-on")
        await self._changed(tenant_id, actor, protocol, "deleted", ip)
