"""``inboxhub reprocess``: build every stored email again from its raw message.

After an upgrade that adds to what the processor makes of a message (conversations,
duplicates across mailboxes, the text inside attachments), the emails stored before
it lack it. Reprocessing publishes ``email.eml.uploaded`` again for each of them,
with the flags and labels they have now, so the processor and the indexer rebuild
them through the normal pipeline: idempotent, resumable (running it again does no
harm), and on a shared broker done by the deployment's own processors.
"""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from inboxhub.domain.events import EML_UPLOADED, EmlUploaded, Envelope, message_key
from inboxhub.domain.models import EmailDocument
from inboxhub.ports import ListCursor
from inboxhub.runtime import Container, open_container
from inboxhub.services.consumer_processes import consumer_processes
from inboxhub.services.fetcher.local_import import embedded_bus, wait_searchable
from inboxhub.settings import Settings

PAGE = 500


def uploaded_again(doc: EmailDocument) -> Envelope:
    return EmlUploaded(
        mailbox_id=doc.mailbox_id,
        provider_message_id=doc.provider_message_id,
        blob_key=doc.blob_key,
        sha256=doc.sha256,
        size=doc.size,
        flags=doc.flags,
        labels=doc.labels,
        received_at=doc.received_at,
    ).envelope(doc.tenant_id, message_key(doc.tenant_id, doc.mailbox_id, doc.id))


async def republish(c: Container, tenant_id: str, progress: Progress) -> int:
    """Publish ``email.eml.uploaded`` for every email of the tenant; how many."""
    boxes = [m.id for m in await c.directory.list_mailboxes(tenant_id)]
    task = progress.add_task("publishing", total=await c.emails.count(tenant_id, boxes))
    after: ListCursor | None = None
    sent = 0
    while page := await c.emails.list(tenant_id, boxes, PAGE, after, trash=None):
        docs = await c.emails.get_many(tenant_id, [s.id for s in page])
        await c.bus.publish(EML_UPLOADED, [uploaded_again(d) for d in docs])
        sent += len(docs)
        progress.advance(task, len(page))
        after = ListCursor(page[-1].sort_date, page[-1].id)
    return sent


async def reprocess(settings: Settings, tenant_slug: str | None) -> int:
    """Reprocess one tenant's emails (all tenants' when None) and wait until they
    are searchable again; how many were reprocessed."""
    c = await open_container(settings)
    try:
        if tenant_slug is None:
            tenants = await c.directory.list_tenant_ids()
        else:
            tenant = await c.directory.get_tenant_by_slug(tenant_slug)
            if tenant is None:
                raise SystemExit(f"no tenant {tenant_slug!r}")
            tenants = [tenant.id]
        services = ("processor", "indexer") if embedded_bus(settings) else ()
        columns = (
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with consumer_processes(settings, services) as children, Progress(*columns) as progress:
            sent = 0
            for tenant_id in tenants:
                sent += await republish(c, tenant_id, progress)
            await wait_searchable(c.bus, progress, children)
        return sent
    finally:
        await c.close()
