"""The SAML service provider side as pysaml2 sees it: one platform key pair (made on
first use, sealed in the directory's secrets) and a pysaml2 configuration per tenant
(its own entity id and ACS URL, its IdP's metadata).

pysaml2 signs and verifies through ``xmlsec1`` and reads keys from files: the key
pair is written once per process to a private temporary directory.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import InvalidInput, Unavailable
from inboxhub.ports import Directory

XMLSEC = shutil.which("xmlsec1")
KEY_SECRET = "saml_sp_key"
CLOCK_SKEW = 60  # seconds allowed on NotBefore / NotOnOrAfter


def require_xmlsec() -> str:
    if XMLSEC is None:
        raise Unavailable("SAML needs xmlsec1, which is not installed on this server")
    return XMLSEC


def _new_pair() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inboxhub SAML SP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return {
        "key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }


@dataclass(frozen=True)
class SpKeys:
    key_file: str
    cert_file: str


async def load_sp_keys(directory: Directory, box: SecretBox) -> SpKeys:
    stored = await directory.get_secret(KEY_SECRET)
    if stored is None:
        sealed = box.encrypt(json.dumps(_new_pair()).encode())
        stored = await directory.create_secret(KEY_SECRET, sealed)
    pair = json.loads(box.decrypt(stored))
    folder = Path(tempfile.mkdtemp(prefix="inboxhub-saml-"))  # mode 0700
    atexit.register(shutil.rmtree, folder, True)
    key_file, cert_file = folder / "sp.key", folder / "sp.crt"
    key_file.touch(mode=0o600)
    key_file.write_text(pair["key"])
    cert_file.write_text(pair["cert"])
    return SpKeys(str(key_file), str(cert_file))


def sp_config(entity_id: str, acs_url: str, keys: SpKeys, idp_metadata: str | None) -> SPConfig:
    settings: dict[str, Any] = {
        "entityid": entity_id,
        "xmlsec_binary": require_xmlsec(),
        "key_file": keys.key_file,
        "cert_file": keys.cert_file,
        "encryption_keypairs": [{"key_file": keys.key_file, "cert_file": keys.cert_file}],
        "accepted_time_diff": CLOCK_SKEW,
        "allow_unknown_attributes": True,
        "only_use_keys_in_metadata": True,  # never a certificate the message brings
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                "allow_unsolicited": False,
                "authn_requests_signed": False,
                # Signed assertions, or a signed response around them: never neither.
                "want_assertions_signed": False,
                "want_response_signed": False,
                "want_assertions_or_response_signed": True,
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            }
        },
    }
    if idp_metadata is not None:
        settings["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(settings)
    return config


def sp_metadata(config: SPConfig) -> bytes:
    return bytes(create_metadata_string(None, config=config))


def idp_entity_id(metadata_xml: str, wanted: str | None) -> str:
    """The one identity provider the metadata describes (or ``wanted`` among several),
    checked to sign and to take AuthnRequests by HTTP-Redirect."""
    store = MetadataStore(attrc=[], config=SPConfig())
    try:
        store.load("inline", metadata_xml)
    except Exception as exc:  # pysaml2 raises many kinds on bad XML
        raise InvalidInput(f"the IdP metadata does not parse: {exc.__class__.__name__}") from exc
    found = list(store.identity_providers())
    if wanted is not None:
        if wanted not in found:
            raise InvalidInput(f"the metadata describes no identity provider {wanted!r}")
        found = [wanted]
    if len(found) != 1:
        raise InvalidInput(
            f"the metadata describes {len(found)} identity providers: name one (idp_entity_id)"
        )
    entity_id = found[0]
    if not store.certs(entity_id, "idpsso", "signing"):
        raise InvalidInput("the identity provider's metadata has no signing certificate")
    if not store.single_sign_on_service(entity_id, BINDING_HTTP_REDIRECT):
        raise InvalidInput("the identity provider takes no AuthnRequest by HTTP-Redirect")
    return str(entity_id)
