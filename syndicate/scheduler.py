"""The daemon behind ``syndicate run``: APScheduler jobs for gathering, publishing and digests, the HTTP
server, signals, and the lease that keeps a second daemon off the same database.

Jobs:
- one per source, on its ``interval`` with up to 10% jitter: marks the source due and asks for a fetch;
- fetch (debounced): fetches every source marked due in one batch (partner feeds concurrently), skipping
  those still waiting out a backoff;
- publish (debounced): shortly after a fetch stored something; a full publish once a day;
- digest: every few minutes, sends the digests now due (so a daemon started at 09:10 sends the 08:00 one);
- lease: renews the database lock.

All work jobs run one at a time on one worker thread with one ``Context`` and one ``pipeline.Kept`` (the
dedupe index and the publisher's lists);
the per-source jobs only mark and ask. SIGHUP re-reads the config (a broken one is refused and logged, the
old one kept); SIGINT/SIGTERM stop: no new job starts, the running one stops at its next unit of work
(what it committed stays), the lease is released.
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

from . import delivery, pipeline, web
from . import status as health
from .config import Config, load_config
from .exceptions import Cancelled, ConfigError, StoreError, SyndicateError
from .files import TEMP_PREFIX
from .publish import render_status

__all__ = ["Daemon", "DaemonOptions", "Metrics", "remove_temp_files"]

log = logging.getLogger("syndicate")

LOCK = "daemon"


@dataclass(frozen=True)
class DaemonOptions:
    serve: bool = True
    host: str | None = None
    port: int | None = None
    publish_delay: float = 2.0  # seconds after a storing fetch before publishing (more fetches join in)
    digest_every: float = 300.0  # seconds between looks for due digests
    full_publish_every: float = 86400.0
    lease: float = 60.0  # seconds the database lock is held without renewal
    stop_grace: float = 8.0  # seconds a running job gets to stop at its next unit of work


class Metrics:
    """Prometheus metrics of one daemon (its own registry, so tests can run several)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.fetches = Counter("syndicate_fetches", "Source reads by outcome", ["outcome"], registry=self.registry)
        self.articles = Counter("syndicate_articles_stored", "Articles stored (new or updated)", registry=self.registry)
        self.duplicates = Gauge("syndicate_duplicates", "Articles joined to another's story", registry=self.registry)
        self.stories = Gauge("syndicate_stories", "Stories (canonical articles) stored", registry=self.registry)
        self.feeds = Counter("syndicate_feed_files_written", "Feed and discovery files written", registry=self.registry)
        self.digests = Counter("syndicate_digests", "Digests by outcome", ["outcome"], registry=self.registry)
        self.jobs = Histogram("syndicate_job_seconds", "Job durations", ["job"], registry=self.registry)
        self.failures = Counter("syndicate_job_failures", "Jobs that failed", ["job"], registry=self.registry)

    def render(self, counts: dict[str, int] | None) -> bytes:
        from prometheus_client import generate_latest

        if counts is not None:
            self.duplicates.set(counts["duplicates"])
            self.stories.set(counts["stories"])
        out: bytes = generate_latest(self.registry)
        return out


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


@dataclass
class _Flags:
    lock: threading.Lock = field(default_factory=threading.Lock)
    due: set[str] = field(default_factory=set)
    fetch_asked: bool = False
    publish_asked: bool = False


