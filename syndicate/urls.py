"""Pure URL helpers: normalizing links for identity, and telling public addresses from private ones.

Imports nothing of syndicate's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

__all__ = ["absolute", "as_uri", "is_private_address", "may_reach_private", "normalize_link"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_link(url: str, *, keep_fragment: bool = False) -> str:
    """One spelling per link: scheme and host lower-cased, default port, fragment and utm_* dropped.

    Path and the other query parameters are kept as they are (case and order can matter to the server).
    ``keep_fragment``: the fragment stays (dedupe: ``page#part1`` and ``page#part2`` are two posts).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, parts.fragment if keep_fragment else ""))


# Characters a URI may carry as they are (RFC 3986 reserved and unreserved, and "%" of escapes made already).
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


def as_uri(url: str) -> str:
    """An IRI written as a URI, as RSS requires and Atom validators want: a non-ASCII host in its IDNA
    (xn--) form, other non-ASCII characters and spaces percent-encoded as UTF-8. Escapes already made stay;
    an ASCII URL without spaces is returned as it is."""
    if url.isascii() and " " not in url and '"' not in url:
        return url
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if host and not host.isascii():
            netloc = parts.netloc.replace(parts.hostname or "", host.encode("idna").decode("ascii"))
        else:
            netloc = parts.netloc
    except (ValueError, UnicodeError):
        return quote(url.strip(), safe=_URI_SAFE)
    return urlunsplit(
        (
            parts.scheme,
            quote(netloc, safe=_URI_SAFE),
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE),
            quote(parts.fragment, safe=_URI_SAFE),
        )
    )


def absolute(url: str | None, base: str | None) -> str | None:
    """``url`` made absolute against ``base``; None when it cannot be an http(s) URL."""
    if not url:
        return None
    joined = urljoin(base, url.strip()) if base else url.strip()
    return joined if joined.startswith(("http://", "https://")) else None


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible addresses, ::a.b.c.d


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, compatible, NAT64, 6to4 and Teredo forms."""
    found: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped:
        found.append(addr.ipv4_mapped)
    if addr in _COMPATIBLE or any(addr in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    if addr.sixtofour:
        found.append(addr.sixtofour)
    if addr.teredo:
        found.extend(addr.teredo)
    return found


def is_private_address(ip: str) -> bool:
    """Loopback, private, link-local, reserved, multicast or unspecified: not a public host. An IPv6
    address that embeds an IPv4 one (``::ffff:127.0.0.1``, ``::127.0.0.1``, NAT64 ``64:ff9b::/96``, 6to4
    ``2002::/16``, Teredo) is private when what it embeds is."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if any(not a.is_global or a.is_multicast for a in embedded):
            return True
        if embedded and addr.ipv4_mapped:
            addr = embedded[0]
    return not addr.is_global or addr.is_multicast


def may_reach_private(
    url: str, allowed_hosts: Iterable[str] = (), is_private: Callable[[str], bool] = is_private_address
) -> bool:
    """Whether a source configured with ``url`` may connect to loopback and private networks: only when
    the configured URL names such an address itself (an IP literal, or ``localhost``), or its host is on
    the operator's allow-list (``[fetch] private_hosts``: names, addresses or networks). Decided from the
    configuration alone, never from what a name resolves to today: a partner's name that later resolves to
    127.0.0.1, or a redirect it saved, must not reach the internal network."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return False
    for entry in allowed_hosts:
        entry = entry.lower().rstrip(".")
        if host == entry:
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            pass
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: public, whatever it resolves to
    return is_private(host)
