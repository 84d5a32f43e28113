"""A DKIM signature we add verifies with dkimpy against the TXT record we tell the
tenant to publish, survives the removal of Bcc, and breaks when the message changes."""

from __future__ import annotations

from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from inboxhub.mime.compose import Part, build_message, strip_bcc
from inboxhub.mime.dkim_sign import (
    InvalidKey,
    check_selector,
    dkim_sign,
    dkim_txt_record,
    dns_record_name,
    generate_rsa_key,
    key_algorithm,
)

RSA_PEM = generate_rsa_key()


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


ED25519_PEM = pem(ed25519.Ed25519PrivateKey.generate())


def message(**extra: object) -> bytes:
    return bytes(
        build_message(
            sender="Alice <alice@acme.test>",
            to=["bob@example.com"],
            cc=["carol@example.org"],
            bcc=["secret@example.net", "other@example.net"],
            subject="Grüße, signed",
            text="Hello Bob,\nthis is signed.\n",
            html="<p>Hello Bob</p>",
            attachments=[Part("a.pdf", "application/pdf", b"%PDF-1.4 data")],
            message_id="<s1@acme.test>",
            date=datetime(2026, 11, 26, tzinfo=UTC),
            in_reply_to="<p@example.com>",
            references=["<p@example.com>"],
        )
    )


def resolver(selector: str, domain: str, key_pem: bytes):  # type: ignore[no-untyped-def]
    record = dkim_txt_record(key_pem).encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{dns_record_name(selector, domain)}.".encode() else None

    return dnsfunc


@pytest.mark.parametrize(("key_pem", "algorithm"), [(RSA_PEM, "rsa"), (ED25519_PEM, "ed25519")])
def test_a_signed_message_verifies_and_still_does_without_bcc(
    key_pem: bytes, algorithm: str
) -> None:
    signed = dkim_sign(message(), domain="acme.test", selector="mail2026", private_key_pem=key_pem)
    dns = resolver("mail2026", "acme.test", key_pem)
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + algorithm.encode() + b"-sha256;")
    assert b"c=relaxed/relaxed" in signed and key_algorithm(key_pem) == algorithm
    assert dkim.verify(signed, dnsfunc=dns)
    stripped = strip_bcc(signed)
    assert b"secret@example.net" not in stripped
    assert dkim.verify(stripped, dnsfunc=dns)


def test_bcc_is_never_among_the_signed_headers() -> None:
    signed = dkim_sign(message(), domain="acme.test", selector="s", private_key_pem=RSA_PEM)
    signature = signed[: signed.index(b"\r\nDate:")].replace(b"\r\n", b"")
    signed_names = signature.split(b"h=")[1].split(b";")[0].replace(b" ", b"").split(b":")
    assert b"bcc" not in signed_names
    assert {b"from", b"to", b"cc", b"subject", b"date", b"message-id"} <= set(signed_names)
    assert {b"in-reply-to", b"references", b"mime-version", b"content-type"} <= set(signed_names)


@pytest.mark.parametrize(
    ("find", "replace"),
    [
        (b"this is signed.", b"this is forged."),
        (b"Subject: =?utf-8?", b"Subject: =?UTF-8?"),
        (b"To: bob@example.com", b"To: mallory@example.com"),
    ],
)
def test_an_edited_message_fails_verification(find: bytes, replace: bytes) -> None:
    signed = dkim_sign(message(), domain="acme.test", selector="s", private_key_pem=RSA_PEM)
    assert find in signed
    assert not dkim.verify(
        signed.replace(find, replace, 1), dnsfunc=resolver("s", "acme.test", RSA_PEM)
    )


def test_an_added_cc_breaks_the_signature_of_a_message_without_one() -> None:
    raw = message().replace(b"Cc: carol@example.org\r\n", b"")
    signed = dkim_sign(raw, domain="acme.test", selector="s", private_key_pem=RSA_PEM)
    dns = resolver("s", "acme.test", RSA_PEM)
    assert dkim.verify(signed, dnsfunc=dns)
    forged = signed.replace(b"\r\nSubject:", b"\r\nCc: eve@example.com\r\nSubject:", 1)
    assert not dkim.verify(forged, dnsfunc=dns)


def test_the_wrong_published_key_fails_verification() -> None:
    signed = dkim_sign(message(), domain="acme.test", selector="s", private_key_pem=RSA_PEM)
    assert not dkim.verify(signed, dnsfunc=resolver("s", "acme.test", generate_rsa_key()))


def test_the_txt_record_has_the_published_form() -> None:
    record = dkim_txt_record(RSA_PEM)
    assert record.startswith("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A")
    assert dkim_txt_record(ED25519_PEM).startswith("v=DKIM1; k=ed25519; p=")
    assert len(dkim_txt_record(ED25519_PEM).split("p=")[1]) == 44  # 32 bytes, base64
    assert dns_record_name("s1", "acme.test") == "s1._domainkey.acme.test"


def test_an_idn_signing_domain_is_signed_as_punycode() -> None:
    signed = dkim_sign(message(), domain="Bücher.example", selector="s", private_key_pem=RSA_PEM)
    assert b"d=xn--bcher-kva.example;" in signed


@pytest.mark.parametrize(
    "key_pem",
    [
        b"not a key",
        pem(ec.generate_private_key(ec.SECP256R1())),
        rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"password"),
        ),
    ],
    ids=["garbage", "ecdsa", "encrypted"],
)
def test_unusable_keys_are_refused(key_pem: bytes) -> None:
    with pytest.raises(InvalidKey):
        dkim_txt_record(key_pem)
    with pytest.raises(InvalidKey):
        dkim_sign(message(), domain="acme.test", selector="s", private_key_pem=key_pem)


def test_a_pkcs1_rsa_key_is_accepted_too() -> None:
    key = serialization.load_pem_private_key(RSA_PEM, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    traditional = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signed = dkim_sign(message(), domain="acme.test", selector="s", private_key_pem=traditional)
    assert dkim.verify(signed, dnsfunc=resolver("s", "acme.test", RSA_PEM))


@pytest.mark.parametrize("selector", ["", "-a", "a-", "a.b", "a b", "x" * 64, "s\r\n"])
def test_a_selector_is_one_dns_label(selector: str) -> None:
    with pytest.raises(ValueError):
        check_selector(selector)
    assert check_selector("Mail-2026") == "mail-2026"