class Daemon:
    def __init__(
        self,
        config_path: Path,
        config: Config,
        options: DaemonOptions = DaemonOptions(),
        clock: Callable[[], datetime] = pipeline.system_clock,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.options = options
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self.reload_asked = threading.Event()
        self.busy = threading.Lock()  # held while a work job runs
        self.flags = _Flags()
        self.ctx: pipeline.Context | None = None
        self.kept = pipeline.Kept()  # the dedupe index and the publisher's lists, kept across runs and reloads
        self.scheduler: BackgroundScheduler | None = None
        self.server: Any = None
        self._server_thread: threading.Thread | None = None
        self.stopped_cleanly = True
        self._digests_started = False

    # -- context and lease ------------------------------------------------------------------------------

    def _open(self, config: Config) -> pipeline.Context:
        return pipeline.Context.open(config, self.clock, cancelled=self.stopping.is_set)

    def _acquire(self, ctx: pipeline.Context) -> None:
        ctx.store.ensure_ready()
        ttl = timedelta(seconds=self.options.lease)
        taken, holder = ctx.store.acquire_lock(LOCK, self.holder, self.clock(), ttl)
        if not taken:
            raise LockedError(
                f"another syndicate daemon runs on this database: {holder}; stop it first "
                f"(a daemon that died frees the lock within {int(self.options.lease)} s)"
            )

    def _folders(self) -> tuple[Path, Path]:
        return self.config.publish.output_dir, self.config.digest.outbox_dir

    # -- once ---------------------------------------------------------------------------------------------

    def once(self) -> int:
        """Fetch every due source, publish, send the due digests; for cron and tests. Exit code."""
        ctx = self._open(self.config)
        try:
            self._acquire(ctx)
            self.ctx = ctx
            remove_temp_files(*self._folders())
            failed = False
            reports = self._timed("fetch", lambda: pipeline.fetch(ctx, only_due=True, kept=self.kept))
            self._count_fetch(reports)
            failed |= any(r.failed for r in reports)
            report = self._timed("publish", lambda: pipeline.publish(ctx, kept=self.kept))
            self.metrics.feeds.inc(len(report.written))
            digests = self._timed("digest", lambda: delivery.digest(ctx))
            self._count_digests(digests)
            failed |= digests.failed
            return 1 if failed else 0
        finally:
            ctx.store.release_lock(LOCK, self.holder)
            ctx.close()

    # -- the daemon ---------------------------------------------------------------------------------------

    def run(self) -> int:
        self.ctx = self._open(self.config)
        self._install_signals()
        wait = 1.0
        while True:
            try:
                self._acquire(self.ctx)
                break
            except StoreError as e:
                # The database is down: serve (/healthz says 503) and keep trying.
                log.error("daemon.database_unreachable", extra={"error": str(e), "retry_in": wait})
                if self.options.serve and self.server is None:
                    self._start_server()
                if self.stopping.wait(wait):
                    self._shutdown()
                    return 0
                wait = min(wait * 2, 60.0)
            except SyndicateError:
                self.ctx.close()
                raise
        removed = remove_temp_files(*self._folders())
        if removed:
            log.warning("daemon.temp_files_removed", extra={"count": removed})
        if self.options.serve and self.server is None:
            self._start_server()
        self.scheduler = self._scheduler()
        self.scheduler.start()
        log.info("daemon.started", extra={"holder": self.holder, "sources": len(self.config.sources)})
        try:
            while not self.stopping.wait(0.2):
                if self.reload_asked.is_set():
                    self.reload_asked.clear()
                    self._reload()
        finally:
            self._shutdown()
        return 0

    def _install_signals(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            log.info("daemon.stopping", extra={"signal": signal.Signals(signum).name})
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, lambda *_: self.reload_asked.set())

    def _start_server(self) -> None:
        config = self.config
        app = feed_app(config, self._reader, self.metrics)
        host = self.options.host or config.serve.host
        port = self.options.port or config.serve.port
        self.server = web.serve(app, host, port, max_connections=config.serve.max_connections)
        self._server_thread = threading.Thread(target=self.server.run, name="http", daemon=True)
        self._server_thread.start()
        log.info("serve.started", extra={"url": f"http://{host}:{port}/"})

    def _reader(self) -> pipeline.Context:
        assert self.ctx is not None
        return self.ctx

    def _scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1), "ticks": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        now = datetime.now(UTC)
        for src in self.config.sources:
            self._add_source_job(scheduler, src.id, src.interval, now)
        if not self.config.sources:
            self._start_digests(scheduler)  # else after the first fetch: a digest sent at start is complete
        scheduler.add_job(
            self._publish,
            IntervalTrigger(seconds=self.options.full_publish_every),
            id="full-publish",
            kwargs={"full": True},
            next_run_time=now,
        )
        scheduler.add_job(self._renew, IntervalTrigger(seconds=self.options.lease / 3), id="lease", executor="ticks")
        return scheduler

    def _start_digests(self, scheduler: BackgroundScheduler) -> None:
        self._digests_started = True
        scheduler.add_job(
            self._digest,
            IntervalTrigger(seconds=self.options.digest_every),
            id="digest",
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    def _add_source_job(
        self, scheduler: BackgroundScheduler, source_id: str, interval: timedelta, start: datetime
    ) -> None:
        seconds = max(interval.total_seconds(), 1.0)
        scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=seconds, jitter=seconds * 0.1),
            id=f"source:{source_id}",
            args=[source_id],
            executor="ticks",
            next_run_time=start,
            replace_existing=True,
        )

    # -- jobs ---------------------------------------------------------------------------------------------

    def _tick(self, source_id: str) -> None:
        with self.flags.lock:
            self.flags.due.add(source_id)
            if self.flags.fetch_asked:
                return
            self.flags.fetch_asked = True
        self._later(self._fetch, 0.2)

    def _later(self, fn: Callable[[], None], delay: float) -> None:
        if self.scheduler is not None and not self.stopping.is_set():
            self.scheduler.add_job(fn, "date", run_date=datetime.now(UTC) + timedelta(seconds=delay))

    def _fetch(self) -> None:
        with self.flags.lock:
            due = sorted(self.flags.due)
            self.flags.due.clear()
            self.flags.fetch_asked = False
        known = {s.id for s in self.config.sources}
        due = [d for d in due if d in known]
        if not due:
            return
        reports = self._job("fetch", lambda ctx: pipeline.fetch(ctx, due, only_due=True, kept=self.kept))
        if not self._digests_started and self.scheduler is not None:
            self._start_digests(self.scheduler)
        if reports is None:
            return
        self._count_fetch(reports)
        if any(r.new or r.updated for r in reports):
            with self.flags.lock:
                if self.flags.publish_asked:
                    return
                self.flags.publish_asked = True
            self._later(self._publish, self.options.publish_delay)

    def _publish(self, full: bool = False) -> None:
        with self.flags.lock:
            self.flags.publish_asked = False
        report = self._job("publish", lambda ctx: pipeline.publish(ctx, full=full, kept=self.kept))
        if report is not None:
            self.metrics.feeds.inc(len(report.written))

    def _digest(self) -> None:
        report = self._job("digest", delivery.digest)
        if report is not None:
            self._count_digests(report)

    def _renew(self) -> None:
        if self.ctx is None:
            return
        try:
            if not self.ctx.store.renew_lock(LOCK, self.holder, self.clock(), timedelta(seconds=self.options.lease)):
                log.error("daemon.lock_lost", extra={"holder": self.holder})
                self.stopping.set()  # another daemon took over: stop rather than work beside it
        except SyndicateError as e:
            log.warning("daemon.lock_renew_failed", extra={"error": str(e)})

    def _job(self, name: str, fn: Callable[[pipeline.Context], Any]) -> Any:
        """Run one work job: timed, logged, never raising (a bad run is reported; the next tries again)."""
        if self.stopping.is_set():
            return None
        with self.busy:
            ctx = self._reader()
            try:
                return self._timed(name, lambda: fn(ctx))
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
            return
        if config.database.url != self.config.database.url:
            log.error("config.reload_refused", extra={"error": "database.url changed: restart to switch databases"})
            return
        with self.busy:  # between jobs: the next one sees the new config whole
            old, self.ctx = self.ctx, self._open(config)
            old_ids = {s.id: s for s in self.config.sources}
            self.config = config
            if old is not None:  # same database: what ``kept`` holds stays valid
                old.close()
        assert self.scheduler is not None
        now = datetime.now(UTC)
        new_ids = {s.id: s for s in config.sources}
        for sid in old_ids.keys() - new_ids.keys():
            self.scheduler.remove_job(f"source:{sid}")
        for sid, src in new_ids.items():
            if sid not in old_ids or old_ids[sid].interval != src.interval:
                self._add_source_job(self.scheduler, sid, src.interval, now)
        log.info(
            "config.reloaded",
            extra={
                "sources": len(config.sources),
                "added": sorted(new_ids.keys() - old_ids.keys()),
                "removed": sorted(old_ids.keys() - new_ids.keys()),
                "recipients": len(config.recipients),
            },
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
            try:
                self.ctx.store.release_lock(LOCK, self.holder)
            except SyndicateError as e:
                log.warning("daemon.lock_release_failed", extra={"error": str(e)})
        self.stopped_cleanly = finished
        if finished:
            self.busy.release()
            if self.ctx is not None:
                self.ctx.close()
        remove_temp_files(*self._folders())
        log.info("daemon.stopped", extra={"job_finished": finished})


class LockedError(SyndicateError):
    """Another daemon holds the database."""


def feed_app(config: Config, reader: Callable[[], pipeline.Context], metrics: Metrics | None = None) -> web.FeedApp:
    """The HTTP app of ``serve`` and ``run``: output_dir, /healthz, /unsubscribe, /status and (in the
    daemon, which counts) /metrics. ``reader`` gives the context its endpoints read the store through."""
    return web.FeedApp(
        config.publish.output_dir,
        cache_max_age=config.serve.cache_max_age,
        base_url=config.site.base_url,
        hubs=config.publish.websub_hubs,
        health=lambda: health.store_health(reader()),
        unsubscribe=lambda token: delivery.unsubscribe(reader(), token),
        status=lambda: status_page(reader()),
        metrics=(lambda: metrics.render(reader().store.counts())) if metrics is not None else None,
        admin_token=_admin_token(config),
    )


def _admin_token(config: Config) -> str | None:
    name = config.serve.admin_token_env
    return os.environ.get(name) if name else None


def status_page(ctx: pipeline.Context) -> bytes:
    """The ``/status`` page, from ``status.html.j2``."""
    return render_status(ctx.config.publish.templates, ctx.site, health.overview(ctx))
