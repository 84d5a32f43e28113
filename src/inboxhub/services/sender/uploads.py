"""Uploads: files to attach to outgoing messages.

The bytes go to the blob store under the tenant (``t/<tenant>/upload/<sha256>``,
content-addressed), with a row naming the owner, the file's name and type, and when
it expires. Only the owner attaches it (``compose.py``). Expired uploads are purged
by the outbox worker (``purge_expired``), the blob with the last row naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.ids import new_id, sha256_hex
from inboxhub.domain.outgoing import Upload, upload_blob_key
from inboxhub.ports import BlobStore, OutgoingStore
from inboxhub.services.api.access import MailAccess
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.settings import Settings

log = structlog.get_logger(__name__)

UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        }
    },
}
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FILENAME = 255


def clean_filename(name: str) -> str:
    """The last path segment, without control characters (no header injection
    through a filename), at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _CONTROL.sub("", base).strip()[:MAX_FILENAME] or "attachment"


def clean_content_type(value: str | None) -> str:
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind if _CONTENT_TYPE.match(kind) else "application/octet-stream"


@dataclass
class Uploads:
    store: OutgoingStore
    blobs: BlobStore
    access: MailAccess
    audit: AuditLog
    settings: Settings
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def receive(self, principal: Principal, request: Request, ip: str | None) -> Upload:
        await self.access.writable(principal)  # auditors never send: 403 before the body
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise InvalidInput("send the file as multipart/form-data, field 'file'", field="file")
        try:
            form = await request.form(max_files=1, max_fields=5)
        except HTTPException as exc:
            if exc.status_code == 413:  # the body limit (gateway/bodylimit.py)
                raise
            raise InvalidInput(f"the form cannot be read: {exc.detail}", field="file") from exc
        except Exception as exc:  # a broken multipart body
            raise InvalidInput(f"the multipart body cannot be read: {exc}", field="file") from exc
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise InvalidInput("the form has no file in field 'file'", field="file")
            data = await file.read(self.settings.upload_max_bytes + 1)
            if len(data) > self.settings.upload_max_bytes:
                raise HTTPException(
                    413, f"a file may have at most {self.settings.upload_max_bytes} bytes"
                )
            upload = await self._store(principal, file, data)
        finally:
            await form.close()
        await self.audit.record(
            principal.tenant_id,
            principal.user_id,
            "upload.create",
            upload.id,
            ip,
            filename=upload.filename,
            size=upload.size,
        )
        return upload

    async def _store(self, principal: Principal, file: UploadFile, data: bytes) -> Upload:
        digest = sha256_hex(data)
        now = self.clock()
        upload = Upload(
            id=new_id(),
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            filename=clean_filename(file.filename or ""),
            content_type=clean_content_type(file.content_type),
            size=len(data),
            sha256=digest,
            created_at=now,
            expires_at=now + timedelta(hours=self.settings.upload_ttl_hours),
        )
        await self.blobs.put(upload_blob_key(principal.tenant_id, digest), data)
        await self.store.add_upload(upload)
        return upload


async def purge_expired(store: OutgoingStore, blobs: BlobStore, now: datetime) -> int:
    """Delete expired uploads, and the blobs no upload names any more; how many."""
    gone = await store.purge_uploads(now)
    for up in {(u.tenant_id, u.sha256) for u in gone}:
        if not await store.upload_in_use(*up):
            await blobs.delete(upload_blob_key(*up))
    return len(gone)
