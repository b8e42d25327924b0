"""Benchmark: fetching partner feeds.

    python bench/ingest.py [--feeds 200] [--warm-feeds 1000] [--repeat 3]

Serves N generated feeds (50 entries each, Chinese text) from a second process on loopback, spread over
eight loopback addresses (127.0.0.1-8) so that the one-request-per-host rule does not serialize them, and
measures, in this process:

- bare:  feedparser.parse of the same bytes, one after another (the baseline, measured in the same run);
- cold:  `syndicate fetch` of all sources into a fresh SQLite database (HTTP, decode, parse, sanitize,
         store), as a ratio to bare;
- warm:  the next fetch, where every source answers 304 (goals: under 2 s for 1,000 sources).

Medians of --repeat runs. The machine is noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import TypeVar

import feedparser

sys.path.insert(0, str(Path(__file__).parent))
from _feeds import rss_feed

from syndicate import pipeline
from syndicate.config import Config, config_from_dict

HOSTS = [f"127.0.0.{i}" for i in range(1, 9)]
T = TypeVar("T")


def serve(count: int, port_queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    bodies = {f"/feeds/{i}.xml": rss_feed(i) for i in range(count)}
    etags = {path: '"' + hashlib.sha1(body).hexdigest() + '"' for path, body in bodies.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == etags[self.path]:
                self.send_response(304)
                self.send_header("ETag", etags[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", etags[self.path])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    servers = [ThreadingHTTPServer((host, 0), Handler) for host in HOSTS]
    for server in servers:
        Thread(target=server.serve_forever, daemon=True).start()
    port_queue.put([s.server_address[1] for s in servers])
    time.sleep(3600)


def config(folder: Path, ports: list[int], count: int) -> Config:
    sources = [
        {"id": f"p{i}", "kind": "feed", "url": f"http://{HOSTS[i % 8]}:{ports[i % 8]}/feeds/{i}.xml"}
        for i in range(count)
    ]
    raw = {
        "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
        "publish": {"output_dir": str(folder / "public")},
        "fetch": {"concurrency": 8},
        "zones": [
            {"slug": "xishan", "name": "锡山经济技术开发区", "city": "无锡"},
            {"slug": "sip", "name": "苏州工业园区", "city": "苏州"},
        ],
        "sources": sources,
    }
    return config_from_dict(raw, folder / "bench.toml")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run(count: int, ports: list[int], repeat: int) -> dict[str, float]:
    bodies = [rss_feed(i) for i in range(count)]
    bare = statistics.median(timed(lambda: [feedparser.parse(b) for b in bodies])[0] for _ in range(repeat))
    colds, warms = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(Path(tmp), ports, count)
            with pipeline.Context.open(cfg, lambda: datetime(2020, 12, 1, tzinfo=UTC)) as ctx:
                ctx.store.migrate()
                kept = pipeline.Kept()  # a daemon's second poll reuses its dedupe index
                seconds, reports = timed(partial(pipeline.fetch, ctx, kept=kept))
                colds.append(seconds)
                assert sum(r.new for r in reports) == count * 50, "cold pass lost entries"
                assert not any(r.failed for r in reports), [r.errors for r in reports if r.failed][:3]
                seconds, warm_reports = timed(partial(pipeline.fetch, ctx, kept=kept))
                warms.append(seconds)
                assert all(r.status == "not_modified" for r in warm_reports)
    return {"bare": bare, "cold": statistics.median(colds), "warm": statistics.median(warms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=200, help="sources in the cold pass")
    parser.add_argument("--warm-feeds", type=int, default=1000, help="sources in the warm (all-304) pass")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(max(args.feeds, args.warm_feeds), queue), daemon=True)
    server.start()
    try:
        ports = queue.get(timeout=120)
        small = run(args.feeds, ports, args.repeat)
        print(f"feeds: {args.feeds} x 50 entries, median of {args.repeat}")
        print(f"  bare feedparser.parse   {small['bare']:8.3f} s   (baseline)")
        ratio = small["cold"] / small["bare"]
        print(f"  cold fetch (store all)  {small['cold']:8.3f} s   {ratio:.2f}x bare   goal <= 1.5x")
        print(f"  warm fetch (all 304)    {small['warm']:8.3f} s   {small['warm'] / small['bare']:.3f}x bare")
        if args.warm_feeds:
            big = run(args.warm_feeds, ports, 1)
            print(f"feeds: {args.warm_feeds}")
            print(f"  bare feedparser.parse   {big['bare']:8.3f} s   (baseline)")
            print(f"  cold fetch (store all)  {big['cold']:8.3f} s   {big['cold'] / big['bare']:.2f}x bare")
            ratio = big["warm"] / big["bare"]
            print(f"  warm fetch (all 304)    {big['warm']:8.3f} s   {ratio:.3f}x bare   goal < 2 s")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
