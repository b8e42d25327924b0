"""Serving ``output_dir`` over HTTP: a small ASGI app run by uvicorn.

Owns: answering feed polls cheaply. Each file's bytes, gzip variant, strong ETag and Last-Modified are kept
in memory and looked at again on disk at most once a second, so a poll that ends in 304 costs a dictionary
lookup, not a ``stat`` and a hash (docs/design.md, "Serving"). Also ``/healthz`` (200 with the store's
counts, 503 when the database is unreachable) and WebSub discovery headers. Decides nothing about feeds.
The self-service pages (unsubscribe, preferences, sign-up, a digest's web copy) are carried to a
``SelfService`` and its answers rendered from templates; they decide nothing here either.

Never serves outside the folder: ``..`` segments, encoded or not, absolute paths, NUL bytes and symlinks
that lead out all answer 404.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .config import default_templates_dir
from .httpserver import server as serve  # the server of this app (uvicorn is imported when it starts)
from .mail.render import render_page

__all__ = ["CONTENT_TYPES", "SELF_SERVICE", "Answer", "FeedApp", "SelfService", "serve"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CONTENT_TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    ".xml": "application/atom+xml; charset=utf-8",  # archives
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xsl": "text/xsl; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_FEEDS = ("rss.xml", "atom.xml", "feed.json")
_PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
_RECHECK = 1.0  # seconds between looks at a cached file on disk
_MAX_CACHED = 8 * 1024 * 1024  # a larger file is not served
# The cache holds each file once, however many spellings of its path are asked for (//all/rss.xml,
# /all//rss.xml/ ...), and at most this many bytes of bodies and their gzip forms; the oldest go first.
_CACHE_BYTES = 128 * 1024 * 1024
_MAX_PATHS = 20_000  # spellings remembered (a crawler of random paths must not grow them without end)


def content_type(name: str) -> str | None:
    if name in CONTENT_TYPES:
        return CONTENT_TYPES[name]
    return CONTENT_TYPES.get(os.path.splitext(name)[1])


_Headers = Sequence[tuple[bytes, bytes]]
log = logging.getLogger("syndicate")


@dataclass
class _File:
    body: bytes
    gzipped: bytes | None
    etag: str
    last_modified: str
    mtime: float
    stamp: tuple[int, int, int]  # (mtime_ns, size, inode): a replaced file differs in one of them
    checked: float
    ctype: str
    # Response headers made once per version of the file: [plain, gzip] for 200 and for 304.
    full: tuple[_Headers, _Headers] = field(default=((), ()))
    not_modified: tuple[_Headers, _Headers] = field(default=((), ()))


# The self-service pages (``syndicate.subscriptions``): their answers come from ``SelfService``.
SELF_SERVICE = frozenset({"/unsubscribe", "/digest", "/preferences", "/signup", "/signup/confirm"})
_FORM_LIMIT = 64 * 1024  # bytes of a posted form (a preferences form with every zone ticked fits)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a self-service request gets: a page (a template of the digest templates folder, rendered with
    ``values``), a redirect (303), a document as it is (``body``, HTML), or with none of them a plain 404."""

    status: int
    page: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    redirect: str | None = None
    body: bytes | None = None


class SelfService(Protocol):
    """Answers the self-service pages. ``query``: the first value of each query parameter; ``form``: a
    POST's fields (UTF-8); ``client``: the client's address (sign-up limits)."""

    def answer(
        self, path: str, method: str, query: Mapping[str, str], form: Mapping[str, list[str]], client: str
    ) -> Answer: ...


