"""Benchmark: deduplication quality and speed.

    python bench/dedupe.py [--store 100000] [--add 10000] [--repeat 3]

1. Quality: the labeled corpus of tests/dedupe_corpus.py (270 articles: re-posts with edited titles,
   bylines, trimmed or reordered paragraphs; hard negatives sharing boilerplate; periodic reports from one
   template) goes through the real store and dedupe step; pairwise precision and recall are printed.
   Goals: precision 1.00, recall >= 0.97, overall and per class (excerpts, lightly edited re-posts, short
   notices, a blog of anchors, entries without links, a source's footer, same-event reports, series).
2. Flood: one story arriving 2,000 times (ten partners, 200 copies each) against 2,000 distinct articles,
   saved and deduplicated the same way. Goal: at most 2x.
3. Speed: the store is filled in steps of --add articles up to --store, timing the dedupe step of each
   step; then --add more are deduplicated against the full store. Printed: articles/s of that last step
   (goal >= 2,000/s on one core) and the per-article cost at 10k, 50k and 100k stored, as a ratio to the
   cost at the first step (flat means ~1.0x). Saving the articles is not timed; fingerprinting, candidate
   lookup, verification and recording the decision are.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from syndicate import dedupe, pipeline
from syndicate.config import config_from_dict
from syndicate.text import paragraphs_html
from syndicate.types import Article
from tests.dedupe_corpus import corpus, evaluate, evaluate_by_class

# Common characters: unrelated generated articles share as few shingles as unrelated news does.
CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定"
    "行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些"
    "然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公"
    "无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将"
    "组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金"
    "增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类"
)


def article(rng: random.Random, n: int, when: datetime) -> Article:
    words = ["".join(rng.choices(CHARS, k=rng.randint(2, 4))) for _ in range(rng.randint(250, 400))]
    paragraphs = ["".join(words[i : i + 40]) + "。" for i in range(0, len(words), 40)]
    return Article(
        "bench", f"a{n}", "".join(words[:6]), f"https://bench.example/{n}.html", when, paragraphs_html(paragraphs)
    )


def context(folder: Path) -> pipeline.Context:
    raw = {
        "database": {"url": f"sqlite:///{folder / 'dedupe.db'}"},
        "publish": {"output_dir": str(folder / "public")},
        "sources": [{"id": "bench", "kind": "directory", "path": ".", "link_template": "https://x/{stem}"}],
    }
    ctx = pipeline.Context.open(config_from_dict(raw, folder / "bench.toml"), lambda: datetime(2021, 1, 1, tzinfo=UTC))
    ctx.store.ensure_ready()
    return ctx


def quality() -> None:
    items = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp))
        arts = [
            Article(
                it.source,
                it.key,
                it.title,
                it.link,
                datetime.fromisoformat(it.date).replace(tzinfo=UTC),
                paragraphs_html(it.body.split("\n\n")),
                link_fallback=it.link_fallback,
            )
            for it in items
        ]
        for source in dict.fromkeys(a.source_id for a in arts):
            mine = [(a, ()) for a in arts if a.source_id == source]
            ctx.store.save_articles(source, mine, datetime(2021, 1, 1, tzinfo=UTC))
        pipeline.deduplicate(ctx)
        stories = ctx.store.story_map()
        predicted = {a.key: str(stories[a.guid]) for a in arts}
        ctx.close()
    precision, recall, false_merges, missed = evaluate(items, predicted)
    labels = len({it.label for it in items})
    print(f"labeled corpus: {len(items)} articles, {labels} true stories")
    print(f"  precision {precision:.4f} (goal 1.00)   recall {recall:.4f} (goal >= 0.97)")
    print(f"  pairs wrongly merged {false_merges}, pairs missed {missed}")
    print("  per class (pairs with an article of the class):")
    for cls, (p, r, fp, fn) in evaluate_by_class(items, predicted).items():
        print(f"    {cls:<9} precision {p:.4f}  recall {r:.4f}  wrongly merged {fp:>3}  missed {fn:>3}")


def speed(store_size: int, step: int) -> None:
    rng = random.Random(1)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    per_article: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(Path(tmp))
        lsh = dedupe.LshIndex()  # kept between steps, as the daemon keeps it
        stored = 0
        while stored <= store_size:
            batch = [article(rng, stored + i, start + timedelta(minutes=stored + i)) for i in range(step)]
            ctx.store.save_articles("bench", [(a, ()) for a in batch], start)
            began = time.perf_counter()
            report = pipeline.deduplicate(ctx, lsh=lsh)
            seconds = time.perf_counter() - began
            assert report.checked == step
            stored += step
            per_article[stored - step] = seconds / step
        ctx.close()
        # A restart: a new process rebuilds the in-memory LSH index from the stored signatures.
        restarted = context(Path(tmp))
        began = time.perf_counter()
        pipeline.deduplicate(restarted)
        rebuild = time.perf_counter() - began
        restarted.close()
    first = per_article[0]
    print(f"speed: dedupe step, {step:,} articles added at a time, SQLite")
    for size in sorted(per_article):
        if size in (0, 10_000, 50_000, 100_000) or size == store_size:
            cost = per_article[size]
            print(f"  store holding {size:>7,}: {cost * 1e3:.3f} ms/article  {cost / first:.2f}x the cost at 0")
    last = per_article[store_size]
    print(f"  adding {step:,} to {store_size:,}: {1 / last:,.0f} articles/s (goal >= 2,000/s)")
    print(f"  restart: LSH index rebuilt from {stored:,} stored signatures in {rebuild:.2f} s")


OWN = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"


def flood(repeat: int) -> None:
    """One story arriving 2,000 times (ten partners re-posting it 200 times each, every copy with a few
    characters of its own) beside 2,000 distinct articles: saving and deduplicating each, same store."""
    rng = random.Random(3)
    when = datetime(2020, 11, 3, tzinfo=UTC)
    story = article(rng, 0, when)
    distinct = [article(rng, n, when + timedelta(minutes=n)) for n in range(1, 2001)]
    versions = [
        Article(
            f"p{s}",
            f"c{n}",
            f"转发:{story.title}",
            f"https://p{s}.example/{n}.html",
            when + timedelta(minutes=n),
            story.body_html + f"<p>(来自{OWN[s]}{OWN[n % 20]}{OWN[n // 20]}站)</p>",
        )
        for s in range(10)
        for n in range(200)
    ]

    def run(articles: list[Article]) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = context(Path(tmp))
            began = time.perf_counter()
            for source in dict.fromkeys(a.source_id for a in articles):
                mine = [(a, ()) for a in articles if a.source_id == source]
                ctx.store.save_articles(source, mine, when)
            pipeline.deduplicate(ctx)
            seconds = time.perf_counter() - began
            stories = len(set(ctx.store.story_map().values()))
            ctx.close()
        return seconds, stories

    base, one = [], []
    for _ in range(repeat):
        seconds, stories = run(distinct)
        base.append(seconds)
        assert stories == len(distinct)
        seconds, stories = run(versions)
        one.append(seconds)
        assert stories == 1, stories
    b, f = statistics.median(base), statistics.median(one)
    print(f"flood: saving and deduplicating 2,000 articles, median of {repeat}")
    print(f"  2,000 distinct articles          {b:6.2f} s (1.00x)")
    print(f"  one story arriving 2,000 times   {f:6.2f} s ({f / b:.2f}x; goal <= 2x), one story")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=int, default=100_000)
    parser.add_argument("--add", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the flood case (median)")
    args = parser.parse_args()
    quality()
    flood(args.repeat)
    speed(args.store, args.add)


if __name__ == "__main__":
    main()
