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
