"""The HTTP app of ``syndicate serve`` and ``syndicate run``: the published folder, /healthz,
/unsubscribe, /status and (in the daemon, which counts) /metrics. Both commands build it here, so the
server needs nothing of the daemon."""

from __future__ import annotations

import os
from collections.abc import Callable

from . import delivery, status, web
from .config import Config
from .context import Context
from .publish import render_status

__all__ = ["Metrics", "feed_app", "status_page"]


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


def feed_app(config: Config, reader: Callable[[], Context], metrics: Metrics | None = None) -> web.FeedApp:
    """``reader`` gives the context the endpoints read the store through (the daemon's changes on a
    config reload)."""
    return web.FeedApp(
        config.publish.output_dir,
        cache_max_age=config.serve.cache_max_age,
        base_url=config.site.base_url,
        hubs=config.publish.websub_hubs,
        health=lambda: status.store_health(reader()),
        unsubscribe=_Subscriptions(reader),
        status=lambda: status_page(reader()),
        metrics=(lambda: metrics.render(reader().store.counts())) if metrics is not None else None,
        admin_token=_admin_token(config),
        templates=config.digest.templates,
        site_title=config.site.title,
    )


class _Subscriptions:
    """The unsubscribe page's actions (``web.Subscriptions``), through the current context."""

    def __init__(self, reader: Callable[[], Context]) -> None:
        self.reader = reader

    def check(self, token: str) -> str:
        return delivery.unsubscribe_check(self.reader(), token)

    def unsubscribe(self, token: str) -> str:
        return delivery.unsubscribe(self.reader(), token)

    def resubscribe(self, token: str) -> tuple[str, str]:
        return delivery.resubscribe_by_token(self.reader(), token)

    def web_copy(self, token: str) -> bytes | None:
        return delivery.web_copy(self.reader(), token)


def _admin_token(config: Config) -> str | None:
    name = config.serve.admin_token_env
    return os.environ.get(name) if name else None


def status_page(ctx: Context) -> bytes:
    """The ``/status`` page, from ``status.html.j2``."""
    return render_status(ctx.config.publish.templates, ctx.site, status.overview(ctx))
