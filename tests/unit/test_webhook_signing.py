"""The webhook signature (services/webhooks/signing.py): Stripe-style, timestamped,
one ``v1`` per secret in force."""

from __future__ import annotations

import hashlib
import hmac

from inboxhub.services.webhooks import signing

BODY = b'{"id":"e1","type":"webhook.test"}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = signing.signature_header(["whsec_a"], BODY, NOW)
    expected = hmac.new(b"whsec_a", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_it_verifies_within_the_tolerance_only() -> None:
    header = signing.signature_header(["whsec_a"], BODY, NOW)
    assert signing.verify("whsec_a", BODY, header, now=NOW + 299)
    assert not signing.verify("whsec_a", BODY, header, now=NOW + 301)
    assert not signing.verify("whsec_a", BODY, header, now=NOW - 301)


def test_a_changed_body_or_another_secret_fails() -> None:
    header = signing.signature_header(["whsec_a"], BODY, NOW)
    assert not signing.verify("whsec_a", BODY + b" ", header, now=NOW)
    assert not signing.verify("whsec_b", BODY, header, now=NOW)
    assert not signing.verify("whsec_a", BODY, header.replace(f"t={NOW}", f"t={NOW + 1}"), now=NOW)


def test_during_a_rotation_either_secret_verifies() -> None:
    header = signing.signature_header(["whsec_new", "whsec_old"], BODY, NOW)
    assert header.count("v1=") == 2
    assert signing.verify("whsec_new", BODY, header, now=NOW)
    assert signing.verify("whsec_old", BODY, header, now=NOW)


def test_the_headers_name_event_and_delivery() -> None:
    headers = signing.headers(["whsec_a"], BODY, "webhook.test", "d1", now=NOW)
    assert headers["Inboxhub-Event"] == "webhook.test"
    assert headers["Inboxhub-Delivery"] == "d1"
    assert headers["Content-Type"] == "application/json"
    assert signing.verify("whsec_a", BODY, headers["Inboxhub-Signature"], now=NOW)


def test_secrets_are_long_and_unique() -> None:
    made = {signing.new_secret() for _ in range(100)}
    assert len(made) == 100
    assert all(s.startswith("whsec_") and len(s) > 40 for s in made)
