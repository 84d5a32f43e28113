"""inboxhub: a company's mailboxes in one multi-tenant, searchable store."""

__version__ = "0.1.0"
