"""Benchmark: rendering and delivering digests.

    python bench/digest.py [--recipients 10000] [--zones 200] [--items 5] [--repeat 3]

A store of --zones zones with --items new articles each, and --recipients recipients following two zones
each. An SMTP sink (aiosmtpd's discarding handler) runs in a process of its own on 127.0.0.1. Measured:

- baseline: smtplib sending the very messages syndicate recorded, pre-rendered, over one connection;
- syndicate: `syndicate digest` for every recipient — choose the articles, render both parts, inline CSS,
  build the message, record it in the outbox, send it, mark it sent and record the deliveries.

Prints messages per second of each and the ratio; medians of --repeat runs, each on a fresh outbox.
"""

from __future__ import annotations

import argparse
import random
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete

from syndicate import delivery, pipeline
from syndicate.config import config_from_dict
from syndicate.store.models import DeliveryRow, DigestArticleRow, DigestRow, RecipientRow
from syndicate.types import Article

sys.path.insert(0, str(Path(__file__).parent))
from dedupe import article as random_article

NOW = datetime(2021, 1, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai: every recipient is due


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the SMTP sink did not start")


def reset(ctx: pipeline.Context) -> None:
    """Forget every digest so the next run sends them all again."""
    with ctx.store._session() as s:
        for model in (DeliveryRow, DigestArticleRow, DigestRow, RecipientRow):
            s.execute(delete(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            zones = [{"slug": f"z{n}", "name": f"第{n}开发区", "city": f"城市{n // 10}"} for n in range(args.zones)]
            recipients = [
                {
                    "email": f"r{n}@example.org",
                    "name": f"员工{n}",
                    "zones": [f"z{n % args.zones}", f"z{(n * 7 + 1) % args.zones}"],
                }
                for n in range(args.recipients)
            ]
            raw = {
                "database": {"url": f"sqlite:///{folder / 'digest.db'}"},
                "publish": {"output_dir": str(folder / "public")},
                "digest": {"outbox_dir": str(folder / "outbox")},
                "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "rate_per_minute": 1_000_000},
                "zones": zones,
                "recipients": recipients,
                "sources": [{"id": "bench", "kind": "directory", "path": ".", "link_template": "https://x/{stem}"}],
            }
            config = config_from_dict(raw, folder / "bench.toml")
            clock = [NOW - timedelta(hours=2)]
            ctx = pipeline.Context.open(config, lambda: clock[0])
            ctx.store.ensure_ready()
            print(f"preparing {args.zones} zones x {args.items} articles, {args.recipients} recipients ...", flush=True)
            ctx.store.sync_recipients([r["email"] for r in recipients], clock[0] - timedelta(days=1), clock[0])
            n = 0
            for z in range(args.zones):
                batch = []
                for _ in range(args.items):
                    a = random_article(rng, n, NOW - timedelta(hours=3, minutes=n))
                    batch.append((Article("bench", a.key, a.title, a.link, a.published, a.body_html), (f"z{z}",)))
                    n += 1
                ctx.store.save_articles("bench", batch, clock[0])
            pipeline.deduplicate(ctx)
            clock[0] = NOW

            ours, base = [], []
            for run in range(args.repeat):
                reset(ctx)
                ctx.store.sync_recipients([r["email"] for r in recipients], NOW - timedelta(days=1), NOW)
                t0 = time.perf_counter()
                report = delivery.digest(ctx)
                ours.append(time.perf_counter() - t0)
                sent = report.count("sent")
                assert sent == args.recipients, f"only {sent} of {args.recipients} sent: {report.outcomes[:3]}"
                # The same messages, as recorded, sent by smtplib alone.
                with ctx.store._session() as s:
                    messages = [(r.recipient, r.message) for r in s.query(DigestRow).order_by(DigestRow.id)]
                t0 = time.perf_counter()
                with smtplib.SMTP("127.0.0.1", port) as conn:
                    for to, data in messages:
                        conn.sendmail("news@example.org", [to], data)
                base.append(time.perf_counter() - t0)
                print(f"  run {run + 1}: syndicate {ours[-1]:.2f} s, smtplib {base[-1]:.2f} s", flush=True)
            ctx.close()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    n = args.recipients
    o, b = statistics.median(ours), statistics.median(base)
    print(f"digests: {n} recipients, {args.zones} zones x {args.items} new articles, 2 zones each")
    print(f"  smtplib, pre-rendered messages: {n / b:8.0f} messages/s  ({b:.2f} s)")
    print(f"  syndicate digest (end to end):  {n / o:8.0f} messages/s  ({o:.2f} s)")
    print(f"  ratio: {o / b:.2f}x the time of sending alone")


if __name__ == "__main__":
    main()
