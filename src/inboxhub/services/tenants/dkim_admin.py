"""DKIM keys of a tenant's domains: generated here (RSA 2048) or uploaded by an admin,
then activated once their public half is published in DNS — the flow of Google
Workspace's "generate record, publish it, start authentication".

A key is kept for any domain the tenant has added, verified or not: activation looks
up ``<selector>._domainkey.<domain>`` and requires the key's own public key there,
which shows control of the domain's DNS as well as the domain check's TXT record
would. Activation makes the key the domain's signing key; the key it replaces stays
until deleted, so its record can stay published while mail signed with it is in
flight. The private key never leaves the store but to sign.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.domain.models import DkimKeyInfo
from inboxhub.mime.dkim_sign import (
    InvalidKey,
    check_selector,
    dkim_txt_record,
    dns_record_name,
    generate_rsa_key,
    key_algorithm,
    normalised_pem,
)
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants.admin_deps import announce
from inboxhub.services.tenants.domain_admin import make_resolver, normalise, txt_values

_TAG = re.compile(r"^\s*([a-z]+)\s*=(.*)$", re.I)


def _tags(record: str) -> dict[str, str]:
    """A DKIM key record's tags (RFC 6376 section 3.6.1), whitespace removed inside."""
    tags = {}
    for part in record.split(";"):
        found = _TAG.match(part)
        if found:
            tags[found.group(1).lower()] = "".join(found.group(2).split())
    return tags


def published(found: list[str], wanted: str) -> bool:
    """Whether one of the TXT values at the key's name publishes the same key."""
    want = _tags(wanted)
    for value in found:
        tags = _tags(value)
        if tags.get("p") == want["p"] and tags.get("k", "rsa").lower() == want["k"]:
            return True
    return False


@dataclass
class DkimAdmin:
    c: Container
    audit: AuditLog

    async def domain(self, tenant_id: str, domain: str) -> str:
        """The tenant's domain, normalised; ``NotFound`` if it has no such domain."""
        name = normalise(domain)
        if await self.c.tenancy.get_domain(tenant_id, name) is None:
            raise NotFound("the tenant has no such domain")
        return name

    async def get(self, tenant_id: str, domain: str, selector: str) -> DkimKeyInfo:
        name = await self.domain(tenant_id, domain)
        key = await self.c.dkim.get(tenant_id, name, selector.lower())
        if key is None:
            raise NotFound("the domain has no DKIM key with that selector")
        return key

    async def _changed(
        self, admin: Principal, action: str, key: DkimKeyInfo, ip: str | None, **detail: str
    ) -> None:
        target = f"{key.selector}._domainkey.{key.domain}"
        await announce(self.c.bus, admin.tenant_id, action, target)
        await self.audit.record(admin.tenant_id, admin.user_id, action, target, ip, **detail)

    async def create(
        self, admin: Principal, domain: str, selector: str, upload: str | None, ip: str | None
    ) -> DkimKeyInfo:
        name = await self.domain(admin.tenant_id, domain)
        try:
            selector = check_selector(selector)
            if upload is None:  # RSA generation takes a while: off the event loop
                pem, source = await asyncio.to_thread(generate_rsa_key), "generated"
            else:
                pem, source = normalised_pem(upload.encode("utf-8", "replace")), "uploaded"
        except (ValueError, InvalidKey) as exc:
            raise InvalidInput(str(exc)) from None
        algorithm = key_algorithm(pem)
        key = await self.c.dkim.add(
            admin.tenant_id,
            name,
            selector,
            algorithm=algorithm,
            private_key_pem=pem,
            dns_value=dkim_txt_record(pem),
            created_by=admin.user_id,
        )
        await self._changed(admin, "dkim.created", key, ip, source=source, algorithm=algorithm)
        return key

    async def activate(
        self, admin: Principal, domain: str, selector: str, ip: str | None
    ) -> DkimKeyInfo:
        """Look the key's TXT record up; 422 saying what was found if it is not there."""
        key = await self.get(admin.tenant_id, domain, selector)
        if key.active:
            return key
        record = dns_record_name(key.selector, key.domain)
        found = await txt_values(make_resolver(self.c.settings), record)
        if not published(found, key.dns_value):
            seen = "no TXT record" if not found else f"TXT {[v[:80] for v in found]!r}"
            raise InvalidInput(f"{record} has {seen}; publish this key's TXT record and try again")
        active = await self.c.dkim.activate(admin.tenant_id, key.domain, key.selector)
        if active is None:  # deleted meanwhile
            raise NotFound("the domain has no DKIM key with that selector")
        await self._changed(admin, "dkim.activated", active, ip)
        return active

    async def delete(self, admin: Principal, domain: str, selector: str, ip: str | None) -> None:
        key = await self.get(admin.tenant_id, domain, selector)
        if not await self.c.dkim.delete(admin.tenant_id, key.domain, key.selector):
            raise NotFound("the domain has no DKIM key with that selector")
        await self._changed(admin, "dkim.deleted", key, ip)
