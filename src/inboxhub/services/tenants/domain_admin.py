"""A tenant's email domains: added unverified, verified by a DNS TXT record that
shows the tenant controls the domain, or by a platform operator's word.

The record is ``_inboxhub-verification.<domain> TXT "inboxhub-verification=<token>"``
(the pattern of Google's and Microsoft's domain checks, kept under a name of its own
so it does not crowd the apex's TXT records). A verified domain admits just-in-time
single sign-on users; one tenant per verified domain (the store enforces it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from inboxhub.domain.errors import InvalidInput, NotFound, Unavailable
from inboxhub.domain.models import TenantDomain
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants.admin_deps import announce
from inboxhub.settings import Settings

RECORD_LABEL = "_inboxhub-verification"
VALUE_PREFIX = "inboxhub-verification="
LOOKUP_SECONDS = 5.0
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise(domain: str) -> str:
    """The domain in lower-case ASCII (IDNA), or ``InvalidInput``."""
    name = domain.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidInput(f"{domain!r} is not a domain name") from exc
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(LABEL.match(x) for x in labels):
        raise InvalidInput(f"{domain!r} is not a domain name")
    return name


def record_name(domain: str) -> str:
    return f"{RECORD_LABEL}.{domain}"


def record_value(entry: TenantDomain) -> str:
    return f"{VALUE_PREFIX}{entry.verification_token}"


def _nameserver(spec: str) -> dns.nameserver.Do53Nameserver:
    """``ip``, ``ip:port`` or ``[ipv6]:port``."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = rest.removeprefix(":")
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    else:
        host, port = spec, ""
    return dns.nameserver.Do53Nameserver(host, int(port or 53))


def make_resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    if not settings.dns_nameservers:
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [_nameserver(s) for s in settings.dns_nameservers]
    return resolver


async def txt_values(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    """Every TXT string at ``name`` (a record's strings joined, RFC 7208 §3.3 style);
    [] when there is none. ``Unavailable`` when DNS could not say."""
    try:
        answer = await resolver.resolve(name, "TXT", lifetime=LOOKUP_SECONDS, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:  # timeouts, SERVFAIL, no name servers
        raise Unavailable(f"the DNS lookup of {name} failed; try again later") from exc
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


@dataclass
class DomainAdmin:
    c: Container
    audit: AuditLog

    async def _get(self, tenant_id: str, domain: str) -> TenantDomain:
        entry = await self.c.tenancy.get_domain(tenant_id, normalise(domain))
        if entry is None:
            raise NotFound("the tenant has no such domain")
        return entry

    async def _changed(
        self, tenant_id: str, actor: Principal, what: str, domain: str, ip: str | None
    ) -> None:
        await announce(self.c.bus, tenant_id, f"domain.{what}", domain)
        await self.audit.record(tenant_id, actor.user_id, f"domain.{what}", domain, ip)

    async def add(self, admin: Principal, domain: str, ip: str | None) -> TenantDomain:
        entry = await self.c.tenancy.add_domain(admin.tenant_id, normalise(domain))
        await self._changed(admin.tenant_id, admin, "added", entry.domain, ip)
        return entry

    async def verify(self, admin: Principal, domain: str, ip: str | None) -> TenantDomain:
        entry = await self._get(admin.tenant_id, domain)
        if entry.verified:
            return entry
        name, wanted = record_name(entry.domain), record_value(entry)
        found = await txt_values(make_resolver(self.c.settings), name)
        if wanted not in found:
            seen = "no TXT record" if not found else f"TXT {found!r}"
            raise InvalidInput(f"{name} has {seen}; publish TXT {wanted!r} and try again")
        entry = await self.c.tenancy.mark_domain_verified(admin.tenant_id, entry.domain)
        await self._changed(admin.tenant_id, admin, "verified", entry.domain, ip)
        return entry

    async def verify_for(
        self, operator: Principal, tenant_id: str, domain: str, ip: str | None
    ) -> TenantDomain:
        """An operator vouches for the domain (added to the tenant if it had not been)."""
        if await self.c.directory.get_tenant(tenant_id) is None:
            raise NotFound("no such tenant")
        name = normalise(domain)
        if await self.c.tenancy.get_domain(tenant_id, name) is None:
            await self.c.tenancy.add_domain(tenant_id, name)
        entry = await self.c.tenancy.mark_domain_verified(tenant_id, name)
        await self._changed(tenant_id, operator, "verified", name, ip)
        if operator.tenant_id != tenant_id:
            await self.audit.record(
                operator.tenant_id, operator.user_id, "domain.verified", name, ip, tenant=tenant_id
            )
        return entry

    async def delete(self, admin: Principal, domain: str, ip: str | None) -> None:
        entry = await self._get(admin.tenant_id, domain)
        if not await self.c.tenancy.delete_domain(admin.tenant_id, entry.domain):
            raise NotFound("the tenant has no such domain")
        await self._changed(admin.tenant_id, admin, "deleted", entry.domain, ip)
