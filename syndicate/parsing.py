"""Parsing partner feeds on every core: a pool of worker processes parses each document and fingerprints
its entries for dedupe in the same place, while the event loop goes on fetching and storing.

Parsing is most of a cold fetch's work and is pure Python (feedparser): in threads it would run one at a
time. The workers are forked from a clean server process that has imported the parsers once (not from
the daemon, whose threads may hold locks), the body is handed over once, and what comes back is the
parsed feed with one dedupe fingerprint per article (``dedupe.fingerprint`` without boilerplate: the
joining step applies each source's boilerplate, learned from the store, and only recomputes an article
whose text it trims). A worker that dies (killed, out of memory) costs one retry on a fresh pool, then
that document's failure, never the other sources'.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from .types import pickled_by_slots

# The parsers are imported where they run: by the workers' server process (preloaded, below) and by a
# caller that parses. Importing this module costs nothing, so a command can start the workers first
# and import the rest while they start (``warm``).
if TYPE_CHECKING:
    from .dedupe import Fingerprint
    from .sources.feed import FeedDefaults, ParsedFeed
    from .types import Article

__all__ = ["Prepared", "collecting_less", "parse_and_fingerprint", "parse_in_pool", "warm"]

_PARSERS = ("syndicate.sources.feed", "feedparser", "syndicate.dedupe")

log = logging.getLogger("syndicate")


@pickled_by_slots
@dataclass(frozen=True, slots=True)
class Prepared:
    """An article's fingerprint, made where it was parsed, with the article's ``content_hash``: the
    joining step uses it only for the version stored with that hash, so an article that changed on the
    way in is fingerprinted again."""

    content_hash: str
    fingerprint: Fingerprint
    article: Article | None = None  # what it was made of (sent back with the parsed feed: no extra cost)


def parse_and_fingerprint(
    body: bytes, content_type: str | None, defaults: FeedDefaults, site_tz: tzinfo
) -> tuple[ParsedFeed, tuple[Prepared, ...]]:
    """``parse_feed``, and each article's fingerprint in the site's zone (what runs in a worker)."""
    from .dedupe import article_fingerprint
    from .sources.feed import parse_feed

    parsed = parse_feed(body, content_type, defaults)
    prepared = tuple(Prepared(a.content_hash(), article_fingerprint(a, site_tz), a) for a in parsed.articles)
    return parsed, prepared


class _Pool:
    """The process pool, made on first use and sized to the cores this process may run on."""

    def __init__(self) -> None:
        self.warned = False
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def get(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context: Any = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__, *_PARSERS])
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=_cores(), mp_context=context, initializer=_worker_start
                )
            return self._pool

    def close(self) -> None:
        """Stop the workers (at exit: before the interpreter tears down what the pool's threads use)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def discard(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)


def warm() -> None:
    """Start the workers now, from a thread of its own: their server process imports the parsers and
    forks one worker per core while the caller goes on (importing the rest of syndicate, opening the
    database), instead of after the first document arrived. A failure to start is left to the first
    parse, which says so and parses in a thread."""
    threading.Thread(target=_start_workers, name="syndicate-parsers", daemon=True).start()


def _start_workers() -> None:
    try:
        pool = _POOL.get()
        for started in [pool.submit(_nothing) for _ in range(_cores())]:  # a process for each, as they come
            started.result()
    except Exception:  # the first parse meets the same failure and reports it
        pass


def _nothing() -> None:
    pass


def _worker_start() -> None:
    """Ctrl-C reaches the whole process group: the parent stops the workers, they print nothing. A worker
    ends when its parent is gone, however it went. The parsers' modules are never scanned for garbage
    again, and young objects less often (5 % of parsing)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), name="syndicate-parent", daemon=True).start()
    gc.freeze()
    gc.set_threshold(_YOUNG, *gc.get_threshold()[1:])


def _end_with(parent: int) -> None:
    """Exit once the parent's sentinel says it is gone. Killed (kill -9, the OOM killer), the parent tells
    its workers nothing: an idle worker would wait for work forever, and keep the workers' server and the
    caller's output pipe open with it."""
    multiprocessing.connection.wait([parent])
    os._exit(1)


# Container objects allocated between two collections of the youngest generation (Python's default: 700).
_YOUNG = 100_000


@contextmanager
def collecting_less() -> Iterator[None]:
    """A fetch holds what it read until it is joined: hundreds of thousands of objects (articles,
    fingerprints, their sentences), which the cyclic garbage collector scanned again and again as they
    grew, with everything imported before: 12 % of a cold fetch. Meanwhile what existed before is left
    out of its scans (``gc.freeze``) and it runs on every 100,000 new objects instead of 700; both are
    undone afterwards, so a daemon's next collection takes whatever cycles the fetch left."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], _YOUNG), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_POOL = _Pool()
atexit.register(_POOL.close)


async def parse_in_pool(
    body: bytes, content_type: str | None, defaults: FeedDefaults, site_tz: tzinfo
) -> tuple[ParsedFeed, tuple[Prepared, ...]]:
    """``parse_and_fingerprint`` in a worker process. A pool broken by a dying worker is replaced and
    the document tried once more; a second death is this document's error."""
    loop = asyncio.get_running_loop()
    work = functools.partial(parse_and_fingerprint, body, content_type, defaults, site_tz)
    for attempt in (1, 2):
        try:
            pool = _POOL.get()
            running = loop.run_in_executor(pool, work)  # starts the workers on first use
        except (OSError, NotImplementedError, ValueError) as e:  # no processes here (a sandbox)
            if not _POOL.warned:
                _POOL.warned = True
                log.warning("parse.no_workers", extra={"error": f"{type(e).__name__}: {e}"})
            return await loop.run_in_executor(None, work)
        try:
            return await running
        except concurrent.futures.process.BrokenProcessPool:
            _POOL.discard(pool)
            if attempt == 2:
                raise RuntimeError("the parser process died reading this document (twice)") from None
    raise AssertionError("unreachable")
