"""Tenant-entered mail hosts may not point into our own network (SSRF)."""

from __future__ import annotations

import pytest

from inboxhub.providers.base import ProviderConfigError
from inboxhub.providers.net_guard import is_internal, resolve_allowed


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fe80::1%eth0",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_recognised(address: str) -> None:
    assert is_internal(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "140.82.112.3"])
def test_public_addresses_pass(address: str) -> None:
    assert not is_internal(address)


async def test_loopback_names_are_refused_unless_an_operator_allows_them() -> None:
    with pytest.raises(ProviderConfigError, match="INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS"):
        await resolve_allowed("localhost", 993, allow_private=False)
    with pytest.raises(ProviderConfigError, match="internal address"):
        await resolve_allowed("127.0.0.1", 993, allow_private=False)
    assert "127.0.0.1" in await resolve_allowed("127.0.0.1", 993, allow_private=True)


@pytest.mark.parametrize("host", ["", "evil.com/x", "user@host", "a b", "x\r\nSTARTTLS"])
async def test_malformed_host_names_are_refused(host: str) -> None:
    with pytest.raises(ProviderConfigError, match="invalid host"):
        await resolve_allowed(host, 993, allow_private=True)


async def test_a_name_that_does_not_resolve_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="cannot resolve"):
        await resolve_allowed("no-such-host.invalid", 993, allow_private=True)
