"""Fetching feed documents over HTTP(S), politely and defensively (httpx, asyncio).

Owns: conditional GET (If-None-Match / If-Modified-Since), redirects followed one hop at a time (so a
permanent move is noticed, a loop is caught, and every hop's connected address is checked), the body limit
enforced while streaming (after decompression, so a gzip bomb stops at the limit), one deadline per request
that a server dripping bytes cannot stretch, a bounded pool of concurrent requests and at most one request
at a time per host. Returns an ``HttpResult`` value for every outcome; it never raises for a bad server.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import ipaddress
import socket
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import brotli
import httpcore
import httpx

from ..urls import is_private_address, may_reach_private

__all__ = ["HttpFetcher", "HttpRequest", "HttpResult"]

_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
_MAX_REDIRECTS = 5
_ENCODINGS = ("gzip", "x-gzip", "deflate", "br")
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    source_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    origin: str | None = None  # the source's configured URL (``url`` may be where it moved): decides
    # whether private addresses may be reached; None: ``url`` is the configured one


@dataclass(frozen=True, slots=True)
class HttpResult:
    """What one fetch gave. ``error_kind`` is set on failure: timeout, connect, too_large, redirect,
    blocked, http (an error status), protocol."""

    url: str  # the URL the final response came from
    status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None  # set when every redirect on the way was permanent (301/308)
    retry_after: str | None = None
    error_kind: str | None = None
    error: str | None = None
    ms: int = 0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _Fail(Exception):
    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status, self.retry_after = kind, message, status, retry_after


class _Guard:
    """The address rule of one fetch, decided before it starts from the source's configured URL: a source
    configured with a public name or address may connect to public addresses only, on every hop and every
    poll (a saved redirect or a changed DNS record cannot lead it inside); one configured with a private
    address, localhost or an allowed host may connect anywhere."""

    def __init__(self, is_private: Callable[[str], bool], private_ok: bool) -> None:
        self.is_private = is_private
        self.private_ok = private_ok

    def check(self, ip: str | None, url: str) -> None:
        if self.private_ok:
            return
        if ip is None or self.is_private(ip):
            raise _Fail("blocked", f"{url} leads into a private network ({ip}); the source's configured URL is public")


_GUARD: contextvars.ContextVar[_Guard] = contextvars.ContextVar("syndicate_fetch_guard")


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself and connects to the address it checked, so that a name which resolves
    to a public address for the check and a private one for the connection (DNS rebinding) cannot pass."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ip = _address(host)
        if ip is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as e:  # socket.gaierror: no such name; UnicodeError: bad IDNA
                raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from e
            if not infos:
                raise httpcore.ConnectError(f"cannot resolve {host}")
            ip = str(infos[0][4][0])
        guard = _GUARD.get(None)
        if guard is not None:
            guard.check(ip, f"{host}:{port}")
        return await self._inner.connect_tcp(
            ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _address(host: str) -> str | None:
    """A host written as an address in its usual form is that address: no lookup (the resolver's thread
    cost more than a 304). Other forms (``127.1``, ``0x7f.1``) go to the resolver, which reads them."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class _GuardedTransport(httpx.AsyncHTTPTransport):
    # httpx offers no public way to give its transport a network backend; the pool it builds is
    # replaced by an equal one that connects through _GuardedBackend.
    def __init__(self, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context()  # one for both pools: each loads the CA bundle (15 ms)
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
        )


