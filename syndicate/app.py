"""The HTTP app of ``syndicate serve`` and ``syndicate run``: the published folder, /healthz, the
self-service pages (/unsubscribe, /preferences, /signup, /digest), /status and (in the daemon, which
counts) /metrics. Both commands build it here, so the server needs nothing of the daemon."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from urllib.parse import quote

from . import status, subscriptions, web
from .config import Config
from .context import Context
from .mail import TokenError
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
        selfservice=_SelfService(reader),
        status=lambda: status_page(reader()),
        metrics=(lambda: metrics.render(reader().store.counts())) if metrics is not None else None,
        admin_token=_admin_token(config),
        templates=config.digest.templates,
        site_title=config.site.title,
    )


class _SelfService:
    """The self-service pages (``web.SelfService``): each request carried to ``subscriptions`` through the
    current context; a refused link or form token gets a page saying why, on GET as on POST."""

    def __init__(self, reader: Callable[[], Context]) -> None:
        self.reader = reader

    def answer(
        self, path: str, method: str, query: Mapping[str, str], form: Mapping[str, list[str]], client: str
    ) -> web.Answer:
        ctx = self.reader()
        token = query.get("token") or (form.get("token") or [""])[0]
        try:
            if path == "/signup":
                page = (
                    subscriptions.request_signup(ctx, form, client)
                    if method == "POST"
                    else subscriptions.open_signup(ctx)
                )
                return web.Answer(404) if page is None else _answer(page)
            if not token:
                return web.Answer(400, "notice", {"page": "missing"})
            if path == "/unsubscribe":
                action = query.get("action") or (form.get("action") or [""])[0]
                return _unsubscribe(ctx, method, token, action)
            if path == "/digest":
                doc = subscriptions.web_copy(ctx, token)
                return web.Answer(200, body=doc) if doc is not None else web.Answer(404, "notice", {"page": "gone"})
            if path == "/preferences":
                if method == "POST":
                    return _answer(subscriptions.update_preferences(ctx, token, form))
                welcome = subscriptions.WELCOME if query.get("welcome") else ""
                return _answer(subscriptions.open_preferences(ctx, token, welcome))
            if path == "/signup/confirm":
                if method == "POST":
                    return _answer(subscriptions.confirm_signup(ctx, token, form))
                return _answer(subscriptions.signup_confirmation(ctx, token))
        except TokenError as e:
            template = "unsubscribe" if path == "/unsubscribe" else "notice"
            return web.Answer(403, template, {"page": "invalid", "reason": str(e), "what": path.strip("/")})
        return web.Answer(404)


def _answer(page: subscriptions.Page) -> web.Answer:
    return web.Answer(page.status, page.template, page.values, page.redirect)


def _unsubscribe(ctx: Context, method: str, token: str, action: str) -> web.Answer:
    """GET names the address, with a button (mail scanners follow links; a GET must not unsubscribe).
    POST records it: the button, or a mail client's RFC 8058 one-click POST. The page that confirms offers
    to resubscribe (POST with ``action=resubscribe``, the same token)."""
    if method != "POST":
        email, link = subscriptions.unsubscribe_check(ctx, token), token
        page = "confirm"
    elif action == "resubscribe":
        email, link = subscriptions.resubscribe_by_token(ctx, token)
        page = "resubscribed"
    else:
        email, link = subscriptions.unsubscribe(ctx, token), token
        page = "done"
    action = f"{ctx.config.site.base_url}unsubscribe?token={quote(link)}"
    return web.Answer(200, "unsubscribe", {"page": page, "email": email, "action": action})


def _admin_token(config: Config) -> str | None:
    name = config.serve.admin_token_env
    return os.environ.get(name) if name else None


def status_page(ctx: Context) -> bytes:
    """The ``/status`` page, from ``status.html.j2``."""
    return render_status(ctx.config.publish.templates, ctx.site, status.overview(ctx))
