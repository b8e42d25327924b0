"""The daemon behind ``syndicate run``: one tick that asks the store what is due, the HTTP server,
signals, and the lease that keeps a second daemon off the same database.

Every ``tick`` seconds (one APScheduler job, one worker thread, one ``Context`` and one
``pipeline.Kept``):
- the sources whose next due time has come are fetched in one batch (``gather.due``: each source's
  interval, backoff and 410 Gone are in its stored state, so a restart or a reload loses nothing);
- a publish follows ``publish_delay`` seconds after a fetch that stored something (fetches in between
  join it), and a full publish comes once a day;
- every ``digest_every`` seconds the digests now due are sent (so a daemon started at 09:10 sends the
  08:00 one), starting after the first fetch: a digest sent at start is complete.
When each of these is due is decided by ``Timers``, a pure function of ``now``. The lease is renewed on a
second thread. SIGHUP re-reads the config (a broken one is refused and logged, the old one kept; the next
tick sees the new sources); SIGINT/SIGTERM stop: no new job starts, the running one stops at its next
unit of work (what it committed stays), the lease is released.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from . import delivery, gather, pipeline, web
from .app import Metrics, feed_app
from .config import Config, load_config
from .exceptions import Cancelled, ConfigError, SyndicateError
from .files import TEMP_PREFIX
from .store import Store

__all__ = ["Daemon", "DaemonOptions", "Lease", "ListenError", "LockedError", "Timers", "remove_temp_files"]

log = logging.getLogger("syndicate")

LOCK = "daemon"
PUSH_EVERY = 60.0  # seconds between looks for WebSub notifications due again


@dataclass(frozen=True)
class DaemonOptions:
    serve: bool = True
    host: str | None = None
    port: int | None = None
    tick: float = 1.0  # seconds between looks at what is due
    publish_delay: float = 2.0  # seconds after a storing fetch before publishing (more fetches join in)
    digest_every: float = 300.0  # seconds between looks for due digests
    full_publish_every: float = 86400.0
    lease: float = 60.0  # seconds the database lock is held without renewal
    stop_grace: float = 8.0  # seconds a running job gets to stop at its next unit of work


def remove_temp_files(*folders: Path) -> int:
    """Remove temporary files a killed writer left behind (never a finished file). Returns how many."""
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob(f"{TEMP_PREFIX}*"):
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
    return removed


class LockedError(SyndicateError):
    """Another daemon holds the database."""


class ListenError(SyndicateError):
    """The HTTP port cannot be listened on (taken, or not ours to take)."""


@dataclass(frozen=True)
class Lease:
    """The database lock of one daemon: taken at start, renewed while it runs, released at stop. A
    daemon that dies frees it when ``ttl`` runs out."""

    holder: str
    ttl: timedelta
    clock: Callable[[], datetime]

    @classmethod
    def for_this_process(cls, ttl: timedelta, clock: Callable[[], datetime]) -> Lease:
        return cls(f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", ttl, clock)

    def acquire(self, store: Store) -> None:
        store.ensure_ready()
        taken, holder = store.acquire_lock(LOCK, self.holder, self.clock(), self.ttl)
        if not taken:
            raise LockedError(
                f"another syndicate daemon runs on this database: {holder}; stop it first "
                f"(a daemon that died frees the lock within {int(self.ttl.total_seconds())} s)"
            )

    def renew(self, store: Store) -> bool:
        """False when the lease is no longer ours (it expired and another daemon took it)."""
        return store.renew_lock(LOCK, self.holder, self.clock(), self.ttl)

    def release(self, store: Store) -> None:
        try:
            store.release_lock(LOCK, self.holder)
        except SyndicateError as e:
            log.warning("daemon.lock_release_failed", extra={"error": str(e)})


@dataclass
class Timers:
    """When the daemon's periodic work is next due. Pure: each method is a function of ``now``."""

    publish_delay: timedelta
    digest_every: timedelta
    full_publish_every: timedelta
    full_publish_at: datetime | None = None  # None: at the first tick
    publish_at: datetime | None = None  # a publish asked for by a fetch that stored something
    digest_at: datetime | None = None  # None: digests have not started (they start after the first fetch)

    def fetched(self, now: datetime, stored: bool) -> None:
        if stored and self.publish_at is None:
            self.publish_at = now + self.publish_delay
        if self.digest_at is None:
            self.digest_at = now

    def publish_due(self, now: datetime) -> bool | None:
        """None: no publish now; False: an incremental one; True: a full one."""
        if self.full_publish_at is None or self.full_publish_at <= now:
            return True
        if self.publish_at is not None and self.publish_at <= now:
            return False
        return None

    def published(self, now: datetime, full: bool) -> None:
        self.publish_at = None
        if full:
            self.full_publish_at = now + self.full_publish_every

    def digest_due(self, now: datetime) -> bool:
        return self.digest_at is not None and self.digest_at <= now

    def digested(self, now: datetime) -> None:
        self.digest_at = now + self.digest_every


