"""The address guard: feed URLs must not reach into our own network.

Feed URLs come from config files and from redirects chosen by remote servers, so a feed
could point the watcher at a cloud metadata service (169.254.169.254), a database on
localhost or an admin page on the LAN (server-side request forgery). Before each request,
every hop of a redirect chain included, the host is resolved and refused when any of its
addresses is not a public unicast address: loopback, private, shared (CGNAT, 100.64/10),
link-local (where metadata services live), multicast, reserved, unspecified, and the IPv6
forms that embed such an IPv4 address (mapped, 6to4, NAT64).

Left open: the HTTP client resolves the name again when it connects, so a DNS server that
answers differently the second time (DNS rebinding) can slip past this check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from .errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` may not be fetched from, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_problem(embedded)
    for label, flag in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                        ("link-local", ip.is_link_local), ("private", ip.is_private),
                        ("multicast", ip.is_multicast), ("reserved", ip.is_reserved)):
        if flag:
            return label
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _6TO4:
        return ip.sixtofour
    return None


async def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, via the event loop's resolver (in a thread)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 scoped addresses come back as "fe80::1%eth0"; the scope is not part of the IP.
        text = str(sockaddr[0]).partition("%")[0]
        addresses.append(ipaddress.ip_address(text))
    return addresses


async def ensure_public_host(host: str, port: int) -> None:
    """Raise FetchError unless every address of `host` is public."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else await resolve_addresses(host, port)
    if not addresses:
        raise FetchError(f"host {host!r} has no addresses")
    for ip in addresses:
        problem = address_problem(ip)
        if problem is not None:
            raise FetchError(
                f"address not allowed: {host} resolves to {ip} ({problem}); "
                "set fetch.allow_private_addresses to fetch from private networks")
