"""A real SAML 2.0 identity provider for the tests: pysaml2's ``saml2.server.Server``
with its own key and certificate (made here with ``cryptography``), served over
HTTP on a loopback port: ``/metadata`` and ``/sso/redirect`` (takes an AuthnRequest
by HTTP-Redirect, answers with the auto-posting form of the HTTP-POST binding).

No login page: ``login_as`` is signed in at once. ``tamper`` spoils the response to
test the service provider (unsigned, signed by another key, wrong audience, expired,
wrong recipient, unsolicited).
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.authn_context import PASSWORD
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from inboxhub.services.auth.sso.saml_sp import XMLSEC
from tests.fakes.server import ThreadedServer


def key_pair(folder: Path, name: str) -> tuple[str, str]:
    """(key file, certificate file): a new RSA key and its self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def form_fields(html: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the auto-posting form of the HTTP-POST binding."""
    action = re.search(r'action="([^"]+)"', html)
    fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', html))
    assert action is not None, html
    return action.group(1), fields


class SamlIdp:
    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="saml-idp-"))
        self.keys = key_pair(self._folder, "idp")
        self.other_keys = key_pair(self._folder, "impostor")
        self.sp_metadata: list[str] = []
        self.login_as = ""
        self.tamper: str | None = None
        self.last_response = ""  # base64, as posted
        self._server = ThreadedServer(self.app(), name="SAML IdP")
        self.url = self._server.url
        self.entity_id = f"{self.url}/metadata"

    def start(self) -> SamlIdp:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _config(self, keys: tuple[str, str], minutes: int = 15) -> IdPConfig:
        settings: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC,
            "key_file": keys[0],
            "cert_file": keys[1],
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (f"{self.url}/sso/redirect", BINDING_HTTP_REDIRECT)
                        ]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": minutes},
                            "name_form": NAME_FORMAT_BASIC,
                            "attribute_restrictions": None,
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "want_authn_requests_signed": False,
                }
            },
            "allow_unknown_attributes": True,
        }
        if self.sp_metadata:
            settings["metadata"] = {"inline": list(self.sp_metadata)}
        config = IdPConfig()
        config.load(settings)
        return config

    def metadata(self) -> str:
        return create_metadata_string(None, config=self._config(self.keys)).decode()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/metadata", self._metadata),
                Route("/sso/redirect", self._sso),
            ]
        )

    async def _metadata(self, request: Request) -> Response:
        return Response(self.metadata(), media_type="application/samlmetadata+xml")

    async def _sso(self, request: Request) -> HTMLResponse:
        server = Server(config=self._config(self.keys))
        parsed = server.parse_authn_request(
            request.query_params["SAMLRequest"], BINDING_HTTP_REDIRECT
        )
        authn_request = parsed.message
        sp_entity_id = authn_request.issuer.text
        acs = authn_request.assertion_consumer_service_url
        html = self.respond(sp_entity_id, acs, authn_request.id)
        return HTMLResponse(html)

    def respond(self, sp_entity_id: str, acs: str, request_id: str | None) -> str:
        """The auto-posting form with a (perhaps spoilt) response to ``request_id``."""
        tamper = self.tamper
        keys = self.other_keys if tamper == "other_key" else self.keys
        server = Server(config=self._config(keys, minutes=-10 if tamper == "expired" else 15))
        audience = (
            self.sp_metadata_entity(other_than=sp_entity_id) if tamper == "audience" else None
        )
        destination = "http://evil.example/acs" if tamper == "recipient" else acs
        in_response_to = None if tamper == "unsolicited" else request_id
        response = server.create_authn_response(
            identity={"email": [self.login_as]},
            in_response_to=in_response_to,
            destination=destination,
            sp_entity_id=audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=self.login_as),
            authn={"class_ref": PASSWORD},
            sign_assertion=tamper != "unsigned",
            sign_response=False,
        )
        http = server.apply_binding(
            BINDING_HTTP_POST, str(response), destination, "", response=True
        )
        return str(http["data"])

    def sp_metadata_entity(self, other_than: str) -> str:
        for xml in self.sp_metadata:
            found = re.search(r'entityID="([^"]+)"', xml)
            if found and found.group(1) != other_than:
                return found.group(1)
        raise AssertionError("the IdP knows no other service provider")
