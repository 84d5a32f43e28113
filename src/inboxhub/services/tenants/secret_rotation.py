"""``inboxhub secrets rotate``: every secret at rest re-sealed under the newest key.

Rotating ``INBOXHUB_SECRET_KEY``: put the new key first and keep the old one after it
(``new,old``) in every process's settings, restart them, run this, then drop the old
key. Until the old key is dropped, anything sealed under it still opens.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.fernet import InvalidToken

from inboxhub.crypto import SecretBox, SecretDecryptionError
from inboxhub.runtime import make_sealed_columns, open_container
from inboxhub.settings import Settings


def resealer(box: SecretBox) -> Callable[[bytes], bytes]:
    def reseal(token: bytes) -> bytes:
        try:
            return box.rotate(token)
        except InvalidToken as exc:
            raise SecretDecryptionError(
                "a stored secret opens with none of the configured keys: "
                "keep the key it was sealed with in INBOXHUB_SECRET_KEY"
            ) from exc

    return reseal


async def rotate_secrets(settings: Settings) -> dict[str, int]:
    """Re-seal every encrypted column; how many values each held."""
    c = await open_container(settings)
    try:
        return await make_sealed_columns(c.directory).reseal(resealer(c.box))
    finally:
        await c.close()
