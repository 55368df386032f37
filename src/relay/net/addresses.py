"""Which IP addresses relay may connect to when a stranger chose the host.

Public unicast only: loopback, private (RFC 1918, ULA), link-local (which holds cloud metadata
services such as 169.254.169.254), shared/CGNAT (100.64.0.0/10), multicast, unspecified and
reserved ranges are refused — also when they hide inside an IPv6 address (IPv4-mapped, NAT64,
6to4, Teredo).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

_CGNAT = IPv4Network("100.64.0.0/10")
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")


def _embedded(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if it is one of the translation forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def refusal(address: str | IPAddress) -> str | None:
    """Why relay must not connect to ``address`` (a short label), or None when it is public."""
    ip = ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, IPv6Address) and (inner := _embedded(ip)) is not None:
        return refusal(inner)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None
