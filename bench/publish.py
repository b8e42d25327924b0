"""Benchmark: publishing.

    python bench/publish.py [--zones 1000] [--items 50]

A store with --zones zones (in cities of ten zones each) and --items articles per zone. Measured:

- baseline: bare feedgen building the same RSS and Atom documents (same items, no extensions) and
  json.dumps of the same JSON Feed, from items already in memory;
- full:     `syndicate publish --all`: every feed from the database (zones, cities, categories, all) in
  three formats, plus the discovery documents, written to disk; as a ratio to the baseline (goal <= 1.3x);
- incremental: `syndicate publish` after 10 new articles in 10 zones (goal < 0.5 s).

Medians of --repeat runs (5), and each run's ratio: the machine's speed drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedgen.feed import FeedGenerator

from syndicate import pipeline, publisher
from syndicate.config import config_from_dict
from syndicate.publish import FeedItem
from syndicate.types import Article

sys.path.insert(0, str(Path(__file__).parent))
from dedupe import article as random_article

NOW = datetime(2021, 1, 1, tzinfo=UTC)


def bare(items: Sequence[FeedItem], title: str, url: str, subscription: bool) -> int:
    """The same document(s) with feedgen alone: RSS, Atom and JSON for a feed, Atom for an archive page."""
    size = 0
    for kind in ("rss", "atom") if subscription else ("atom",):
        fg = FeedGenerator()
        fg.id(url)
        fg.title(title)
        fg.description(title)
        fg.link(href=url, rel="self")
        fg.link(href=url, rel="alternate")
        fg.language("zh-CN")
        fg.author(name="bench")
        for i in items:
            fe = fg.add_entry(order="append")
            fe.id(i.guid)
            fe.guid(i.guid, permalink=False)
            fe.title(i.title)
            fe.link(href=i.link)
            fe.published(i.published)
            fe.updated(i.updated)
            fe.description(i.summary)
            fe.summary(i.summary)
            fe.content(i.content_html, type="html")
            for c in i.categories:
                fe.category(term=c)
        size += len(fg.rss_str(pretty=True) if kind == "rss" else fg.atom_str(pretty=True))
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "items": [
            {
                "id": i.guid,
                "url": i.link,
                "title": i.title,
                "content_html": i.content_html,
                "summary": i.summary,
                "date_published": i.published.isoformat(),
                "date_modified": i.updated.isoformat(),
                "tags": list(i.categories),
            }
            for i in items
        ],
    }
    return size + len(json.dumps(doc, ensure_ascii=False, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import random

    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        zones = [{"slug": f"z{n}", "name": f"第{n}开发区", "city": f"城市{n // 10}"} for n in range(args.zones)]
        raw = {
            "database": {"url": f"sqlite:///{folder / 'publish.db'}"},
            "publish": {"output_dir": str(folder / "public"), "items_per_feed": args.items},
            "zones": zones,
            "sources": [{"id": "bench", "kind": "directory", "path": ".", "link_template": "https://x/{stem}"}],
        }
        config = config_from_dict(raw, folder / "bench.toml")
        clock = [NOW]
        ctx = pipeline.Context.open(config, lambda: clock[0])
        ctx.store.ensure_ready()
        print(f"preparing {args.zones} zones x {args.items} articles ...", flush=True)
        n = 0
        for z in range(args.zones):
            batch = []
            for _ in range(args.items):
                a = random_article(rng, n, NOW - timedelta(minutes=n))
                batch.append(
                    (
                        Article("bench", a.key, a.title, a.link, a.published, a.body_html, category="文字新闻"),
                        (f"z{z}",),
                    )
                )
                n += 1
            ctx.store.save_articles("bench", batch, NOW)
        kept = pipeline.Kept()  # as the daemon keeps them: the dedupe index, the publisher's lists
        pipeline.deduplicate(ctx, lsh=kept.lsh)
        pipeline.publish(ctx, full=True, kept=kept)  # warm: files exist, so a full rebuild measures rebuilding

        # The same documents' items, in memory, for the baseline.
        make = publisher._ItemMaker(ctx)
        selections = pipeline.feed_selections(ctx)
        # Every document publish --all writes: each feed, and the archive pages of those with more items.
        loaded = []
        for s in selections:
            ids = ctx.store.feed_ids(s.zones, s.category)
            loaded.append((s.spec, make.by_ids(ids[-args.items :]), True))
            pages = max(0, len(ids) - 1) // args.items
            for p in range(1, pages + 1):
                loaded.append((s.spec, make.by_ids(ids[(p - 1) * args.items : p * args.items]), False))
        baselines, fulls = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for spec, items, subscription in loaded:
                bare(items, spec.title, spec.url(ctx.site, "atom.xml"), subscription)
            baselines.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = pipeline.publish(ctx, full=True, kept=kept)
            fulls.append(time.perf_counter() - started)
        incrementals = []
        for r in range(args.repeat):
            clock[0] += timedelta(minutes=1)
            new = []
            for k in range(10):
                a = random_article(rng, 10_000_000 + r * 10 + k, clock[0])
                new.append(
                    (
                        Article("bench", a.key, a.title, a.link, a.published, a.body_html, category="文字新闻"),
                        (f"z{k * 7}",),
                    )
                )
            ctx.store.save_articles("bench", new, clock[0])
            pipeline.deduplicate(ctx, lsh=kept.lsh)
            started = time.perf_counter()
            inc = pipeline.publish(ctx, kept=kept)
            incrementals.append(time.perf_counter() - started)
        ctx.close()
    base, full, incremental = (statistics.median(x) for x in (baselines, fulls, incrementals))
    print(f"feeds: {len(selections)} (zones, cities, categories, all), {len(loaded)} documents with archives")
    print(
        f"  {args.zones} zones x {args.items} items; RSS+Atom+JSON per feed, Atom per archive; median of {args.repeat}"
    )
    print(f"  bare feedgen + json.dumps, items in memory  {base:8.2f} s   (baseline)")
    print(f"  publish --all (from the database, to disk)  {full:8.2f} s   {full / base:.2f}x baseline   goal <= 1.3x")
    pairs = ", ".join(f"{f / b:.2f}x" for b, f in zip(baselines, fulls, strict=True))
    print(f"  each run's ratio (baseline and publish measured back to back): {pairs}")
    print(f"  files written by the last full publish: {len(report.written)}, left unchanged: {len(report.unchanged)}")
    print(
        f"  incremental publish after 10 new articles   {incremental:8.3f} s   goal < 0.5 s"
        f"   ({len(inc.written)} files written, {inc.skipped} feeds skipped)"
    )


if __name__ == "__main__":
    main()
