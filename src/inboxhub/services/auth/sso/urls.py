"""The addresses of a tenant's sign-in endpoints, as the world reaches them
(``settings.public_url``): identity providers are configured with these."""

from __future__ import annotations

PREFIX = "/api/v1/auth/sso"


def base(public_url: str, slug: str) -> str:
    return f"{public_url.rstrip('/')}{PREFIX}/{slug}"


def oidc_login(public_url: str, slug: str) -> str:
    return base(public_url, slug) + "/oidc/login"


def oidc_callback(public_url: str, slug: str) -> str:
    return base(public_url, slug) + "/oidc/callback"


def saml_login(public_url: str, slug: str) -> str:
    return base(public_url, slug) + "/saml/login"


def saml_metadata(public_url: str, slug: str) -> str:
    """Also the service provider's entity id (a URL that serves its metadata)."""
    return base(public_url, slug) + "/saml/metadata"


def saml_acs(public_url: str, slug: str) -> str:
    return base(public_url, slug) + "/saml/acs"


def delivery(public_url: str, code: str) -> str:
    """Where the browser lands after signing in: the web app reads the one-time code
    from the fragment (never sent to a server) and exchanges it for tokens."""
    return f"{public_url.rstrip('/')}/#sso_code={code}"
