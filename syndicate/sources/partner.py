"""A partner's feed as a source: fetch (or read the file), skip what did not change, parse, and say what
to remember. One function runs one refresh end to end, short of storing (the pipeline does that)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Protocol

from ..types import SourceResult, SourceState
from . import health
from .feed import FeedDefaults, ParsedFeed, parse_feed
from .http import HttpRequest, HttpResult

__all__ = ["FeedSource", "Parse", "parse_in_thread"]


@functools.cache
def _parser() -> concurrent.futures.ThreadPoolExecutor:
    """One thread parses for all partners when no ``parse`` is given: off the event loop, and one parse
    at a time (several threads parsing at once only contend for the interpreter lock)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="syndicate-parse")


Parse = Callable[[bytes, str | None, FeedDefaults], Awaitable[ParsedFeed]]


async def parse_in_thread(body: bytes, content_type: str | None, defaults: FeedDefaults) -> ParsedFeed:
    """``parse_feed`` off the event loop, in this process."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_parser(), parse_feed, body, content_type, defaults)


class Fetcher(Protocol):
    """What a feed source fetches with (``http.HttpFetcher``: one client, politeness per host)."""

    async def fetch(self, req: HttpRequest) -> HttpResult: ...


@dataclass(frozen=True, slots=True)
class _Body:
    """A feed's bytes as read, with what the server said of them."""

    url: str
    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    status: int | None = None
    moved: dict[str, str] = field(default_factory=dict)  # url, moved_from: a permanent redirect


@dataclass(frozen=True, slots=True)
class FeedSource:
    fetcher: Fetcher
    id: str
    url: str  # as configured: http(s) URL or an absolute file path
    interval: timedelta
    timeout: timedelta
    max_bytes: int
    max_backoff: timedelta
    tz: tzinfo
    category: str | None = None
    parse: Parse = parse_in_thread  # CPU work, off the event loop (the pipeline uses every core)

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    async def read(self, stored: SourceState | None, now: datetime) -> SourceResult:
        state = health.start(self.id, self.url, stored)
        if state.disabled:
            return SourceResult(self.id, status="disabled", error=state.disabled, state=None)
        got = await self._download(state, now) if self.is_http else self._read_file(state, now)
        if isinstance(got, SourceResult):
            return got
        body_hash = hashlib.sha256(got.body).hexdigest()
        fresh: dict[str, str | None] = {"etag": got.etag, "last_modified": got.last_modified, **got.moved}
        if body_hash == state.body_hash:  # what it warned about is still there: the warning stays
            new = health.succeeded(state, now, self.interval, http_status=got.status, warning=state.warning, **fresh)
            return SourceResult(self.id, status="unchanged", state=new)
        # Parsing and sanitizing are CPU work: off the event loop, so that other partners' requests (and
        # their deadlines) go on meanwhile.
        defaults = FeedDefaults(self.id, got.url, self.tz, now, self.category)
        parsed = await self.parse(got.body, got.content_type, defaults)
        if parsed.error is not None:
            new = health.failed(
                state, now, self.interval, self.max_backoff, "parse", parsed.error, http_status=got.status
            )
            return self._error(new, f"parse: {parsed.error}")
        warnings = parsed.warnings + parsed.problems
        new = health.succeeded(
            state,
            now,
            self.interval,
            http_status=got.status,
            warning="; ".join(warnings)[:2000] or None,
            body_hash=body_hash,
            title=parsed.title[:200] or state.title,
            **fresh,
        )
        return SourceResult(self.id, parsed.articles, warnings=warnings, status="ok", state=new)

    async def _download(self, state: SourceState, now: datetime) -> _Body | SourceResult:
        """The feed's bytes over HTTP (conditional on the stored ETag and date), or the result that ends
        the read here: not modified, gone, or failed (with its backoff)."""
        url = state.url or self.url
        timeout = self.timeout.total_seconds()
        request = HttpRequest(self.id, url, state.etag, state.last_modified, timeout, self.max_bytes, origin=self.url)
        r = await self.fetcher.fetch(request)
        moved = {"url": r.permanent_url, "moved_from": url} if r.permanent_url else {}
        if r.error_kind is not None:
            if r.status == 410:
                return self._error(health.gone(state, now, r.url), f"gone: {r.error}")
            wait = health.retry_after(r.retry_after, now) if r.status in (429, 503) else None
            new = health.failed(
                state,
                now,
                self.interval,
                self.max_backoff,
                r.error_kind,
                r.error or r.error_kind,
                http_status=r.status,
                wait_at_least=wait,
            )
            return self._error(new, f"{r.error_kind}: {r.error}")
        if r.not_modified:
            new = health.succeeded(state, now, self.interval, http_status=304, warning=state.warning, **moved)
            return SourceResult(self.id, status="not_modified", state=new)
        assert r.body is not None
        return _Body(url, r.body, r.content_type, r.etag, r.last_modified, r.status, moved)

    def _read_file(self, state: SourceState, now: datetime) -> _Body | SourceResult:
        try:
            body = _read_file(Path(self.url), self.max_bytes)
        except OSError as e:
            reason = f"{self.url}: {e.strerror or e}"
            return self._error(
                health.failed(state, now, self.interval, self.max_backoff, "file", reason), f"file: {reason}"
            )
        except ValueError as e:
            new = health.failed(state, now, self.interval, self.max_backoff, "too_large", str(e))
            return self._error(new, f"too_large: {e}")
        return _Body(state.url or self.url, body)

    def _error(self, state: SourceState, message: str) -> SourceResult:
        return SourceResult(self.id, status="error", error=message, state=state)


def _read_file(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than the limit of {limit} bytes")
    return data
