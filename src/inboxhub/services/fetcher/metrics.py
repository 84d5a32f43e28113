"""The fetcher's Prometheus metrics (served on ``/metrics`` of its process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

MESSAGES = Counter(
    "inboxhub_fetcher_messages_total", "New messages stored and announced", ["provider"]
)
SYNCS = Counter("inboxhub_fetcher_syncs_total", "Completed sync passes", ["provider"])
SYNC_ERRORS = Counter(
    "inboxhub_fetcher_sync_errors_total",
    "Failed sync passes by kind (retrying, error = needs an admin, internal)",
    ["provider", "kind"],
)
MAILBOXES = Gauge("inboxhub_fetcher_mailboxes", "Mailboxes this process holds the lease of")
