"""``inboxhub keys rotate``: a new signing key for access tokens.

The newest key signs from now on; the previous ones stay in the JWKS and keep
verifying, so nobody is signed out. Other processes pick the new key up when they
first meet a token naming it (``TokenService.verify``).
"""

from __future__ import annotations

from inboxhub.settings import Settings


async def rotate_signing_keys(settings: Settings, keep: int = 3) -> list[str]:
    """Rotate; the key ids now published, newest (signing) first."""
    from inboxhub.runtime import build_auth, open_container

    c = await open_container(settings)
    try:
        auth = await build_auth(c)
        await auth.tokens.rotate(keep)
        return [key.kid for key in auth.tokens.keys]
    finally:
        await c.close()
