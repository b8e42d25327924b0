"""WebSub publishing to a hub played by a local HTTP server: one notification per changed feed, none for
an unchanged one; a failing hub never fails the publish and is retried later."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

from lxml import etree
from pytest_httpserver import HTTPServer

from syndicate import pipeline
from syndicate.config import load_config
from syndicate.pipeline import Context
from syndicate.publish import websub

from .feed_rules import check_json
from .helpers import FixedClock, HangingHub, page


def notifications(hub: HTTPServer) -> list[str]:
    urls = []
    for request, _ in hub.log:
        form = parse_qs(request.get_data(as_text=True))
        assert form["hub.mode"] == ["publish"]
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        urls += form["hub.url"]
    return urls


def context(write_config: Callable[..., Path], clock: FixedClock, hub_url: str) -> Context:
    path = write_config()
    text = path.read_text(encoding="utf-8").replace(
        "items_per_feed = 3\n", f'items_per_feed = 3\nwebsub_hubs = ["{hub_url}"]\n'
    )
    path.write_text(text, encoding="utf-8")
    ctx = Context.open(load_config(path), clock)
    ctx.store.ensure_ready()
    return ctx


def test_one_notification_per_changed_feed(
    httpserver: HTTPServer, write_config: Callable[..., Path], clock: FixedClock, tmp_path: Path
) -> None:
    httpserver.expect_request("/hub", method="POST").respond_with_data("", status=204)
    hub = httpserver.url_for("/hub")
    with context(write_config, clock, hub) as ctx:
        (tmp_path / "articles" / "a.txt").write_text(page(title="甲", body=("甲文。",)), encoding="utf-8")
        pipeline.fetch(ctx)
        report = pipeline.publish(ctx)
        first = notifications(httpserver)
        assert len(first) == len(set(first)) == 21  # 7 feeds x 3 formats, each once
        assert "http://feeds.example.org/zones/xishan/atom.xml" in first
        assert report.notified == 21
        # Feeds carry the hub, in RSS too.
        out = ctx.config.publish.output_dir
        for name in ("rss.xml", "atom.xml"):
            root = etree.fromstring((out / "zones/xishan" / name).read_bytes())
            assert root.xpath("//atom:link[@rel='hub']/@href", namespaces={"atom": "http://www.w3.org/2005/Atom"}) == [
                hub
            ]

        # JSON Feed names it too (JSON Feed 1.1 "hubs").
        document = json.loads((out / "zones/xishan" / "feed.json").read_text(encoding="utf-8"))
        assert document["hubs"] == [{"type": "WebSub", "url": hub}]
        json_feed = out / "zones/xishan" / "feed.json"
        assert check_json(json_feed.read_bytes(), "http://feeds.example.org/zones/xishan/feed.json") == []

        httpserver.clear_log()
        pipeline.publish(ctx)  # nothing changed
        assert notifications(httpserver) == []

        clock.now += timedelta(minutes=1)
        (tmp_path / "articles" / "b.txt").write_text(
            page(title="乙", zone="苏州工业园区", city="苏州", body=("乙文。",)), encoding="utf-8"
        )
        pipeline.fetch(ctx)
        pipeline.publish(ctx)
        changed = {u.removeprefix("http://feeds.example.org/").rsplit("/", 1)[0] for u in notifications(httpserver)}
        assert changed == {"zones/sip", "cities/suzhou", "categories/wenzixinwen", "all"}


def test_a_failing_hub_is_retried_and_never_fails_the_publish(
    httpserver: HTTPServer, write_config: Callable[..., Path], clock: FixedClock, tmp_path: Path
) -> None:
    httpserver.expect_request("/hub", method="POST").respond_with_data("down", status=503)
    with context(write_config, clock, httpserver.url_for("/hub")) as ctx:
        (tmp_path / "articles" / "a.txt").write_text(page(title="甲", body=("甲文。",)), encoding="utf-8")
        pipeline.fetch(ctx)
        report = pipeline.publish(ctx)
        assert report.written and report.notified == 0
        assert len(ctx.store.due_notifications(clock.now + timedelta(minutes=1))) == 21
        httpserver.clear()
        httpserver.expect_request("/hub", method="POST").respond_with_data("", status=202)
        pipeline.publish(ctx)  # before the wait is over: nothing is sent
        assert notifications(httpserver) == []
        clock.now += timedelta(minutes=2)
        report = pipeline.publish(ctx)
        assert report.notified == 21
        assert ctx.store.due_notifications(clock.now + timedelta(days=2)) == []


def test_an_unreachable_hub(write_config: Callable[..., Path], clock: FixedClock, tmp_path: Path) -> None:
    with context(write_config, clock, "http://127.0.0.1:1/hub") as ctx:
        (tmp_path / "articles" / "a.txt").write_text(page(title="甲", body=("甲文。",)), encoding="utf-8")
        pipeline.fetch(ctx)
        report = pipeline.publish(ctx)
        assert report.written
        [(_hub, _url, attempts), *_] = ctx.store.due_notifications(clock.now + timedelta(hours=1))
        assert attempts == 1


def test_a_hub_that_never_answers_holds_a_publish_up_seconds_not_minutes(
    write_config: Callable[..., Path], clock: FixedClock, tmp_path: Path
) -> None:
    """21 notifications to a hub that never answers: sent together, given up at one deadline (one by one
    with a 10 s timeout each, the publish took three and a half minutes), queued, and delivered by a later
    publish once the hub answers."""
    hub = HangingHub()
    try:
        with context(write_config, clock, hub.url) as ctx:
            (tmp_path / "articles" / "a.txt").write_text(page(title="甲", body=("甲文。",)), encoding="utf-8")
            pipeline.fetch(ctx)
            started = time.monotonic()
            report = pipeline.publish(ctx)
            took = time.monotonic() - started
            assert report.written and report.notified == 0
            assert took < websub.DEADLINE + 15, took  # the deadline and the publish's own work
            waiting = ctx.store.due_notifications(clock.now + timedelta(minutes=1))
            assert len(waiting) == 21 and all(attempts == 1 for _, _, attempts in waiting)

            hub.released.set()  # the hub answers again
            clock.now += timedelta(minutes=2)
            report = pipeline.publish(ctx)
            assert report.notified == 21
            assert len(set(hub.told)) == 21
            assert ctx.store.due_notifications(clock.now + timedelta(days=2)) == []
    finally:
        hub.close()
