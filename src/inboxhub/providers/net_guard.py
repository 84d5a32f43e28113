"""Keep tenant-entered mail hosts away from our own network (SSRF).

A tenant admin types an IMAP or EWS host name; the fetcher then connects from inside
our deployment. Unless an operator allows it (``allow_private_mail_hosts``), a name
that resolves to any loopback, private, link-local (cloud metadata lives there),
shared, reserved, multicast or unspecified address is refused. Connectors connect to
the addresses this returns, not to the name again, so a DNS answer that changes
between the check and the connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from inboxhub.providers.base import ProviderConfigError

# Addresses that are public by the flags of ``ipaddress`` but are still ours or
# special: cloud metadata services and the IPv6 ranges that embed IPv4.
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (is_private is False)
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64: embeds an IPv4 address
    ipaddress.ip_network("2002::/16"),  # 6to4: embeds an IPv4 address
]


def is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
        or any(ip in net for net in _EXTRA_BLOCKED)
    )


async def resolve_allowed(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses of ``host`` to connect to; raises ``ProviderConfigError`` if the
    name does not resolve, or if any address is internal and that is not allowed."""
    if not host or any(c in host for c in "/\\@ \t\r\n"):
        raise ProviderConfigError(f"invalid host name {host!r}")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProviderConfigError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        internal = [a for a in addresses if is_internal(a)]
        if internal:
            raise ProviderConfigError(
                f"host {host!r} resolves to an internal address ({internal[0]}); "
                "an operator must set INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS=true to allow it"
            )
    return addresses
