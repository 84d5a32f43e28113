from __future__ import annotations

import pytest

from inboxhub.crypto import SecretBox, SecretDecryptionError
from inboxhub.services.auth.passwords import PasswordHasher

hasher = PasswordHasher()


def test_passwords_are_argon2id_and_verify() -> None:
    h = hasher.hash("correct horse")
    assert h.startswith("$argon2id$")
    assert hasher.verify(h, "correct horse")
    assert not hasher.verify(h, "wrong")
    assert not hasher.verify(None, "anything")
    assert not hasher.verify("not-a-hash", "x")
    assert not hasher.needs_rehash(h)


def test_secret_box_round_trip_tamper_and_wrong_key() -> None:
    box = SecretBox("first-key")
    token = box.encrypt(b"oauth refresh token")
    assert b"oauth" not in token and box.decrypt(token) == b"oauth refresh token"
    with pytest.raises(SecretDecryptionError):
        box.decrypt(token[:-3] + b"AAA")
    with pytest.raises(SecretDecryptionError):
        SecretBox("other-key").decrypt(token)


def test_secret_box_rotation_decrypts_old_and_reencrypts_new() -> None:
    old = SecretBox("old").encrypt(b"s")
    rotated = SecretBox("new,old")
    assert rotated.decrypt(old) == b"s"
    assert SecretBox("new").decrypt(rotated.rotate(old)) == b"s"