def install_signals(stopping: threading.Event, reload_asked: threading.Event) -> None:
    def stop(signum: int, _frame: object) -> None:
        log.info("daemon.stopping", extra={"signal": signal.Signals(signum).name})
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, lambda *_: reload_asked.set())


# -- one line for people per job that did something (pure) -----------------------------------------------


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def fetch_line(reports: list[Any], seconds: float) -> str | None:
    """``fetched 3 sources: 12 new, 2 updated, 1 not modified, 0 failed (1.2 s)``, then one line per failed
    source; None when nothing was stored and nothing failed (a quiet poll)."""
    new = sum(r.new for r in reports)
    updated = sum(r.updated for r in reports)
    failed = [r for r in reports if r.failed]
    if not (new or updated or failed):
        return None
    not_modified = sum(1 for r in reports if r.status in ("not_modified", "unchanged"))
    head = (
        f"fetched {_n(len(reports), 'source')}: {new} new, {updated} updated, {not_modified} not modified, "
        f"{len(failed)} failed ({seconds:.1f} s)"
    )
    return "\n".join([head, *(f"  {r.source_id} failed: {'; '.join(r.errors)}" for r in failed)])


def publish_line(written: int, full: bool, seconds: float) -> str | None:
    if not written:
        return None
    return f"published {_n(written, 'file')}{' (full rebuild)' if full else ''} ({seconds:.1f} s)"


def digest_lines(report: delivery.DigestReport) -> list[str]:
    out = []
    for o in report.outcomes:
        if o.status == "sent":
            out.append(f"digest to {o.recipient} sent: {_n(o.items, 'article')} → {o.where}")
        elif o.status in ("retry", "failed"):
            out.append(f"digest to {o.recipient} {'will be retried' if o.status == 'retry' else 'failed'}: {o.error}")
    return out


