"""Which failures mean "a server is down for now" rather than "this input is bad".

A consumer retries the first kind for as long as it lasts (the pipeline stalls and
resumes: the broker, the document store, the search server or the blob store being
restarted must not send every record it meets to the dead-letter topic), and gives
the second kind its configured attempts. The exception and its causes are looked at,
so an adapter that wraps a connection error keeps it recognisable.
"""

from __future__ import annotations

import importlib
from functools import cache

from inboxhub.domain.errors import Unavailable

# (module, class) of the client libraries' "could not reach the server" errors; a
# library that is not installed has none.
_LIBRARY_ERRORS = (
    ("pymongo.errors", "ConnectionFailure"),  # AutoReconnect, ServerSelectionTimeoutError…
    ("botocore.exceptions", "ConnectionError"),  # EndpointConnectionError, connect timeout
    ("botocore.exceptions", "HTTPClientError"),  # read timeout, connection closed
    ("elastic_transport", "ConnectionError"),
    ("elastic_transport", "ConnectionTimeout"),
    ("aiokafka.errors", "KafkaConnectionError"),
    ("aiokafka.errors", "KafkaTimeoutError"),
    ("httpx", "TransportError"),
)
# HTTP statuses a server answers while it is overloaded or starting (S3, Elasticsearch).
_BUSY_STATUSES = frozenset({429, 500, 502, 503, 504})


@cache
def _library_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module, name in _LIBRARY_ERRORS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _one(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError, Unavailable, *_library_errors())):
        return True
    if getattr(exc, "retriable", False) is True:  # aiokafka marks its own
        return True
    status = getattr(exc, "status_code", None)  # elasticsearch ApiError
    if status is None:  # botocore ClientError
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and status in _BUSY_STATUSES


def transient(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) says a server could not be reached or was
    too busy: trying again later may well succeed with the same input."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _one(current):
            return True
        seen.add(id(current))
        suppressed = current.__suppress_context__  # ``raise … from None``: not a cause
        current = current.__cause__ or (None if suppressed else current.__context__)
    return False
