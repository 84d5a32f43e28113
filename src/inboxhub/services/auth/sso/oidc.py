"""OpenID Connect sign-in: authorization code flow with PKCE (RFC 7636, S256), state
and nonce kept server side (``tickets``), and the id_token checked as OpenID Connect
Core 1.0 §3.1.3.7 says: signature by a key of the provider's JWKS with an
asymmetric algorithm the provider announces (never ``none``, never HMAC: a public
key must not become a shared secret), ``iss``, ``aud``, ``azp``, ``exp``, ``iat``
and ``nonce``."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jws import JWSRegistry

from inboxhub.domain.errors import Unauthorized, Unavailable
from inboxhub.services.auth.sso import outbound
from inboxhub.services.auth.sso.config import OidcSettings
from inboxhub.services.auth.sso.discovery import ProviderCache
from inboxhub.services.auth.sso.tickets import LOGIN_SECONDS, OIDC_STATE, Tickets, new_handle

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY = 60  # seconds of clock skew allowed


@dataclass(frozen=True)
class Identity:
    """Who the identity provider says signed in."""

    email: str
    subject: str


@dataclass
class OidcLogin:
    providers: ProviderCache
    tickets: Tickets

    async def start(self, tenant_id: str, config: OidcSettings, redirect_uri: str) -> str:
        """The authorization request URL to send the browser to."""
        meta = await self.providers.metadata(config.issuer)
        state, nonce, verifier = new_handle(), new_handle(), secrets.token_urlsafe(64)
        await self.tickets.put(
            tenant_id, OIDC_STATE, state, {"nonce": nonce, "verifier": verifier}, LOGIN_SECONDS
        )
        url = prepare_grant_uri(
            meta["authorization_endpoint"],
            config.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(config.scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return str(url)

    async def finish(
        self,
        tenant_id: str,
        config: OidcSettings,
        client_secret: str,
        redirect_uri: str,
        query: dict[str, str],
    ) -> Identity:
        """Check the callback's state, redeem its code, validate the id_token."""
        taken = await self.tickets.take(tenant_id, OIDC_STATE, query.get("state", ""))
        if taken is None:
            raise Unauthorized("unknown, used or expired sign-in state: start again")
        if "error" in query:
            raise Unauthorized(f"the identity provider refused: {query['error'][:200]}")
        if not query.get("code"):
            raise Unauthorized("the identity provider sent no code")
        _, flight = taken
        meta = await self.providers.metadata(config.issuer)
        token = await self._redeem(meta, config, client_secret, redirect_uri, query["code"], flight)
        claims = await self._validate(meta, config, token, flight["nonce"])
        verified = claims.get("email_verified")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Unauthorized("the id_token carries no email (ask for the 'email' scope)")
        if verified is not True and verified != "true":
            raise Unauthorized("the identity provider has not verified this email")
        return Identity(email=email.strip().lower(), subject=str(claims["sub"]))

    async def _redeem(
        self,
        meta: dict[str, Any],
        config: OidcSettings,
        client_secret: str,
        redirect_uri: str,
        code: str,
        flight: dict[str, Any],
    ) -> dict[str, Any]:
        endpoint = meta["token_endpoint"]
        await outbound.check_url(endpoint, self.providers.allow_private)
        methods = meta.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        body = prepare_token_request(
            "authorization_code",
            redirect_uri=redirect_uri,
            code=code,
            code_verifier=flight["verifier"],
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        _, headers, body = ClientAuth(config.client_id, client_secret, method).prepare(
            "POST", endpoint, headers, body
        )
        try:
            async with httpx.AsyncClient(timeout=outbound.TIMEOUT) as client:
                response = await client.post(endpoint, content=body, headers=headers)
            token = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable("the identity provider's token endpoint failed") from exc
        if not isinstance(token, dict):
            raise Unavailable("the identity provider's token endpoint sent no JSON object")
        if response.status_code != 200 or "error" in token:
            raise Unauthorized(f"the identity provider refused the code: {token.get('error')}")
        if not isinstance(token.get("id_token"), str):
            raise Unauthorized("the identity provider sent no id_token")
        return token

    async def _validate(
        self, meta: dict[str, Any], config: OidcSettings, token: dict[str, Any], nonce: str
    ) -> CodeIDToken:
        announced = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in announced if a in ASYMMETRIC]
        id_token = token["id_token"]
        alg = _header(id_token).get("alg")
        if alg not in algorithms:
            raise Unauthorized(f"id_token algorithm {alg!r} is not accepted")
        registry = JWSRegistry(algorithms=algorithms)
        await outbound.check_url(meta["jwks_uri"], self.providers.allow_private)
        try:
            try:
                keys = await self.providers.keys(meta["jwks_uri"])
                decoded = jwt.decode(id_token, keys, algorithms, registry)
            except InvalidKeyIdError:  # the provider may have rotated its keys
                keys = await self.providers.keys(meta["jwks_uri"], refresh=True)
                decoded = jwt.decode(id_token, keys, algorithms, registry)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": config.issuer},
                    "aud": {"essential": True, "value": config.client_id},
                    "nonce": {"essential": True},
                },
                {"nonce": nonce, "client_id": config.client_id},
            )
            claims.validate(leeway=LEEWAY)
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"the id_token is not valid: {exc.__class__.__name__}") from exc
        return claims


def _header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return header if isinstance(header, dict) else {}
