"""The address guard: feed URLs must not reach into our own network.

Feed URLs come from config files and from redirects chosen by remote servers, so a feed
could point the watcher at a cloud metadata service (169.254.169.254), a database on
localhost or an admin page on the LAN (server-side request forgery). A host is refused when
any of its addresses is not a public unicast address: loopback, private, shared (CGNAT,
100.64/10), link-local (where metadata services live), multicast, reserved, unspecified, and
the IPv6 forms that embed such an IPv4 address (mapped, 6to4, NAT64).

The check sits where the connection is made (transport.py): the HTTP client's resolver
resolves the host, checks every address, and gives the connection pool only addresses it
checked. Every connection the client opens, for every redirect hop, goes through it, and no
second lookup happens, so a DNS server that answers differently the second time (DNS
rebinding) cannot slip past. TLS is unaffected: the host name is still sent for SNI and
certificate checks, and the Host header comes from the URL.

An intranet feed, or a test feed on 127.0.0.1, is reached by listing its networks in
`fetch.allow_addresses` (`allowing`): an address inside one of them passes, every other
address is judged as above. The list opens only those networks: a redirect or a DNS answer
leading anywhere else (127.0.0.2, `2130706434`, `[::ffff:127.0.0.2]`, 169.254.169.254) is
still refused, since every host is resolved (by the system's resolver, which reads decimal,
octal and short forms the way a browser would) and each of its addresses checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

from watcher.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
AddressPolicy = Callable[[IPAddress], "str | None"]

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


def allowing(networks: Iterable[IPNetwork]) -> AddressPolicy:
    """`address_problem`, except that addresses inside `networks` pass. An IPv6 address
    that embeds an IPv4 one (::ffff:10.0.0.1) passes when either form is listed."""
    listed = tuple(networks)
    if not listed:
        return address_problem

    def policy(ip: IPAddress) -> str | None:
        forms = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)):
            forms.append(embedded)
        if any(form in net for form in forms for net in listed):
            return None
        return address_problem(ip)
    return policy


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


async def public_addresses(host: str, port: int, resolve: Resolver = resolve_addresses,
                           policy: AddressPolicy = address_problem) -> list[IPAddress]:
    """The addresses of `host`, or FetchError unless every one of them is public."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else await resolve(host, port)
    if not addresses:
        raise FetchError(f"host {host!r} has no addresses")
    for ip in addresses:
        problem = policy(ip)
        if problem is not None:
            raise FetchError(
                f"address not allowed: {host} resolves to {ip} ({problem}); "
                "list its network in fetch.allow_addresses to fetch from it")
    return list(dict.fromkeys(addresses))  # getaddrinfo repeats an address per protocol
