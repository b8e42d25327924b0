"""Benchmark: fetching partner feeds through the command line, as an operator runs it.

    python bench/ingest.py [--feeds 200] [--warm-feeds 1000] [--repeat 3] [--old PATH]

A second process serves N generated feeds (50 entries each, Chinese text, ~25 MB for 200) on loopback,
on as many addresses as there are feeds (127.0.0.1, 127.0.0.2, …: each a host of its own) or all on
127.0.0.1. Measured, as the median of --repeat runs:

- bare:  feedparser.parse of the same bytes, one after another in this process (the baseline, measured
         in the same run);
- cold:  `syndicate fetch` in a fresh process into a fresh SQLite database (start-up, HTTP, decode,
         parse, sanitize, zones, store, dedupe), every feed on a host of its own and then every feed on
         one host (one request at a time per host), each as a ratio to bare (goal ≤ 1.5×);
- warm:  the next `syndicate fetch` of --warm-feeds sources, where every source answers 304 (goal < 2 s).

Each version's package is byte-compiled first, as an installed one is (pip compiles at install).

``--old PATH``: a checkout of an earlier version, measured the same way in the same run. The machine is
noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import feedparser

sys.path.insert(0, str(Path(__file__).parent))
from _feeds import rss_feed

ROOT = Path(__file__).parent.parent


def host(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def serve(count: int, hosts: int, port_queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
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

    first = ThreadingHTTPServer((host(0), 0), Handler)
    port = first.server_address[1]
    servers = [first] + [ThreadingHTTPServer((host(i), port), Handler) for i in range(1, hosts)]
    for server in servers:
        Thread(target=server.serve_forever, daemon=True).start()
    port_queue.put(port)
    time.sleep(3600)


def config_text(folder: Path, port: int, count: int, hosts: int) -> str:
    sources = "".join(
        f'[[sources]]\nid = "p{i}"\nkind = "feed"\nurl = "http://{host(i % hosts)}:{port}/feeds/{i}.xml"\n\n'
        for i in range(count)
    )
    return f"""[database]
url = "sqlite:///{folder / "bench.db"}"

[publish]
output_dir = "{folder / "public"}"

[[zones]]
slug = "xishan"
name = "锡山经济技术开发区"
city = "无锡"

[[zones]]
slug = "sip"
name = "苏州工业园区"
city = "苏州"

{sources}"""


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Checkout:
    """One version of syndicate, run as `python -m syndicate` with its package first on the path."""

    def __init__(self, path: Path) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(path)}
        # Compiled first, as an installed package is (pip writes the bytecode at install). A checkout
        # otherwise compiles its modules at every start where PYTHONDONTWRITEBYTECODE is set, in the
        # command and in the parsing workers' server: 0.1 s of a cold fetch that operators do not pay.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(path / "syndicate")], check=True)

    def run(self, folder: Path, *args: str) -> None:
        command = [sys.executable, "-m", "syndicate", "--config", str(folder / "bench.toml"), *args]
        done = subprocess.run(command, env=self.env, cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")

    def fetch(self, port: int, count: int, hosts: int, warm: bool = False) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "bench.toml").write_text(config_text(folder, port, count, hosts), encoding="utf-8")
            self.run(folder, "init")
            seconds = timed(lambda: self.run(folder, "fetch"))
            stored = _articles(folder)
            assert stored == count * 50, f"cold pass stored {stored} of {count * 50} entries"
            if warm:
                seconds = timed(lambda: self.run(folder, "fetch"))
                assert _articles(folder) == stored
            return seconds


def _articles(folder: Path) -> int:
    with sqlite3.connect(folder / "bench.db") as db:
        return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=200, help="sources in the cold pass")
    parser.add_argument("--warm-feeds", type=int, default=1000, help="sources in the warm (all-304) pass")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old", type=Path, default=None, help="a checkout of an earlier version")
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    count = max(args.feeds, args.warm_feeds)
    server = multiprocessing.Process(target=serve, args=(count, args.feeds, queue), daemon=True)
    server.start()
    versions = {"this": Checkout(ROOT)}
    if args.old is not None:
        versions["old"] = Checkout(args.old.resolve())
    try:
        port = queue.get(timeout=300)
        bodies = [rss_feed(i) for i in range(args.feeds)]
        size = sum(map(len, bodies)) / 1e6
        bare = statistics.median(timed(lambda: [feedparser.parse(b) for b in bodies]) for _ in range(args.repeat))
        print(f"{args.feeds} feeds x 50 entries ({size:.1f} MB), median of {args.repeat}, {os.cpu_count()} cores")
        print(f"  {'':<5} bare feedparser.parse              {bare:7.2f} s   (baseline)")
        for name, version in versions.items():
            for hosts, label in ((args.feeds, f"{args.feeds} hosts"), (1, "one host")):
                cold = statistics.median(version.fetch(port, args.feeds, hosts) for _ in range(args.repeat))
                print(f"  {name:<5} cold syndicate fetch, {label:<10}  {cold:7.2f} s   {cold / bare:.2f}x bare")
        if args.warm_feeds:
            for name, version in versions.items():
                warm = version.fetch(port, args.warm_feeds, args.feeds, warm=True)
                print(f"  {name:<5} warm fetch of {args.warm_feeds} sources (all 304) {warm:7.2f} s   goal < 2 s")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
