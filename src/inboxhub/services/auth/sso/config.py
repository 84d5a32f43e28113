"""What a tenant admin configures: the tenant's OpenID Connect provider and SAML
identity provider (one of each at most).

Checked when saved: the OIDC discovery document must load and name the issuer; SAML
metadata (given, or fetched from a URL once) must describe one identity provider
with a signing certificate. The client secret is write-only and sealed with the
platform key. Every change is audited (``sso.config_updated``) and announced
(``tenant.config.updated``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Role = Literal["member", "auditor"]  # never an admin role: that is granted by admins
DEFAULT_SCOPES = ["openid", "email", "profile"]


class JitSettings(BaseModel):
    jit: bool = Field(
        default=True,
        description="create unknown users on sign-in, if their email's domain is one "
        "of the tenant's verified domains",
    )
    default_role: Role = Field(default="member", description="role of a user created so")


class OidcSettings(JitSettings):
    """Stored as given, less the secret."""

    issuer: str = Field(min_length=8, max_length=500, description="exact issuer URL")
    client_id: str = Field(min_length=1, max_length=500)
    scopes: list[str] = Field(default=DEFAULT_SCOPES, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _openid(self) -> OidcSettings:
        if "openid" not in self.scopes or "email" not in self.scopes:
            raise ValueError("scopes must include 'openid' and 'email'")
        return self


class OidcConfigIn(OidcSettings):
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="write-only; required at first, left out later keeps the stored one",
    )


class OidcConfigOut(OidcSettings):
    client_secret_set: bool
    redirect_uri: str = Field(description="register this at the identity provider")
    login_url: str = Field(description="where users start signing in")
    updated_at: datetime


class SamlSettings(JitSettings):
    """Stored: the identity provider's metadata (XML) and how to read its assertions."""

    idp_metadata_xml: str = Field(min_length=1, max_length=1 << 20)
    idp_metadata_url: str | None = None
    idp_entity_id: str
    email_attribute: str = Field(
        default="email",
        min_length=1,
        max_length=200,
        description="attribute holding the email; the NameID is used if it is absent",
    )


class SamlConfigIn(JitSettings):
    idp_metadata_xml: str | None = Field(default=None, min_length=1, max_length=1 << 20)
    idp_metadata_url: str | None = Field(
        default=None, max_length=2000, description="fetched once, when saved"
    )
    idp_entity_id: str | None = Field(
        default=None, max_length=500, description="needed if the metadata has several IdPs"
    )
    email_attribute: str = Field(default="email", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_source(self) -> SamlConfigIn:
        if (self.idp_metadata_xml is None) == (self.idp_metadata_url is None):
            raise ValueError("give exactly one of idp_metadata_xml and idp_metadata_url")
        return self


class SamlConfigOut(JitSettings):
    idp_entity_id: str
    idp_metadata_url: str | None
    email_attribute: str
    want_assertions_signed: bool = Field(default=True, description="always")
    sp_entity_id: str
    acs_url: str
    metadata_url: str = Field(description="the service provider metadata, for the IdP")
    login_url: str
    updated_at: datetime
