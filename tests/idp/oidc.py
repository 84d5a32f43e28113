"""A real OpenID Provider for the tests, built from authlib's server components
(AuthorizationServer, AuthorizationCodeGrant + OpenIDCode + CodeChallenge) and served
over HTTP on a loopback port: discovery document, JWKS, authorization and token
endpoints, its own RSA key.

There is no login page: the authorization endpoint signs in ``login_as`` at once. To
test the relying party, ``tamper`` rewrites the id_token the token endpoint returns
(forged, expired, wrong audience or nonce, ``alg: none``, HS256 key confusion).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ThreadedServer

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # loopback HTTP, tests only

CLIENT_ID, CLIENT_SECRET = "inboxhub-test", "s3cret-of-the-client"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return not self.redirect_uris or redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Provider(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, idp: OidcIdp) -> None:
        super().__init__(scopes_supported=["openid", "email", "profile"])
        self.idp = idp
        bearer = BearerTokenGenerator(lambda *_, **__: secrets.token_urlsafe(24))
        self.register_token_generator("default", bearer)

    def query_client(self, client_id: str) -> Client | None:
        return self.idp.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        pass

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status, dict(headers))
        return Response(body, status, dict(headers))


class Request2(OAuth2Request):
    """An OAuth2Request whose form and args are plain dicts."""

    def __init__(self, method: str, url: str, headers: Any, data: dict[str, str]) -> None:
        super().__init__(method, url, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._values = data

    @property
    def args(self) -> dict[str, str]:
        return self._values if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._values if self.method == "POST" else {}


class IdToken(OpenIDCode):
    def __init__(self, idp: OidcIdp) -> None:
        super().__init__(require_nonce=True)
        self.idp = idp

    def resolve_client_private_key(self, client: Any) -> RSAKey:
        return self.idp.key

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        return {"iss": self.idp.issuer, "aud": [client.get_client_id()]}

    def get_client_algorithm(self, client: Any) -> str:
        return "RS256"

    def get_encode_header(self, client: Any) -> dict[str, Any]:
        return {"alg": "RS256", "kid": self.idp.key.kid}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
        return UserInfo(user)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]
    idp: OidcIdp

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.idp.codes[code] = Code(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=data.get("redirect_uri", ""),
            scope=data.get("scope", ""),
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.idp.codes.get(code)
        return found if found and found.client_id == client.get_client_id() else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.idp.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> dict[str, Any]:
        return authorization_code.user


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcIdp:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "idp-key-1", "use": "sig"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "idp-key-1"})
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.login_as: dict[str, Any] = {}
        self.tamper: str | None = None
        self.issuer = ""
        self._server = ThreadedServer(self.app(), name="OIDC IdP")
        self.issuer = self._server.url
        self.clients[CLIENT_ID] = Client(CLIENT_ID, CLIENT_SECRET)
        self.provider = Provider(self)
        CodeGrant.idp = self
        self.provider.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(self)])

    def start(self) -> OidcIdp:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def sign_in(self, email: str, *, verified: bool = True, sub: str | None = None) -> None:
        self.login_as = {"sub": sub or f"sub-{email}", "email": email, "email_verified": verified}

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )

    async def _discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _jwks(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        data = dict(request.query_params)
        oauth = Request2("GET", str(request.url), request.headers, data)
        return self.provider.create_authorization_response(oauth, grant_user=dict(self.login_as))  # type: ignore[no-any-return]

    async def _token(self, request: Request) -> Response:
        data = dict(parse_qsl((await request.body()).decode()))
        oauth = Request2("POST", str(request.url), request.headers, data)
        response: Response = self.provider.create_token_response(oauth)
        if self.tamper and response.status_code == 200:
            token = json.loads(bytes(response.body))
            token["id_token"] = self._tampered(token["id_token"])
            return JSONResponse(token)
        return response

    def _tampered(self, id_token: str) -> str:
        claims = jwt.decode(id_token, self.key).claims
        header = {"alg": "RS256", "kid": self.key.kid}
        key: Any = self.key
        now = int(time.time())
        if self.tamper == "forged":
            key = self.other_key
        elif self.tamper == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
        elif self.tamper == "audience":
            claims["aud"] = "another-client"
        elif self.tamper == "nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.tamper == "issuer":
            claims["iss"] = "https://evil.example"
        elif self.tamper == "none":
            body = _b64(json.dumps(claims).encode())
            return f"{_b64(json.dumps({'alg': 'none'}).encode())}.{body}."
        elif self.tamper == "hs256":  # the public key's PEM used as an HMAC secret
            header = {"alg": "HS256", "kid": self.key.kid}
            signing_input = (
                f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
            )
            pem = self.key.as_pem(private=False)
            mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64(mac)}"
        elif self.tamper == "unknown_kid":
            key, header = self.other_key, {"alg": "RS256", "kid": "idp-key-unknown"}
        return jwt.encode(header, claims, key)
