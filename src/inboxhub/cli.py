"""The ``inboxhub`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inboxhub.runtime import SERVICES
from inboxhub.settings import Settings, load_settings

app = typer.Typer(
    help="inboxhub: every mailbox of a company in one searchable store.", no_args_is_help=True
)
dlq_app = typer.Typer(help="Dead-letter topics: inspect and replay.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
tenant_app = typer.Typer(help="Tenants (companies).", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
keys_app = typer.Typer(help="Signing keys of access tokens.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
secrets_app = typer.Typer(help="Secrets at rest (INBOXHUB_SECRET_KEY).", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
audit_app = typer.Typer(help="The audit trail: verify its chains, purge.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


def _settings() -> Settings:
    from inboxhub.logging import configure

    settings = load_settings()
    configure(settings.log_level, settings.log_json)
    return settings


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="bind address (INBOXHUB_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (INBOXHUB_PORT)")] = None,
) -> None:
    """Start every service in this process on the configured adapters."""
    from inboxhub.launch import serve_all

    settings = _settings()
    asyncio.run(serve_all(settings, host or settings.host, port or settings.port))


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")],
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Start one service alone (the distributed deployment runs one per process)."""
    from inboxhub.launch import serve_one

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    settings = _settings()
    asyncio.run(serve_one(settings, service, host or settings.host, port or settings.port))


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="a Maildir, an mbox file or a tree of .eml files")],
    mailbox: Annotated[str, typer.Option(help="mailbox name (created if missing)")],
    tenant: Annotated[str, typer.Option(help="tenant slug")] = "default",
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="return once stored, before searchable")
    ] = False,
    consumers: Annotated[
        bool | None,
        typer.Option(
            "--consumers/--no-consumers",
            help="run a processor and an indexer for the import (default: only on the "
            "embedded bus; with Kafka the deployment's services consume)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import local mail through the pipeline; returns when all of it is searchable."""
    from inboxhub.services.consumer_processes import ConsumerDied
    from inboxhub.services.fetcher.local_import import import_path

    settings = _settings()
    try:
        result = asyncio.run(import_path(settings, path, mailbox, tenant, not no_wait, consumers))
    except ConsumerDied as exc:
        console.print(f"[red]import stopped:[/] {exc}; what was stored is kept, run it again")
        raise typer.Exit(1) from None

    console.print(
        f"[bold]{result.seen}[/] messages read: [green]{result.published} new[/], "
        f"{result.skipped} already there; mailbox {mailbox!r} holds {result.total} emails."
    )


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="short name, e.g. acme")],
    admin_email: Annotated[str, typer.Option(help="the tenant's first admin")],
    admin_password: Annotated[
        str, typer.Option(help="their password", prompt=True, hide_input=True)
    ],
) -> None:
    """Create a tenant and its first admin (platform operators)."""
    from inboxhub.launch import create_tenant

    asyncio.run(create_tenant(_settings(), slug, admin_email, admin_password))
    console.print(f"tenant {slug!r} with admin {admin_email}")


@app.command()
def reprocess(
    tenant: Annotated[
        str | None, typer.Option(help="only this tenant's emails (default: every tenant's)")
    ] = None,
) -> None:
    """Build every stored email again from its raw message (after an upgrade: threads,
    duplicates, attachment text), and wait until all are searchable."""
    from inboxhub.services.processor.reprocess import reprocess as run_reprocess

    count = asyncio.run(run_reprocess(_settings(), tenant))
    console.print(f"reprocessed {count} emails")


@app.command()
def migrate() -> None:
    """Bring the relational schema to the newest version (Alembic)."""
    from inboxhub.adapters.db import migrate as run_migrations

    settings = _settings()
    asyncio.run(run_migrations(settings.database_url))
    console.print("schema up to date")


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str, typer.Argument(help="e.g. email.eml.uploaded")],
    limit: int = 50,
) -> None:
    """Show the dead letters of a topic with their errors."""
    from inboxhub.launch import dlq_records

    for r in asyncio.run(dlq_records(_settings(), topic, limit)):
        console.print(
            f"{r.offset}\t{r.envelope.tenant_id}\t{r.envelope.id}\t{r.headers.get('error', '')}"
        )


@dlq_app.command("replay")
def dlq_replay(topic: Annotated[str, typer.Argument(help="e.g. email.eml.uploaded")]) -> None:
    """Put a topic's dead letters back on the topic (after a fix)."""
    from inboxhub.launch import dlq_replay as replay

    count = asyncio.run(replay(_settings(), topic))
    console.print(f"replayed {count} events onto {topic}")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the first key of INBOXHUB_SECRET_KEY (set
    it to "new,old" first; drop "old" afterwards)."""
    from inboxhub.crypto import SecretDecryptionError
    from inboxhub.services.tenants.secret_rotation import rotate_secrets

    try:
        done = asyncio.run(rotate_secrets(_settings()))
    except SecretDecryptionError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    for column, count in done.items():
        console.print(f"{column}: {count} re-encrypted")


@keys_app.command("rotate")
def keys_rotate(
    keep: Annotated[int, typer.Option(min=2, help="keys kept for verifying, the new one too")] = 3,
) -> None:
    """A new signing key for access tokens; tokens signed before stay valid."""
    from inboxhub.services.auth.keys import rotate_signing_keys

    kids = asyncio.run(rotate_signing_keys(_settings(), keep))
    console.print(f"signing with key {kids[0]}; verifying with {', '.join(kids)}")


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[str | None, typer.Option(help="tenant slug (default: every tenant)")] = None,
) -> None:
    """Check each tenant's audit chain; exit 1 at the first record edited, deleted,
    reordered or inserted."""
    from inboxhub.services.audit.maintenance import verify_trails

    for result in asyncio.run(verify_trails(_settings(), tenant)):
        if not result.ok:
            console.print(
                f"[red]{result.tenant_id}: broken at seq {result.broken_seq}[/]: {result.reason}"
            )
            raise typer.Exit(1)
        console.print(f"{result.tenant_id}: {result.verified} records verified")


@audit_app.command("purge")
def audit_purge(
    tenant: Annotated[str | None, typer.Option(help="tenant slug (default: every tenant)")] = None,
) -> None:
    """Delete the records older than each tenant's retention (not under legal hold);
    the audit service also does this once a day."""
    from inboxhub.services.audit.maintenance import purge_trails

    for tenant_id, count in asyncio.run(purge_trails(_settings(), tenant)).items():
        console.print(f"{tenant_id}: {count} records purged")


def main() -> None:
    """The console entry point: what the user got wrong (a path, a setting) is one
    line and exit code 2, not a traceback."""
    from inboxhub.domain.errors import InboxhubError
    from inboxhub.runtime import UnsupportedUrl

    try:
        app()
    except (InboxhubError, UnsupportedUrl) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from None
