"""Domain exceptions. The gateway maps each to one RFC 9457 problem type."""

from __future__ import annotations


class InboxhubError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(InboxhubError):
    status = 404
    title = "Not found"


class Conflict(InboxhubError):
    status = 409
    title = "Conflict"


class InvalidInput(InboxhubError):
    status = 422
    title = "Invalid input"


class CannotCalculateChanges(InboxhubError):
    """A changes state older than the store still remembers deletions for (JMAP's
    ``cannotCalculateChanges``): the client must list everything again."""

    status = 410
    title = "Cannot calculate changes"


class InvalidQuery(InboxhubError):
    """A search query that does not parse; ``extra['position']`` says where."""

    status = 400
    title = "Invalid search query"


class Unauthorized(InboxhubError):
    status = 401
    title = "Unauthorized"


class Forbidden(InboxhubError):
    status = 403
    title = "Forbidden"


class ProviderAuthFailed(InboxhubError):
    status = 502
    title = "Mail provider refused the credentials"


class Unavailable(InboxhubError):
    status = 503
    title = "Service unavailable"


class TooManyRequests(InboxhubError):
    """A rate limit or a lockout; ``extra['retry_after']`` (seconds) becomes the
    ``Retry-After`` header."""

    status = 429
    title = "Too many requests"


class MailerError(Unavailable):
    """The platform's own mail (a reset link, an invitation) could not be sent."""

    title = "Mail could not be sent"


class SendTemporaryError(Unavailable):
    """A message could not be handed to the mailbox's provider this time (a 4xx
    reply, a dropped connection, a rate limit): try again, after ``retry_after``
    seconds when the provider said so. Raised to the send worker, not to HTTP."""

    title = "Mail provider did not take the message yet"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class SendPermanentError(InboxhubError):
    """The provider refused the message for good. ``rejected`` maps each refused
    recipient to the provider's reason; empty when the whole message was refused."""

    status = 502
    title = "Mail provider refused the message"

    def __init__(self, message: str, rejected: dict[str, str] | None = None) -> None:
        super().__init__(message, rejected=dict(rejected or {}))
        self.rejected: dict[str, str] = dict(rejected or {})