class FeedApp:
    """The ASGI app. ``health`` returns the store's state as a dict, or raises when it is unreachable."""

    def __init__(
        self,
        root: Path,
        cache_max_age: int = 300,
        base_url: str = "/",
        hubs: Sequence[str] = (),
        health: Callable[[], dict[str, Any]] | None = None,
        selfservice: SelfService | None = None,
        status: Callable[[], bytes] | None = None,
        metrics: Callable[[], bytes] | None = None,
        admin_token: str | None = None,
        cache_bytes: int = _CACHE_BYTES,
        templates: Path | None = None,
        site_title: str = "",
    ) -> None:
        self.root = root.resolve()
        self.cache_bytes = cache_bytes
        self.cache_max_age = cache_max_age
        self.base_url = base_url
        self.hubs = tuple(hubs)
        self.health = health
        # The pages behind the links of digests: unsubscribe, web copy, preferences, sign-up.
        self.selfservice = selfservice
        self.site_title = site_title
        # Their templates: the digest templates folder, else (for each page it lacks) the shipped one.
        self.templates = templates if templates is not None else default_templates_dir()
        # Admin pages: /status (HTML) and /metrics (Prometheus text). With a token, a caller must send it
        # (Authorization: Bearer); without one, only loopback clients are answered.
        self.admin = {"/status": (status, b"text/html; charset=utf-8"), "/metrics": (metrics, _PROMETHEUS)}
        self.admin_token = admin_token
        self._files: dict[str, _File] = {}  # by resolved file, oldest first
        self._paths: dict[str, str] = {}  # request path → resolved file
        self._cached_bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method = scope["method"]
        if scope["path"] in SELF_SERVICE and self.selfservice is not None:
            await self._self_service(scope, receive, send)
            return
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, [(b"allow", b"GET, HEAD")], b"", method == "HEAD")
            return
        path: str = scope["path"]
        if path == "/healthz":
            await self._health(send, method == "HEAD")
            return
        if path in self.admin and self.admin[path][0] is not None:
            await self._admin(scope, send, path, method == "HEAD")
            return
        entry = self._fresh(path) or self._lookup(path)
        if entry is None:
            await _respond(
                send, 404, [(b"content-type", b"text/plain; charset=utf-8")], b"not found\n", method == "HEAD"
            )
            return
        await self._file(scope, send, path, entry, method == "HEAD")

    # -- files ----------------------------------------------------------------------------------------

    def _lookup(self, path: str) -> _File | None:
        """Look at the file on disk (at most once a second per file) and cache what to answer."""
        rel = _safe_relative(path)
        if rel is None:
            return None
        now = time.monotonic()
        target = self.root / rel if rel else self.root
        try:
            real = Path(os.path.realpath(target))
            if real.is_dir():
                real = Path(os.path.realpath(real / "index.html"))
            if real != self.root and self.root not in real.parents:
                return None  # a symlink out of the folder
            st = real.stat()
        except OSError:
            self._forget(self._paths.pop(path, None))
            return None
        if not real.is_file() or st.st_size > _MAX_CACHED:
            return None
        key = str(real)
        cached = self._files.get(key)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if cached is not None and cached.stamp == stamp:
            cached.checked = now
            self._remember(path, key)
            return cached
        ctype = content_type(real.name)
        if ctype is None:
            return None
        try:
            body = real.read_bytes()
        except OSError:
            return None
        entry = _File(
            body=body,
            gzipped=gzip.compress(body, 6, mtime=0) if len(body) > 512 else None,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=formatdate(st.st_mtime, usegmt=True),
            mtime=int(st.st_mtime),
            stamp=stamp,
            checked=now,
            ctype=ctype,
        )
        self._prepare(entry, "/" + real.relative_to(self.root).as_posix())
        self._forget(key)
        size = len(entry.body) + len(entry.gzipped or b"")
        while self._files and self._cached_bytes + size > self.cache_bytes:
            self._forget(next(iter(self._files)))
        self._files[key] = entry
        self._cached_bytes += size
        self._remember(path, key)
        return entry

    def _remember(self, path: str, key: str) -> None:
        if self._paths.get(path) != key:  # new, or the path now leads to another file
            if len(self._paths) >= _MAX_PATHS:
                self._paths.clear()
            self._paths[path] = key

    def _forget(self, key: str | None) -> None:
        old = self._files.pop(key, None) if key is not None else None
        if old is not None:
            self._cached_bytes -= len(old.body) + len(old.gzipped or b"")

    @property
    def cached_bytes(self) -> int:
        """Bytes of file bodies (and their gzip forms) held in memory."""
        return self._cached_bytes

    def _prepare(self, entry: _File, path: str) -> None:
        common = [
            (b"content-type", entry.ctype.encode()),
            (b"last-modified", entry.last_modified.encode()),
            (b"cache-control", f"public, max-age={self.cache_max_age}".encode()),
            (b"vary", b"Accept-Encoding"),
        ]
        if self.hubs and path.endswith(_FEEDS):
            links = [f'<{hub}>; rel="hub"' for hub in self.hubs]
            links.append(f'<{self.base_url.rstrip("/")}{path}>; rel="self"')
            common.append((b"link", ", ".join(links).encode()))
        plain = [*common, (b"etag", entry.etag.encode())]
        zipped = [*common, (b"etag", (entry.etag[:-1] + '-gz"').encode())]
        entry.not_modified = (
            [*plain, (b"content-length", b"0")],
            [*zipped, (b"content-length", b"0")],
        )
        entry.full = (
            [*plain, (b"content-length", str(len(entry.body)).encode())],
            [*zipped, (b"content-encoding", b"gzip"), (b"content-length", str(len(entry.gzipped or b"")).encode())],
        )

    async def _file(self, scope: Scope, send: Send, path: str, entry: _File, head: bool) -> None:
        status, headers, body = _file_answer(entry, scope["headers"], head)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def polled(
        self, method: bytes, path: str, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[int, Sequence[tuple[bytes, bytes]], bytes] | None:
        """The answer to a GET or HEAD of a file asked for before and looked at on disk within the last
        second (a feed poll), decided here without the ASGI round, for the server to write directly; None
        for anything else, which goes through ``__call__``. The same answer ``__call__`` gives."""
        if method not in (b"GET", b"HEAD") or path in SELF_SERVICE or path in self.admin or path == "/healthz":
            return None
        entry = self._fresh(path)
        return None if entry is None else _file_answer(entry, headers, method == b"HEAD")

    def _fresh(self, path: str) -> _File | None:
        """The hot path: the cached entry of a path asked for before, when looked at on disk within the
        last second."""
        key = self._paths.get(path)
        entry = self._files.get(key) if key is not None else None
        return entry if entry is not None and time.monotonic() - entry.checked < _RECHECK else None

    # -- health ---------------------------------------------------------------------------------------

    async def _health(self, send: Send, head: bool) -> None:
        if self.health is None:
            status, doc = 200, {"status": "ok"}
        else:
            try:
                doc = {"status": "ok", **await asyncio.to_thread(self.health)}
                status = 200
            except Exception as e:
                status, doc = 503, {"status": "unavailable", "error": type(e).__name__}
        body = (json.dumps(doc, ensure_ascii=False, default=str) + "\n").encode()
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await _respond(send, status, headers, body, head)

    # -- admin pages ----------------------------------------------------------------------------------

    def _allowed(self, scope: Scope) -> bool:
        if self.admin_token:
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value.decode("latin-1").removeprefix("Bearer ").strip()
                    return hmac.compare_digest(given.encode(), self.admin_token.encode())
            return False
        client = scope.get("client") or ("", 0)
        return str(client[0]) in ("127.0.0.1", "::1") or str(client[0]).startswith("127.")

    async def _admin(self, scope: Scope, send: Send, path: str, head: bool) -> None:
        render, ctype = self.admin[path]
        assert render is not None
        plain = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
        if not self._allowed(scope):
            headers = [*plain, (b"www-authenticate", b"Bearer")] if self.admin_token else plain
            await _respond(send, 401 if self.admin_token else 403, headers, b"forbidden\n", head)
            return
        try:
            body = await asyncio.to_thread(render)
        except Exception as e:
            await _respond(send, 503, plain, f"unavailable: {type(e).__name__}\n".encode(), head)
            return
        await _respond(send, 200, [(b"content-type", ctype), (b"cache-control", b"no-store")], body, head)

    # -- self-service pages ---------------------------------------------------------------------------

    async def _self_service(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Carry a request to ``SelfService`` and render what it answers. A POST whose Origin names another
        site is refused here already (the forms' own tokens are checked behind)."""
        service = self.selfservice
        assert service is not None
        method, path = scope["method"], scope["path"]
        if method not in ("GET", "HEAD", "POST"):
            await _respond(send, 405, [(b"allow", b"GET, HEAD, POST")], b"", False)
            return
        head = method == "HEAD"
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        form: dict[str, list[str]] = {}
        if method == "POST":
            if path != "/unsubscribe" and not _same_origin(scope, self.base_url):
                await self._render(send, Answer(403, "notice", {"page": "cross-site"}), head)
                return
            form = parse_qs((await _read_body(receive, _FORM_LIMIT)).decode("utf-8", "replace"))
        client = str((scope.get("client") or ("", 0))[0])
        try:
            answer = await asyncio.to_thread(service.answer, path, method, query, form, client)
        except Exception:
            answer = Answer(503, "notice", {"page": "unavailable"})
        await self._render(send, answer, head)

    async def _render(self, send: Send, answer: Answer, head: bool) -> None:
        # same-origin, not no-referrer: with no-referrer a browser's form POST says "Origin: null", which a
        # sandboxed frame of any site can say too; our links go nowhere else.
        headers = [
            (b"cache-control", b"private, no-store"),
            (b"referrer-policy", b"same-origin"),
            (b"x-robots-tag", b"noindex"),
            (b"x-frame-options", b"DENY"),
        ]
        if answer.redirect is not None:
            await _respond(send, 303, [*headers, (b"location", answer.redirect.encode("latin-1"))], b"", head)
            return
        html = [(b"content-type", b"text/html; charset=utf-8"), *headers]
        if answer.body is not None:
            await _respond(send, answer.status, html, answer.body, head)
            return
        if not answer.page:
            await _respond(send, answer.status, [(b"content-type", b"text/plain; charset=utf-8")], b"not found\n", head)
            return
        values = {"site": self.site_title, **answer.values}
        try:
            doc = await asyncio.to_thread(render_page, self.templates, default_templates_dir(), answer.page, **values)
        except Exception as e:  # an operator's template that does not render: say which, keep serving
            log.error("web.template_failed", extra={"page": answer.page, "error": f"{type(e).__name__}: {e}"})
            plain = [(b"content-type", b"text/plain; charset=utf-8"), *headers]
            await _respond(send, 500, plain, f"the page template {answer.page}.html.j2 failed\n".encode(), head)
            return
        await _respond(send, answer.status, html, doc, head)


def _same_origin(scope: Scope, base_url: str) -> bool:
    """A POST from our own pages: no Origin header (older browsers, mail clients), or one naming the site's
    ``base_url`` or the host the request was sent to (a proxy may pass another Host: base_url decides)."""
    origin = host = None
    for key, value in scope["headers"]:
        if key == b"origin":
            origin = value.decode("latin-1").rstrip("/")
        elif key == b"host":
            host = value.decode("latin-1")
    if origin is None:
        return True
    parts = urlsplit(base_url)
    if parts.scheme and origin == f"{parts.scheme}://{parts.netloc}":
        return True
    return host is not None and origin.split("://", 1)[-1] == host


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > limit or not message.get("more_body"):
            return body[:limit]


def _safe_relative(path: str) -> str | None:
    """The request path as a relative path inside the folder, or None when it tries to leave it.
    ASGI servers have already percent-decoded ``path``; decoding again catches double encoding."""
    for candidate in (path, unquote(path)):
        if "\x00" in candidate or "\\" in candidate:
            return None
        parts = candidate.split("/")
        if any(p in ("..", ".") for p in parts):
            return None
    rel = path.lstrip("/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        return None
    return rel.rstrip("/")


def _file_answer(
    entry: _File, headers: Sequence[tuple[bytes, bytes]], head: bool
) -> tuple[int, Sequence[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a GET or HEAD of a cached file: 304 when the reader has it, else the
    file (gzipped when accepted)."""
    inm = ims = None
    use_gzip = False
    for key, value in headers:
        if key == b"if-none-match":
            inm = value
        elif key == b"accept-encoding":
            use_gzip = entry.gzipped is not None and _accepts_gzip(value)
        elif key == b"if-modified-since":
            ims = value
    variant = 1 if use_gzip else 0
    if _not_modified(inm, ims, entry, use_gzip):
        return 304, entry.not_modified[variant], b""
    body = b"" if head else (entry.gzipped if use_gzip and entry.gzipped is not None else entry.body)
    return 200, entry.full[variant], body


def _not_modified(inm: bytes | None, ims: bytes | None, entry: _File, use_gzip: bool) -> bool:
    """RFC 9110: If-None-Match decides when present (weak comparison); else If-Modified-Since."""
    if inm is not None:
        text = inm.decode("latin-1")
        if text.strip() == entry.etag or (use_gzip and text.strip() == entry.etag[:-1] + '-gz"'):
            return True  # the common case: a reader sending back the one ETag it was given
        tags = {t.strip().removeprefix("W/") for t in text.split(",")}
        return "*" in tags or entry.etag in tags or (entry.etag[:-1] + '-gz"') in tags
    if ims:
        try:
            since = parsedate_to_datetime(ims.decode("latin-1")).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        # A date later than now is invalid (RFC 9110, 13.1.3): it would hide every later change.
        return entry.mtime <= since <= time.time()
    return False


def _accepts_gzip(value: bytes) -> bool:
    """Accept-Encoding allows gzip: named (or ``*``) with a q-value above 0 (``gzip;q=0`` refuses it)."""
    if b"gzip" not in value and b"*" not in value:
        return False
    if b"q=" not in value:  # the common case on the poll path: no weights to read
        return True
    named: dict[str, float] = {}
    for part in value.decode("latin-1").lower().split(","):
        coding, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        named[coding.strip()] = q
    for coding in ("gzip", "x-gzip"):
        if coding in named:
            return named[coding] > 0
    return named.get("*", 0.0) > 0


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
