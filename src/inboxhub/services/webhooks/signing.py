"""The signature of a webhook body, Stripe style.

``Inboxhub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``:
the timestamp is signed with the body, so a captured request cannot be replayed
later than the receiver's tolerance (5 minutes is what docs/notifications.md
recommends). During a secret rotation's grace period one ``v1`` is sent per secret
in force, the newest first; a receiver accepts the request if any of them matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

from inboxhub import __version__

SIGNATURE_HEADER = "Inboxhub-Signature"
EVENT_HEADER = "Inboxhub-Event"
DELIVERY_HEADER = "Inboxhub-Delivery"
USER_AGENT = f"inboxhub-webhooks/{__version__}"
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_in_force: Sequence[str], body: bytes, timestamp: int) -> str:
    return ",".join(
        [f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets_in_force)]
    )


def headers(
    secrets_in_force: Sequence[str],
    body: bytes,
    event_type: str,
    delivery_id: str,
    now: float | None = None,
) -> dict[str, str]:
    """Every header of a delivery attempt, signed at ``now`` (a fresh timestamp per
    attempt: a retry hours later is still within the receiver's tolerance)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature_header(secrets_in_force, body, timestamp),
    }


def verify(
    secret: str,
    body: bytes,
    header: str,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (the sample in docs/notifications.md, used by the tests):
    the timestamp is recent and one ``v1`` matches the body signed with ``secret``."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in fields if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, v in fields if k.strip() == "v1")