@dataclass
class Daemon:
    config_path: Path
    config: Config
    options: DaemonOptions = DaemonOptions()
    clock: Callable[[], datetime] = pipeline.system_clock
    metrics: Metrics = field(default_factory=Metrics)
    stopping: threading.Event = field(default_factory=threading.Event)
    reload_asked: threading.Event = field(default_factory=threading.Event)
    busy: threading.Lock = field(default_factory=threading.Lock)  # held while a work job runs
    kept: pipeline.Kept = field(default_factory=pipeline.Kept)  # dedupe index and publisher, across reloads
    ctx: pipeline.Context | None = None
    scheduler: BackgroundScheduler | None = None
    server: Any = None
    stopped_cleanly: bool = True
    # Told one line for people per job that did something ("fetched 3 sources: 12 new, ..."), and once
    # the daemon serves; the structured events go to the log whatever this does.
    say: Callable[[str], None] = lambda line: None
    _server_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        o = self.options
        self.lease = Lease.for_this_process(timedelta(seconds=o.lease), self.clock)
        self.timers = Timers(
            timedelta(seconds=o.publish_delay),
            timedelta(seconds=o.digest_every),
            timedelta(seconds=o.full_publish_every),
        )
        if not self.config.sources:
            self.timers.digest_at = self.clock()  # nothing to wait for

    def _open(self, config: Config) -> pipeline.Context:
        return pipeline.Context.open(config, self.clock, cancelled=self.stopping.is_set)

    def _folders(self) -> tuple[Path, Path]:
        return self.config.publish.output_dir, self.config.digest.outbox_dir

    # -- once ---------------------------------------------------------------------------------------------

    def once(self) -> int:
        """Fetch every due source, publish, send the due digests; for cron and tests. Exit code."""
        ctx = self._open(self.config)
        try:
            self.lease.acquire(ctx.store)
            self.ctx = ctx
            remove_temp_files(*self._folders())
            reports = self._timed("fetch", lambda: pipeline.fetch(ctx, only_due=True, kept=self.kept))
            self._count_fetch(reports)
            report = self._timed("publish", lambda: pipeline.publish(ctx, kept=self.kept))
            self.metrics.feeds.inc(len(report.written))
            digests = self._timed("digest", lambda: delivery.digest(ctx))
            self._count_digests(digests)
            return 1 if any(r.failed for r in reports) or digests.failed else 0
        finally:
            self.lease.release(ctx.store)
            ctx.close()

    # -- the daemon ---------------------------------------------------------------------------------------

    def run(self) -> int:
        """Start, or fail before anything claims to serve: the database unreachable (``StoreError``),
        another daemon holding it (``LockedError``), the port taken (``ListenError``); each exits 1."""
        self.ctx = self._open(self.config)
        try:
            self.lease.acquire(self.ctx.store)
        except SyndicateError:
            self.ctx.close()
            raise
        listening = None
        if self.options.serve and self.server is None:
            try:
                listening = self._listen()
            except ListenError:
                self.lease.release(self.ctx.store)
                self.ctx.close()
                raise
        install_signals(self.stopping, self.reload_asked)
        removed = remove_temp_files(*self._folders())
        if removed:
            log.warning("daemon.temp_files_removed", extra={"count": removed})
        if listening is not None:
            self._start_server(listening)
        self.scheduler = self._scheduler()
        self.scheduler.start()
        log.info("daemon.started", extra={"holder": self.lease.holder, "sources": len(self.config.sources)})
        self.say(self._started_line())
        try:
            while not self.stopping.wait(0.2):
                if self.reload_asked.is_set():
                    self.reload_asked.clear()
                    self._reload()
        finally:
            self._shutdown()
            self.say("stopped; the next start goes on from the database")
        return 0

    def _address(self) -> tuple[str, int]:
        return self.options.host or self.config.serve.host, self.options.port or self.config.serve.port

    def _started_line(self) -> str:
        c = self.config
        what = f"{len(c.sources)} sources, {len(c.recipients)} recipients"
        if self.server is None:
            return f"started ({what}); not serving; SIGHUP reloads, Ctrl-C stops"
        host, port = self._address()
        return f"serving {c.publish.output_dir} at http://{host}:{port}/ ({what}); SIGHUP reloads, Ctrl-C stops"

    def _listen(self) -> socket.socket:
        host, port = self._address()
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return socket.create_server((host, port), family=family, backlog=2048)
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise ListenError(f"cannot listen on {host}:{port}: {reason} ([serve] port, or --port)") from e

    def _start_server(self, listening: socket.socket) -> None:
        config = self.config
        app = feed_app(config, self._reader, self.metrics)
        host, port = self._address()
        self.server = web.serve(app, host, port, max_connections=config.serve.max_connections)
        self._server_thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [listening]}, name="http", daemon=True
        )
        self._server_thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self._server_thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        log.info("serve.started", extra={"url": f"http://{host}:{port}/"})

    def _reader(self) -> pipeline.Context:
        assert self.ctx is not None
        return self.ctx

    def _scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1), "lease": ThreadPoolExecutor(1), "push": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        now = datetime.now(UTC)
        scheduler.add_job(self._tick, IntervalTrigger(seconds=self.options.tick), id="tick", next_run_time=now)
        scheduler.add_job(self._renew, IntervalTrigger(seconds=self.options.lease / 3), id="lease", executor="lease")
        # WebSub notifications go from a thread of their own, right after a publish that changed feeds
        # and every minute for retries: a hub that never answers holds up no fetch, publish or digest.
        scheduler.add_job(self._push, IntervalTrigger(seconds=PUSH_EVERY), id="push", executor="push")
        return scheduler

    # -- the tick -----------------------------------------------------------------------------------------

    def _tick(self) -> None:
        """Whatever is due now, in order: fetch, publish, digests."""
        now = self.clock()
        slack = timedelta(seconds=self.options.tick)
        due = self._job("due", lambda ctx: gather.due(ctx, now, slack), quiet=True)
        if due:
            start = time.perf_counter()
            reports = self._job("fetch", lambda ctx: pipeline.fetch(ctx, due, kept=self.kept))
            if reports is not None:
                self._count_fetch(reports)
                self._say(fetch_line(reports, time.perf_counter() - start))
            self.timers.fetched(self.clock(), any(r.new or r.updated for r in reports or ()))
        full = self.timers.publish_due(self.clock())
        if full is not None:
            start = time.perf_counter()
            report = self._job("publish", lambda ctx: pipeline.publish(ctx, full=full, kept=self.kept, notify=False))
            if report is not None:
                self.metrics.feeds.inc(len(report.written))
                self._say(publish_line(len(report.written), full, time.perf_counter() - start))
                if report.written and self.config.publish.websub_hubs and self.scheduler is not None:
                    self.scheduler.modify_job("push", next_run_time=datetime.now(UTC))
            self.timers.published(self.clock(), full)
        if self.timers.digest_due(self.clock()):
            digests = self._job("digest", delivery.digest)
            if digests is not None:
                self._count_digests(digests)
                for line in digest_lines(digests):
                    self._say(line)
            self.timers.digested(self.clock())

    def _push(self) -> None:
        """Send the due WebSub notifications, on a context of its own (a reload may swap the daemon's
        meanwhile); never raises."""
        config = self.config
        if self.stopping.is_set() or not config.publish.websub_hubs:
            return
        try:
            with self._open(config) as ctx:
                accepted = pipeline.push(ctx)
        except Exception:
            self.metrics.failures.labels("push").inc()
            log.exception("job.crashed", extra={"job": "push"})
            return
        if accepted:
            self._say(f"told {_n(len(config.publish.websub_hubs), 'hub')} of {_n(accepted, 'changed document')}")

    def _say(self, line: str | None) -> None:
        if line:
            self.say(line)

    def _renew(self) -> None:
        if self.ctx is None:
            return
        try:
            if not self.lease.renew(self.ctx.store):
                log.error("daemon.lock_lost", extra={"holder": self.lease.holder})
                self.stopping.set()  # another daemon took over: stop rather than work beside it
        except SyndicateError as e:
            log.warning("daemon.lock_renew_failed", extra={"error": str(e)})

    def _job(self, name: str, fn: Callable[[pipeline.Context], Any], quiet: bool = False) -> Any:
        """Run one work job: timed, logged, never raising (a bad run is reported; the next tries again)."""
        if self.stopping.is_set():
            return None
        with self.busy:
            ctx = self._reader()
            try:
                return fn(ctx) if quiet else self._timed(name, lambda: fn(ctx))
            except Cancelled as e:
                log.info("job.cancelled", extra={"job": name, "reason": str(e)})
            except SyndicateError as e:
                self.metrics.failures.labels(name).inc()
                log.error("job.failed", extra={"job": name, "error": str(e)})
            except Exception:
                self.metrics.failures.labels(name).inc()
                log.exception("job.crashed", extra={"job": name})
            return None

    def _timed(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            seconds = time.perf_counter() - start
            self.metrics.jobs.labels(name).observe(seconds)
            log.info("job.done", extra={"job": name, "seconds": round(seconds, 3)})

    def _count_fetch(self, reports: list[Any]) -> None:
        for r in reports:
            self.metrics.fetches.labels(r.status).inc()
            self.metrics.articles.inc(r.new + r.updated)
            log.info(
                "fetch.source",
                extra={
                    "source": r.source_id,
                    "outcome": r.status,
                    "new": r.new,
                    "updated": r.updated,
                    "unchanged": r.unchanged,
                    "seconds": round(r.seconds, 3),
                    "errors": list(r.errors),
                },
            )

    def _count_digests(self, report: delivery.DigestReport) -> None:
        for o in report.outcomes:
            self.metrics.digests.labels(o.status).inc()

    # -- reload and stop ----------------------------------------------------------------------------------

    def _reload(self) -> None:
        try:
            config = load_config(self.config_path)
            problems, _warnings = pipeline.check(config)
            problems += delivery.check_recipients(config)
            if problems:
                raise ConfigError(f"{self.config_path}: invalid config", tuple(problems))
        except ConfigError as e:
            log.error("config.reload_refused", extra={"error": str(e), "problems": list(e.problems)})
            self.say(f"reload refused, the old config stays: {e}" + "".join(f"\n  {p}" for p in e.problems))
            return
        if config.database.url != self.config.database.url:
            log.error("config.reload_refused", extra={"error": "database.url changed: restart to switch databases"})
            self.say("reload refused, the old config stays: database.url changed: restart to switch databases")
            return
        with self.busy:  # between jobs: the next tick sees the new config whole
            old, self.ctx = self.ctx, self._open(config)
            old_ids = {s.id for s in self.config.sources}
            self.config = config
            if old is not None:  # same database: what ``kept`` holds stays valid
                old.close()
        new_ids = {s.id for s in config.sources}
        log.info(
            "config.reloaded",
            extra={
                "sources": len(config.sources),
                "added": sorted(new_ids - old_ids),
                "removed": sorted(old_ids - new_ids),
                "recipients": len(config.recipients),
            },
        )
        added, removed = sorted(new_ids - old_ids), sorted(old_ids - new_ids)
        self.say(
            f"config reloaded: {_n(len(config.sources), 'source')}"
            + (f", added {', '.join(added)}" if added else "")
            + (f", removed {', '.join(removed)}" if removed else "")
        )

    def _shutdown(self) -> None:
        self.stopping.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        # The running job stops at its next unit of work; wait for it, a little.
        finished = self.busy.acquire(timeout=self.options.stop_grace)
        if self.server is not None:
            self.server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(timeout=3)
        if self.ctx is not None:
            self.lease.release(self.ctx.store)
        self.stopped_cleanly = finished
        if finished:
            self.busy.release()
            if self.ctx is not None:
                self.ctx.close()
        remove_temp_files(*self._folders())
        log.info("daemon.stopped", extra={"job_finished": finished})
