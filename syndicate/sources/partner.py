"""A partner's feed as a source: fetch (or read the file), skip what did not change, parse, and say what
to remember. One function runs one refresh end to end, short of storing (the pipeline does that)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Protocol

from ..types import SourceResult, SourceState
from . import health
from .feed import FeedDefaults, parse_feed
from .http import HttpRequest, HttpResult

__all__ = ["FeedSource"]


@functools.cache
def _parser() -> concurrent.futures.ThreadPoolExecutor:
    """One thread parses for all partners: off the event loop, and one parse at a time (several threads
    parsing at once only contend for the interpreter lock)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="syndicate-parse")


class Fetcher(Protocol):
    """What a feed source fetches with (``http.HttpFetcher``: one client, politeness per host)."""

    async def fetch(self, req: HttpRequest) -> HttpResult: ...


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

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    async def read(self, stored: SourceState | None, now: datetime) -> SourceResult:
        state = health.start(self.id, self.url, stored)
        if state.disabled:
            return SourceResult(self.id, status="disabled", error=state.disabled, state=None)
        url = state.url or self.url
        moved: dict[str, str] = {}
        content_type = etag = last_modified = None
        status_code: int | None = None
        if self.is_http:
            r = await self.fetcher.fetch(
                HttpRequest(
                    self.id,
                    url,
                    state.etag,
                    state.last_modified,
                    self.timeout.total_seconds(),
                    self.max_bytes,
                    origin=self.url,
                )
            )
            if r.permanent_url:
                moved = {"url": r.permanent_url, "moved_from": url}
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
                return SourceResult(
                    self.id,
                    status="not_modified",
                    state=health.succeeded(state, now, self.interval, http_status=304, **moved),
                )
            assert r.body is not None
            body, content_type, etag, last_modified, status_code = (
                r.body,
                r.content_type,
                r.etag,
                r.last_modified,
                r.status,
            )
        else:
            try:
                body = _read_file(Path(self.url), self.max_bytes)
            except OSError as e:
                new = health.failed(
                    state, now, self.interval, self.max_backoff, "file", f"{self.url}: {e.strerror or e}"
                )
                return self._error(new, f"file: {self.url}: {e.strerror or e}")
            except ValueError as e:
                new = health.failed(state, now, self.interval, self.max_backoff, "too_large", str(e))
                return self._error(new, f"too_large: {e}")

        digest = hashlib.sha256(body).hexdigest()
        fresh: dict[str, str | None] = {"etag": etag, "last_modified": last_modified, **moved}
        if digest == state.body_hash:
            return SourceResult(
                self.id,
                status="unchanged",
                state=health.succeeded(state, now, self.interval, http_status=status_code, **fresh),
            )
        # Parsing and sanitizing are CPU work: off the event loop, so that other partners' requests (and
        # their deadlines) go on meanwhile.
        defaults = FeedDefaults(self.id, url, self.tz, now, self.category)
        parsed = await asyncio.get_running_loop().run_in_executor(_parser(), parse_feed, body, content_type, defaults)
        if parsed.error is not None:
            new = health.failed(
                state, now, self.interval, self.max_backoff, "parse", parsed.error, http_status=status_code
            )
            return self._error(new, f"parse: {parsed.error}")
        warnings = parsed.warnings + parsed.problems
        new = health.succeeded(
            state,
            now,
            self.interval,
            http_status=status_code,
            warning="; ".join(warnings)[:2000] or None,
            body_hash=digest,
            **fresh,
        )
        return SourceResult(self.id, parsed.articles, warnings=warnings, status="ok", state=new)

    def _error(self, state: SourceState, message: str) -> SourceResult:
        return SourceResult(self.id, status="error", error=message, state=state)


def _read_file(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than the limit of {limit} bytes")
    return data
