"""What a host string is: an IP literal, a loopback address. The one owner of these tests
for every layer (origins, hosts lines, URL checks, env check)."""

from __future__ import annotations

import ipaddress


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` spells (an IPv6 zone ``%eth0`` is ignored), or None for a
    name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def is_ip(host: str) -> bool:
    """``host`` is an IP literal, not a name."""
    return ip_of(host) is not None


def is_loopback(host: str, *, name_too: bool = False) -> bool:
    """``host`` is a loopback address (127.0.0.0/8, ::1); with ``name_too`` the name
    ``localhost`` counts as well."""
    if name_too and host.lower().rstrip(".") == "localhost":
        return True
    address = ip_of(host)
    return address is not None and address.is_loopback
