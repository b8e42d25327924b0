"""Pure URL helpers: normalizing links for identity, and telling public addresses from private ones.

Imports nothing of syndicate's.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

__all__ = ["absolute", "is_private_address", "normalize_link"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_link(url: str) -> str:
    """One spelling per link: scheme and host lower-cased, default port, fragment and utm_* dropped.

    Path and the other query parameters are kept as they are (case and order can matter to the server).
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
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def absolute(url: str | None, base: str | None) -> str | None:
    """``url`` made absolute against ``base``; None when it cannot be an http(s) URL."""
    if not url:
        return None
    joined = urljoin(base, url.strip()) if base else url.strip()
    return joined if joined.startswith(("http://", "https://")) else None


def is_private_address(ip: str) -> bool:
    """Loopback, private, link-local, reserved, multicast or unspecified: not a public host."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return not addr.is_global or addr.is_multicast