class HttpFetcher:
    """Use as ``async with HttpFetcher(...) as f: await f.fetch(request)``.

    ``is_private`` decides which connected addresses count as private (tests pass their own rule to make a
    loopback address stand for a public host); ``private_hosts`` are the operator's exceptions. A source
    whose configured URL is public never connects to a private address (``_Guard``).
    """

    def __init__(
        self,
        user_agent: str,
        concurrency: int = 8,
        is_private: Callable[[str], bool] = is_private_address,
        private_hosts: Iterable[str] = (),
    ) -> None:
        self._user_agent = user_agent
        self._pool = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, asyncio.Lock] = {}
        self._is_private = is_private
        self._private_hosts = tuple(private_hosts)
        self._client: httpx.AsyncClient | None = None
        self._limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)

    async def __aenter__(self) -> HttpFetcher:
        return self

    @property
    def client(self) -> httpx.AsyncClient:
        """Made on the first request (a fetch of local sources only never pays for TLS set-up)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=_GuardedTransport(self._limits),
                follow_redirects=False,
                trust_env=False,  # an operator's proxy variables must not bypass the address checks
                limits=self._limits,
                headers={"User-Agent": self._user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate, br"},
            )
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def fetch(self, req: HttpRequest) -> HttpResult:
        host = (urlsplit(req.url).hostname or "").lower()
        lock = self._hosts.setdefault(host, asyncio.Lock())
        started = time.perf_counter()
        async with self._pool, lock:
            private_ok = may_reach_private(req.origin or req.url, self._private_hosts, self._is_private)
            _GUARD.set(_Guard(self._is_private, private_ok))
            try:
                async with asyncio.timeout(req.timeout):
                    result = await self._follow(req)
            except _Fail as f:
                result = HttpResult(req.url, f.status, error_kind=f.kind, error=f.message, retry_after=f.retry_after)
            except TimeoutError:
                result = HttpResult(
                    req.url, error_kind="timeout", error=f"no complete response within {req.timeout:g}s"
                )
            except httpx.TimeoutException:
                result = HttpResult(req.url, error_kind="timeout", error=f"timed out after {req.timeout:g}s")
            except httpx.ConnectError as e:
                result = HttpResult(req.url, error_kind="connect", error=f"cannot connect: {e or type(e).__name__}")
            except httpx.HTTPError as e:
                result = HttpResult(req.url, error_kind="protocol", error=f"{type(e).__name__}: {e}")
        return dataclasses.replace(result, ms=round((time.perf_counter() - started) * 1000))

    async def _follow(self, req: HttpRequest) -> HttpResult:
        url, permanent = req.url, True
        guard = _GUARD.get()
        seen = {url}
        headers = {}
        if req.etag:
            headers["If-None-Match"] = req.etag
        if req.last_modified:
            headers["If-Modified-Since"] = req.last_modified
        for _hop in range(_MAX_REDIRECTS + 1):
            async with self.client.stream("GET", url, headers=headers) as resp:
                # Checked at connect time by _GuardedBackend; a kept-alive connection skips that, so
                # the connected address is checked again here.
                guard.check(_peer(resp), url)
                status = resp.status_code
                if status in _REDIRECTS:
                    location = resp.headers.get("location")
                    if not location:
                        raise _Fail("redirect", f"HTTP {status} without a Location header", status)
                    nxt = urljoin(url, location)
                    if not nxt.startswith(("http://", "https://")):
                        raise _Fail("redirect", f"redirected to a non-HTTP URL {nxt!r}", status)
                    if nxt in seen:
                        raise _Fail("redirect", f"redirect loop at {nxt}", status)
                    seen.add(nxt)
                    permanent = permanent and status in _PERMANENT
                    url = nxt
                    continue
                moved = url if permanent and url != req.url else None
                if status == 304:
                    return HttpResult(url, status, permanent_url=moved, etag=req.etag, last_modified=req.last_modified)
                if status >= 400:
                    raise _Fail(
                        "http", f"HTTP {status} {resp.reason_phrase}".strip(), status, resp.headers.get("retry-after")
                    )
                if status != 200:
                    raise _Fail("http", f"unexpected HTTP {status}", status)
                body = await _read_limited(resp, req.max_bytes)
                return HttpResult(
                    url,
                    status,
                    body=body,
                    content_type=resp.headers.get("content-type"),
                    etag=resp.headers.get("etag"),
                    last_modified=resp.headers.get("last-modified"),
                    permanent_url=moved,
                )
        raise _Fail("redirect", f"more than {_MAX_REDIRECTS} redirects")


async def _read_limited(resp: httpx.Response, limit: int) -> bytes:
    """The body, decompressed here rather than by httpx: its decoders inflate a whole chunk in one call
    (1.6 KB of brotli is 1 GiB of zeros), so the limit could only be checked after the memory was spent.
    Each step below produces at most what is left under the limit."""
    declared = resp.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _Fail("too_large", f"body of {int(declared)} bytes exceeds the limit of {limit}", resp.status_code)
    decoder = _Decoder(resp.headers.get("content-encoding", ""), limit, resp.status_code)
    async for chunk in resp.aiter_raw():
        decoder.feed(chunk)
    return decoder.finish()


class _Decoder:
    """Content-Encoding undone step by step with an output cap: identity, gzip, deflate, br."""

    def __init__(self, encoding: str, limit: int, status: int) -> None:
        # A coding we do not know is ignored, as httpx and browsers do: real servers send values such as
        # "UTF-8" or "none" with a plain body. Two real codings at once are refused (nobody sends them).
        codings = [c for c in (v.strip().lower() for v in encoding.split(",")) if c in _ENCODINGS]
        if len(codings) > 1:
            raise _Fail("protocol", f"unsupported Content-Encoding {encoding!r}", status)
        self.coding = codings[0] if codings else None
        self.limit, self.status = limit, status
        self.parts: list[bytes] = []
        self.total = 0
        self.zlib: Any = None
        self.brotli: Any = None
        self.started = False
        if self.coding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "br":
            self.brotli = brotli.Decompressor()

    def _take(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise _Fail("too_large", f"body exceeds the limit of {self.limit} bytes", self.status)
        if data:
            self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        try:
            if self.coding is None:
                self._take(chunk)
            elif self.coding == "br":
                out = self.brotli.process(chunk, output_buffer_limit=self.limit - self.total + 1)
                self._take(out)
                while not self.brotli.can_accept_more_data():
                    self._take(self.brotli.process(b"", output_buffer_limit=self.limit - self.total + 1))
            else:
                if self.zlib is None:  # deflate: zlib-wrapped as the RFC says, or raw as some servers send
                    wrapped = len(chunk) >= 2 and (chunk[0] & 0x0F) == 8 and ((chunk[0] << 8) | chunk[1]) % 31 == 0
                    self.zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
                data = chunk
                while data:
                    self._take(self.zlib.decompress(data, self.limit - self.total + 1))
                    data = self.zlib.unconsumed_tail
        except (zlib.error, brotli.error) as e:
            raise _Fail("protocol", f"cannot decompress body ({self.coding}): {e}", self.status) from e

    def finish(self) -> bytes:
        if self.zlib is not None:
            try:
                self._take(self.zlib.flush())
            except zlib.error as e:
                raise _Fail("protocol", f"cannot decompress body ({self.coding}): {e}", self.status) from e
        return b"".join(self.parts)


def _peer(resp: httpx.Response) -> str | None:
    stream = resp.extensions.get("network_stream")
    if stream is None:
        return None
    addr = stream.get_extra_info("server_addr")
    return str(addr[0]) if addr else None
