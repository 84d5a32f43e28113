"""What the erasure finds from the schema, and how it scrubs an audit detail."""

from __future__ import annotations

from inboxhub.adapters.db_erasure import ERASED, scrubbed, tenant_tables
from inboxhub.adapters.db_tables import metadata

PLATFORM_TABLES = {"tenants", "fetcher_workers", "secrets"}  # no tenant's data in them


def test_every_table_but_the_platform_ones_is_erased_with_its_tenant() -> None:
    erased = {t.name for t in tenant_tables()}
    assert erased | PLATFORM_TABLES == {t.name for t in metadata.sorted_tables}, (
        "a new table without tenant_id escapes the tenant erasure"
    )
    assert {"users", "audit_log", "mailbox_members", "mailboxes"} <= erased


def test_scrubbing_replaces_addresses_in_any_case_anywhere() -> None:
    detail = {
        "email": "Clerk@Acme.test",
        "to": ["x@y.test", "a note to clerk@acme.test and CLERK@ACME.TEST"],
        "count": 3,
        "nested": {"by": "clerk@acme.test"},
    }
    assert scrubbed(detail, ["clerk@acme.test"]) == {
        "email": ERASED,
        "to": ["x@y.test", f"a note to {ERASED} and {ERASED}"],
        "count": 3,
        "nested": {"by": ERASED},
    }
