"""OpenID Provider metadata and key sets, fetched and cached per process.

The discovery document is ``<issuer>/.well-known/openid-configuration`` (OpenID
Connect Discovery 1.0 §4), whose ``issuer`` must be exactly the configured one
(§4.3). Key sets are kept until a token names a key id they lack: then fetched
again, at most once per ``JWKS_MIN_REFRESH`` seconds (so forged kids cannot make us
hammer the provider).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import KeySet

from inboxhub.domain.errors import InvalidInput, Unavailable
from inboxhub.services.auth.sso import outbound

DISCOVERY_TTL = 3600.0
JWKS_MIN_REFRESH = 30.0
REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass
class _KeySet:
    keys: KeySet
    fetched: float


@dataclass
class ProviderCache:
    allow_private: bool
    _documents: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _key_sets: dict[str, _KeySet] = field(default_factory=dict)

    async def metadata(self, issuer: str, *, admin: bool = False) -> dict[str, Any]:
        cached = self._documents.get(issuer)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL and not admin:
            return cached[1]
        document = await outbound.get_json(discovery_url(issuer), self.allow_private, admin=admin)
        problem = _problem(issuer, document)
        if problem:
            if admin:
                raise InvalidInput(problem)
            raise Unavailable(f"the identity provider is misconfigured: {problem}")
        self._documents[issuer] = (time.monotonic(), document)
        return document

    async def keys(self, jwks_uri: str, *, refresh: bool = False) -> KeySet:
        """The provider's key set; ``refresh`` fetches it again unless that was done
        moments ago."""
        cached = self._key_sets.get(jwks_uri)
        recent = cached is not None and time.monotonic() - cached.fetched < JWKS_MIN_REFRESH
        if cached is not None and (not refresh or recent):
            return cached.keys
        document = await outbound.get_json(jwks_uri, self.allow_private)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"the identity provider's key set is unusable: {exc}") from exc
        self._key_sets[jwks_uri] = _KeySet(keys, time.monotonic())
        return keys


def _problem(issuer: str, document: dict[str, Any]) -> str | None:
    if document.get("issuer") != issuer:
        return (
            f"the discovery document names issuer {document.get('issuer')!r}, "
            f"not {issuer!r} (they must match exactly)"
        )
    missing = [name for name in REQUIRED if not isinstance(document.get(name), str)]
    if missing:
        return f"the discovery document lacks {', '.join(missing)}"
    if "code" not in document.get("response_types_supported", ["code"]):
        return "the provider does not offer the authorization code flow"
    return None
