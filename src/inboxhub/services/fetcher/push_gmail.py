"""The Pub/Sub push endpoint for Gmail: Google publishes ``{emailAddress, historyId}``
to our topic when a watched mailbox changes, and the push subscription posts it here.

The subscription's URL carries a shared secret (``?token=``, the
``gmail_push_token`` setting), compared in constant time; with no token configured
the endpoint does not exist (404). Any 2xx acknowledges the message, so an address we
do not know is still answered 204 (retrying would not help); a body that is not a
Gmail notification is a 400 problem.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from inboxhub.domain.errors import Forbidden, InvalidInput, NotFound
from inboxhub.providers.gmail import parse_push_notification
from inboxhub.services.gateway.problems import declares


class MalformedPush(InvalidInput):
    """Not a Gmail Pub/Sub notification (a 400, not InvalidInput's usual 422: the
    body is not a request we could have understood with other values)."""

    status = 400
    title = "Malformed push notification"


def build_router(app_settings: Any, wake: Callable[[str, int], Awaitable[int]]) -> APIRouter:
    """``wake(email_address, history_id)`` wakes the mailbox(es) of that address and
    says how many there were."""
    router = APIRouter(prefix="/api/v1/push", tags=["push"])

    @router.post("/gmail", status_code=204, response_class=Response, responses=declares(404))
    async def gmail_push(request: Request, token: str = Query("")) -> Response:
        expected = str(app_settings.gmail_push_token or "")
        if not expected:
            raise NotFound("Gmail push notifications are not enabled")
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise Forbidden("wrong push token")
        try:
            body = await request.json()
        except ValueError as exc:
            raise MalformedPush("the body is not JSON") from exc
        try:
            email_address, history_id = parse_push_notification(body)
        except ValueError as exc:
            raise MalformedPush(str(exc)) from exc
        await wake(email_address, history_id)
        return Response(status_code=204)

    return router
