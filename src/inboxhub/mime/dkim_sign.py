"""DKIM signatures on mail we send (RFC 6376), made by dkimpy: rsa-sha256 for RSA keys,
ed25519-sha256 (RFC 8463) for Ed25519 keys, relaxed/relaxed canonicalisation.

The signed header list is fixed and never holds Bcc: the transports remove Bcc after
signing (``compose.strip_bcc``), and the signature must still verify. Headers of the
list that a message lacks are signed as absent (RFC 6376 section 5.4), so nobody can
add a Cc or Reply-To on the way without breaking the signature.
"""

from __future__ import annotations

import base64
import re
from typing import Literal

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from inboxhub.mime.fields import ascii_domain

SIGNED_HEADERS = (
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
RSA_BITS = 2048  # what a generated key gets (RFC 8301: at least 1024, 2048 advised)
MIN_RSA_BITS, MAX_RSA_BITS = 1024, 4096  # what verifiers are required to handle
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

KeyAlgorithm = Literal["rsa", "ed25519"]
SigningKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class InvalidKey(ValueError):
    """A private key that cannot sign DKIM: unreadable, encrypted, or of another kind."""


def load_key(private_key_pem: bytes) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except TypeError:
        raise InvalidKey("the key is protected by a password; upload it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidKey("not a PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise InvalidKey(f"RSA keys of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits only")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise InvalidKey("DKIM signs with RSA or Ed25519 keys only")


def key_algorithm(private_key_pem: bytes) -> KeyAlgorithm:
    return "ed25519" if isinstance(load_key(private_key_pem), ed25519.Ed25519PrivateKey) else "rsa"


def _pkcs8(key: SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_rsa_key(bits: int = RSA_BITS) -> bytes:
    """A new unencrypted RSA private key, PKCS#8 PEM."""
    return _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def normalised_pem(private_key_pem: bytes) -> bytes:
    """An uploaded key as PKCS#8 PEM alone (no certificate or text around it), or
    ``InvalidKey``."""
    return _pkcs8(load_key(private_key_pem))


def dns_record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def check_selector(selector: str) -> str:
    """A selector is one DNS label (RFC 6376 section 3.1)."""
    if not _SELECTOR.match(selector):
        raise ValueError("a selector is one DNS label: letters, digits and inner hyphens")
    return selector.lower()


def dkim_txt_record(private_key_pem: bytes) -> str:
    """The TXT record value to publish at ``<selector>._domainkey.<domain>``."""
    key = load_key(private_key_pem)
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def _dkimpy_key(key: SigningKey) -> tuple[bytes, bytes]:
    """(key as dkimpy reads it, algorithm): PKCS#1 PEM for RSA, base64 seed for Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(seed), b"ed25519-sha256"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem, b"rsa-sha256"


def dkim_sign(raw: bytes, *, domain: str, selector: str, private_key_pem: bytes) -> bytes:
    """``raw`` with a DKIM-Signature header in front. ``domain`` is the signing domain
    (``d=``): the From domain, or a parent of it, for DMARC alignment."""
    secret, algorithm = _dkimpy_key(load_key(private_key_pem))
    signature = dkim.sign(
        raw,
        check_selector(selector).encode(),
        ascii_domain(domain).encode(),
        secret,
        canonicalize=(b"relaxed", b"relaxed"),
        signature_algorithm=algorithm,
        include_headers=[name.encode() for name in SIGNED_HEADERS],
    )
    return bytes(signature) + raw
