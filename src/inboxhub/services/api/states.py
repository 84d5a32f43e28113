"""Opaque change states (``ports.ChangeState`` in a ``domain.tokens`` token), as the
changes feed and the email list hand them out."""

from __future__ import annotations

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.tokens import decode_token, encode_token
from inboxhub.ports import ChangeState

BAD_STATE = "state is not one this API returned"


def encode(state: ChangeState) -> str:
    return encode_token({"m": state.modseq, **({"i": state.id} if state.id is not None else {})})


def decode(token: str) -> ChangeState:
    try:
        data = decode_token(token)
        modseq, email_id = data["m"], data.get("i")
    except (InvalidInput, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(BAD_STATE) from exc
    if type(modseq) is not int or modseq < 0 or not (email_id is None or isinstance(email_id, str)):
        raise InvalidInput(BAD_STATE)
    return ChangeState(modseq, email_id)
