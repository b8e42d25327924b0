"""Deduplication: each rule on both sides of its threshold, canonical choice, split, restart, and the
labeled corpus's precision and recall through the real store."""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from syndicate import dedupe, gather, pipeline
from syndicate.joining import Joining
from syndicate.parsing import Prepared
from syndicate.pipeline import Context
from syndicate.text import paragraphs_html
from syndicate.types import Article, Enclosure

from .dedupe_corpus import Labeled, corpus, evaluate, evaluate_by_class
from .helpers import SHANGHAI, atom, rss
from .storeviews import zone_articles

BASE = [
    "11月2日,一家集成电路先进封装测试企业与无锡高新区签订投资协议,项目计划总投资二十亿元,建设晶圆级封装生产线。",
    "项目达产后预计年产值三十亿元,将进一步完善高新区集成电路产业链上下游配套,带动一批配套企业集聚发展。",
    "高新区将成立专班,在规划审批、人才引进和配套设施等方面提供全程服务,推动项目年内开工、明年投产。",
    "近年来,高新区坚持把集成电路作为首位产业,先后引进设计、制造、封测等环节重点项目四十余个。",
    "企业负责人表示,选择落户高新区,看中的是完善的产业生态、高效的政务服务和优越的人才环境。",
]
T0 = datetime(2020, 11, 3, 9, 0, tzinfo=SHANGHAI)


def fp(
    paragraphs: list[str],
    title: str = "集成电路封测项目签约",
    link: str = "https://a.example/1",
    when: datetime = T0,
    source: str = "",
    boilerplate: frozenset[int] = frozenset(),
) -> dedupe.Fingerprint:
    """A fingerprint; its source is its link's host unless given."""
    source = source or link.split("/")[2]
    html = paragraphs_html(paragraphs)
    return dedupe.fingerprint(title, html, link, when, SHANGHAI, source=source, boilerplate=boilerplate)


def rule(a: dedupe.Fingerprint, b: dedupe.Fingerprint) -> str | None:
    found = dedupe.match(a, [dedupe.Candidate(1, b)])
    return found.rule if found else None


def test_link_rule_uses_normalized_links_of_two_sources() -> None:
    a = fp(BASE, link="https://WWW.Example.org:443/n/1.html?utm_source=wx#top", source="zone-feed")
    other = ["完全不同的正文内容,说的是另一件事情。" * 8]
    b = fp(other, link="https://www.example.org/n/1.html#top", source="city-feed")
    assert rule(a, b) == "link"
    # A fragment names another part of the page: another post.
    assert rule(a, fp(other, link="https://www.example.org/n/1.html#part2", source="city-feed")) is None
    # Within one source, different entries are never one story by link.
    assert rule(a, fp(other, link="https://www.example.org/n/1.html#top", source="zone-feed")) is None
    # An entry without a link of its own (it inherited the channel's) has no link to compare.
    assert rule(fp(BASE, link="", source="x"), fp(other, link="", source="y")) is None


def test_body_rule_folds_whitespace_width_and_bylines() -> None:
    a = fp(BASE)
    folded = [p.replace(",", ",").replace("。", "。 ") for p in BASE]
    b = fp(["(记者 王明)" + folded[0], *folded[1:], "责任编辑:张蕾"], link="https://b.example/9")
    assert rule(a, b) == "body"


def test_near_duplicate_above_and_below_the_threshold() -> None:
    a = fp(BASE)
    trimmed = fp(BASE[:-1], link="https://b.example/2")  # last paragraph trimmed
    reordered = fp([BASE[0], BASE[2], BASE[1], BASE[3], BASE[4]], link="https://b.example/3")
    assert rule(a, trimmed) == "near"
    assert rule(a, reordered) == "near"
    half = fp([*BASE[:2], "另起炉灶的内容,讲述的是完全不同的一件事情,和前文没有关系。" * 3], link="https://b.example/4")
    assert rule(a, half) is None
    jaccard, _ = dedupe.similarity(a, half)
    assert jaccard < dedupe.NEAR_JACCARD


def test_numbers_veto_series() -> None:
    q1 = (
        "2020年一季度,开发区实现地区生产总值120亿元,同比增长5.2%,规模以上工业增加值45亿元,同比增长6.1%。"
        "固定资产投资保持增长,新签约项目十二个,主导产业平稳运行。"
    )
    q2 = (
        q1.replace("一季度", "上半年")
        .replace("120", "250")
        .replace("5.2", "6.3")
        .replace("45", "98")
        .replace("6.1", "7.0")
    )
    a, b = fp([q1, BASE[4]]), fp([q2, BASE[4]], link="https://a.example/2")
    assert dedupe.similarity(a, b)[0] > 0.6  # similar wording...
    assert rule(a, b) is None  # ...but different figures: different stories


def test_short_texts_match_by_title_and_day_only() -> None:
    short = ["项目签约仪式今天举行。"]
    a = fp(short, title="高新区项目签约")
    same = fp(short, title="高新区 项目签约", link="https://b.example/1", when=T0 + timedelta(hours=3))
    other_day = fp(short, title="高新区项目签约", link="https://b.example/2", when=T0 + timedelta(days=1))
    other_title = fp(["项目签约仪式今天举行了。"], title="另一个标题", link="https://b.example/3")
    assert a.short
    assert rule(a, same) == "title"
    assert rule(a, other_day) is None
    assert rule(a, other_title) is None


def test_pinned_candidates_are_skipped() -> None:
    a = fp(BASE)
    assert dedupe.match(a, [dedupe.Candidate(1, fp(BASE, link="https://b.example/1"), pinned=True)]) is None


def test_canonical_priority_then_earliest_then_first() -> None:
    m = dedupe.Member
    early, late = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)
    assert dedupe.choose_canonical([m(1, 50, early), m(2, 100, late)]) == 2
    assert dedupe.choose_canonical([m(1, 50, late), m(2, 50, early)]) == 2
    assert dedupe.choose_canonical([m(3, 50, early), m(2, 50, early)]) == 2


def test_fingerprints_are_stable() -> None:
    """Stored buckets must mean the same thing in every process and release."""
    a = fp(BASE)
    assert len(a.buckets) == dedupe.BANDS
    # Pinned values: if hashing ever changes, stored buckets stop matching new ones, and this fails first.
    assert a.buckets[:3] == (2385972542040888094, 3295817983939596551, -4107500149869241336)
    assert a.sentences[:2] == (2944202862386053982, 3149407991191322660)
    assert a.keys == a.buckets + a.sentences
    assert a.body_hash.startswith("b37fccb188a78d86")


# -- through the store, on SQLite and PostgreSQL ------------------------------------------------------


def save(ctx: Context, source: str, key: str, paragraphs: list[str], when: datetime = T0, title: str = "标题") -> None:
    article = Article(source, key, title, f"https://{source}.example/{key}", when, paragraphs_html(paragraphs))
    ctx.store.save_articles(source, [(article, ("wuxi-hitech",))], when)


EXTRA_SOURCES = """
[[sources]]
id = "partner"
kind = "feed"
url = "partner.xml"
priority = 10
"""


def test_one_story_canonical_by_priority_and_only_it_published(make_context: Callable[..., Context]) -> None:
    ctx = make_context(EXTRA_SOURCES)
    save(ctx, "partner", "p1", BASE, when=T0 - timedelta(days=1))  # earlier, but lower priority
    save(ctx, "local", "l1", BASE[:-1], when=T0)
    report = pipeline.deduplicate(ctx)
    assert (report.checked, report.merged) == (2, 1)
    [story] = ctx.store.stories()
    by_source = {v.source_id: v for v in story.versions}
    assert by_source["local"].canonical
    assert not by_source["partner"].canonical
    assert by_source["local"].rule == "near"
    assert [a.article.key for a in zone_articles(ctx.store, "wuxi-hitech", 10)] == ["l1"]


def test_split_sticks_and_restart_keeps_the_index(
    make_context: Callable[..., Context], write_config: Callable[..., Path], db_url: str
) -> None:
    ctx = make_context(EXTRA_SOURCES)
    save(ctx, "local", "a", BASE)
    save(ctx, "partner", "b", BASE[:-1])
    pipeline.deduplicate(ctx)
    [story] = ctx.store.stories()
    b_id = next(v.id for v in story.versions if v.source_id == "partner")
    pipeline.split(ctx, str(b_id))
    assert ctx.store.stories() == []
    # The split article is edited and re-fetched: it stays apart.
    save(ctx, "partner", "b", [*BASE[:-1], "补充一句。"], when=T0 + timedelta(hours=1))
    pipeline.deduplicate(ctx)
    assert ctx.store.stories() == []
    assert {a.article.key for a in zone_articles(ctx.store, "wuxi-hitech", 10)} == {"a", "b"}

    # A new process (a new context on the same database) still finds "a" for a third copy.
    again = make_context(EXTRA_SOURCES)
    save(again, "partner", "c", BASE)
    assert pipeline.deduplicate(again).merged == 1
    [story] = again.store.stories()
    assert {v.source_id + "/" + str(v.canonical) for v in story.versions} == {"local/True", "partner/False"}


def test_labeled_corpus_precision_and_recall(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    items = corpus(stories=30)
    assert len(items) >= 250
    predicted = run_corpus(ctx, items)
    precision, recall, false_merges, missed = evaluate(items, predicted)
    assert precision == 1.0, (false_merges, missed)
    assert recall >= 0.97, (false_merges, missed)
    by_class = evaluate_by_class(items, predicted)
    assert set(by_class) >= {"excerpt", "edited", "notice", "anchors", "nolink", "footer", "event", "series"}
    for cls, (p, r, wrong, lost) in by_class.items():
        assert p == 1.0 and r >= 0.9, (cls, wrong, lost)


def run_corpus(ctx: Context, items: list[Labeled]) -> dict[str, str]:
    """Each site's articles saved as its source's, then one dedupe run."""
    articles = []
    for it in items:
        when = datetime.fromisoformat(it.date).replace(tzinfo=SHANGHAI)
        body = paragraphs_html(it.body.split("\n\n"))
        articles.append(Article(it.source, it.key, it.title, it.link, when, body, link_fallback=it.link_fallback))
    for source in dict.fromkeys(a.source_id for a in articles):
        mine = [(a, ()) for a in articles if a.source_id == source]
        ctx.store.save_articles(source, mine, datetime(2021, 2, 1, tzinfo=UTC))
    pipeline.deduplicate(ctx)
    stories = ctx.store.story_map()
    return {a.key: str(stories[a.guid]) for a in articles}


def test_edited_article_keeps_its_story(make_context: Callable[..., Context]) -> None:
    ctx = make_context(EXTRA_SOURCES)
    save(ctx, "local", "a", BASE)
    save(ctx, "partner", "b", BASE)
    pipeline.deduplicate(ctx)
    save(ctx, "local", "a", [*BASE, "更新:项目已开工。"], when=T0 + timedelta(days=1))
    assert pipeline.deduplicate(ctx).checked == 1
    [story] = ctx.store.stories()
    assert len(story.versions) == 2


def test_lsh_index_bulk_load_and_additions() -> None:
    index = dedupe.LshIndex()
    import numpy as np

    packed = [np.array(b, dtype="<i8").tobytes() for b in ([1, 2, 3], [3, 4, 5], [-7, 8, 9])]
    index.load([10, 11, 12], packed)
    index.add(13, [5, 100])
    assert index.query([3]) == {10: 1, 11: 1}
    assert index.query([5]) == {11: 1, 13: 1}
    assert index.query([-7, 100, 42]) == {12: 1, 13: 1}
    assert index.query([3, 4, 5]) == {10: 1, 11: 3, 13: 1}  # how many keys each shares
    assert index.query([42]) == {}
    assert index.high_water == 13
    index.load([14], [np.array([2], dtype="<i8").tobytes()])  # a later catch-up merges into the base
    assert index.query([2]) == {10: 1, 14: 1}


def test_adding_many_at_once_answers_as_adding_one_by_one() -> None:
    """A first fetch's keys are merged into the sorted arrays in one go; a few go to the dictionary.
    Either way a lookup finds the same articles (no key crowded here: that is the next test)."""
    import random

    rng = random.Random(7)
    articles = [(i, [rng.randrange(300) for _ in range(12)]) for i in range(1, 400)]
    one_by_one, at_once, small = (dedupe.LshIndex(per_key=1000) for _ in range(3))
    for article_id, keys in articles:
        one_by_one.add(article_id, keys)
    at_once.add_many(articles)  # 4,788 keys into empty arrays: merged
    small.add_many(articles[:50])  # 600 keys: the dictionary
    small.add_many(articles[50:])
    for key in range(300):
        assert at_once.query([key]) == one_by_one.query([key]), key
        assert small.query([key]) == one_by_one.query([key]), key
    assert at_once.high_water == small.high_water == 399


def test_a_key_many_articles_share_answers_with_its_oldest_and_newest() -> None:
    """A story arriving 2,000 times: a lookup returns a bounded set, its first versions among them."""
    import numpy as np

    index = dedupe.LshIndex(per_key=8)
    index.load(list(range(1, 1001)), [np.array([7, 1000 + i], dtype="<i8").tobytes() for i in range(1, 1001)])
    for i in range(1001, 2001):
        index.add(i, [7])
    assert set(index.query([7])) == {1, 2, 3, 4, 997, 998, 999, 1000, 1001, 1002, 1003, 1004, 1997, 1998, 1999, 2000}
    assert index.query([1500]) == {500: 1}  # a key of one article is unaffected


@settings(max_examples=300, deadline=None)
@given(
    loaded=st.lists(st.lists(st.integers(-4, 12), max_size=6), max_size=40),
    added=st.lists(st.lists(st.integers(-4, 12), max_size=6), max_size=20),
    queries=st.lists(st.lists(st.integers(-6, 14), max_size=8), min_size=1, max_size=5),
    per_key=st.integers(1, 6),
)
def test_a_lookup_counts_each_keys_oldest_and_newest_ids(
    loaded: list[list[int]], added: list[list[int]], queries: list[list[int]], per_key: int
) -> None:
    """Whatever the keys (repeated, crowded past ``per_key``, absent, in the arrays or the dictionary), a
    lookup counts, for each key asked, the ids holding it: its first and last ``per_key // 2`` when more
    hold it, in the order they came."""
    index = dedupe.LshIndex(per_key=per_key)
    index.load(list(range(1, len(loaded) + 1)), [np.array(k, dtype="<i8").tobytes() for k in loaded])
    for n, keys in enumerate(added, start=len(loaded) + 1):
        index.add(n, keys)
    half = max(1, per_key // 2)

    def crowd(ids: list[int]) -> list[int]:
        return ids if len(ids) <= 2 * half else ids[:half] + ids[-half:]

    for query in queries:
        expected: Counter[int] = Counter()
        for key in query:
            expected.update(crowd([n for n, keys in enumerate(added, len(loaded) + 1) for k in keys if k == key]))
            expected.update(crowd([n for n, keys in enumerate(loaded, 1) for k in keys if k == key]))
        assert index.query(query) == expected


def test_joining_as_articles_are_stored(make_context: Callable[..., Context]) -> None:
    """A fetch joins each batch of stored articles once the batch is complete (the parsing workers read
    on meanwhile) and whatever is left at the end: the stories are those of joining everything at the
    end, and an article edited after its batch was joined (an older id) is joined again at the end."""
    ctx = make_context()
    joining = Joining(ctx, batch=2)
    save(ctx, "origin", "a", BASE)
    joining.stored(1)
    assert ctx.store.dedupe_pending() and joining.report.checked == 0  # one waits for its batch
    save(ctx, "copy", "b", BASE[:4], title="高新区集成电路封测项目签约")
    joining.stored(1)
    assert not ctx.store.dedupe_pending() and joining.report.checked == 2
    [story] = ctx.store.stories()
    assert {v.source_id for v in story.versions} == {"origin", "copy"}
    other = ["一季度开发区实际使用外资三点二亿美元，同比增长百分之十二，新签约外资项目十五个。" * 2]
    save(ctx, "third", "c", other)
    save(ctx, "origin", "a", [*BASE, "签约仪式上，双方还就人才公寓建设交换了意见。"])  # edited: pending again
    joining.stored(1)  # below the batch: nothing joined yet
    assert joining.report.checked == 2
    joining.join()
    assert not ctx.store.dedupe_pending() and joining.report.checked == 4
    [story] = ctx.store.stories()
    assert {v.source_id for v in story.versions} == {"origin", "copy"}  # the edit kept its story
    assert len(ctx.store.stories(ctx.store.resolve_article("https://third.example/c"))[0].versions) == 1


def test_near_the_end_of_a_fetch_what_waits_is_joined_before_the_last_reads_are_in(
    make_context: Callable[..., Context],
) -> None:
    """Told how many articles the reads still running should bring, joining takes what waits once that is
    as many: the last documents are parsed meanwhile, instead of a whole batch being joined after them.
    Not for fewer than a twentieth of a batch, nor when nothing more is expected."""
    ctx = make_context()
    joining = Joining(ctx, batch=40)
    save(ctx, "origin", "a", BASE)
    joining.stored(1, coming=1)  # as many as are coming, but under a twentieth of the batch (2)
    assert joining.report.checked == 0
    save(ctx, "copy", "b", BASE[:4], title="高新区集成电路封测项目签约")
    joining.stored(1, coming=30)  # far more to come: they wait for their batch
    assert joining.report.checked == 0
    save(ctx, "third", "c", ["一季度开发区实际使用外资三点二亿美元，同比增长百分之十二。" * 3])
    joining.stored(1, coming=3)  # three wait and three are coming: joined now
    assert joining.report.checked == 3 and not ctx.store.dedupe_pending()
    save(ctx, "fourth", "d", ["园区举办人才招聘会，两百余家企业提供岗位三千余个。" * 3])
    joining.stored(1, coming=None)  # the last reads are in: it waits for the end of the fetch
    assert joining.report.checked == 3
    joining.join()
    assert joining.report.checked == 4
    [story] = [s for s in ctx.store.stories() if len(s.versions) == 2]
    assert {v.source_id for v in story.versions} == {"origin", "copy"}


def test_a_fetch_tells_joining_what_it_stored_and_what_is_still_coming(
    make_context: Callable[..., Context], httpserver: HTTPServer
) -> None:
    """After each transaction a fetch says how many articles it stored and how many the reads still
    running should bring (None once every read is in), so that joining can start on the rest early. The
    partners are shaped as real ones: a GBK CMS feed (fragment links, an editor's footer, a lazy image),
    an Atom feed, a JSON Feed, and a slow portal answering with its HTML home page instead of a feed."""
    import json
    import time

    from werkzeug import Response

    footer = "<p>责任编辑：王明</p><p>（来源：园区发布）</p>"
    cms = [
        {
            "title": f"园区项目签约{i}",
            "link": f"http://cms.example/news/{i}.html#p2",
            "guid": f"c{i}",
            "date": "Mon, 19 Oct 2020 09:30:00 +0800",
            "body": f"<p>第{i}个项目签约，投资{i + 2}亿元。</p>" + '<img data-src="/i/1.jpg" src="g.gif">' + footer,
        }
        for i in range(3)
    ]
    atom_items = [
        {"title": f"营商环境座谈会{i}", "link": f"http://blog.example/{i}", "guid": f"a{i}", "body": f"<p>{i}。</p>"}
        for i in range(2)
    ]
    json_feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "开发区动态",
        "items": [
            {"id": f"j{i}", "url": f"http://json.example/{i}", "title": f"产值通报{i}", "content_html": f"<p>{i}</p>"}
            for i in range(4)
        ],
    }
    httpserver.expect_request("/cms.xml").respond_with_data(rss(cms, encoding="gbk"), content_type="text/xml")
    httpserver.expect_request("/atom.xml").respond_with_data(atom(atom_items), content_type="application/atom+xml")
    httpserver.expect_request("/feed.json").respond_with_data(
        json.dumps(json_feed, ensure_ascii=False), content_type="application/feed+json"
    )

    def slow_portal(_request: object) -> Response:  # answers last, once the feeds are stored
        time.sleep(2)
        html = "<!DOCTYPE html><html><head><title>首页</title></head><body><p>欢迎访问</p></body></html>"
        return Response(html, content_type="text/html; charset=utf-8")

    httpserver.expect_request("/portal.xml").respond_with_handler(slow_portal)
    paths = {"cms": "/cms.xml", "blog": "/atom.xml", "json": "/feed.json", "portal": "/portal.xml"}
    sources = "".join(
        f'[[sources]]\nid = "{name}"\nkind = "feed"\nurl = "{httpserver.url_for(path)}"\n'
        for name, path in paths.items()
    )
    ctx = make_context(sources)
    told: list[tuple[int, int | None]] = []
    reports = gather.fetch(ctx, stored=lambda count, coming: told.append((count, coming)))
    new = {r.source_id: r.new for r in reports if r.source_id in paths}
    assert new == {"cms": 3, "blog": 2, "json": 4, "portal": 0}
    assert next(r for r in reports if r.source_id == "portal").failed  # an HTML page is no feed
    assert sum(count for count, _ in told) == 9
    # Every feed was stored while the portal was still being read: something was always coming. (The
    # portal brings nothing: what waits then is joined when the fetch ends.)
    assert told and all(coming is not None and coming > 0 for _, coming in told)


def test_a_fetch_with_nothing_new_does_not_load_the_stored_signatures(make_context: Callable[..., Context]) -> None:
    """Every stored article's keys are read into the index only when something is to be joined: a warm
    fetch where every partner answered 304 spent a fifth of its time loading them for nothing."""
    ctx = make_context()
    save(ctx, "origin", "a", BASE)
    pipeline.deduplicate(ctx)
    index = dedupe.LshIndex()
    Joining(ctx, lsh=index).join()
    assert index.high_water == 0  # nothing pending: nothing loaded
    save(ctx, "copy", "b", BASE[:4])
    joining = Joining(ctx, lsh=index)
    joining.join()
    assert index.high_water > 0 and joining.report.merged == 1  # loaded, and the copy found its story


def test_a_backdated_copy_never_takes_a_story_over(make_context: Callable[..., Context]) -> None:
    """Among sources of equal priority the version seen first stays canonical: a partner copying a release
    with a pubDate of 2000 does not replace the original (and its link) in feeds and digests."""
    ctx = make_context()  # neither source is configured: both have priority 0
    save(ctx, "origin", "a", BASE, when=T0)
    pipeline.deduplicate(ctx)
    save(ctx, "copycat", "c", BASE, when=datetime(2000, 1, 1, tzinfo=SHANGHAI))
    pipeline.deduplicate(ctx)
    [story] = ctx.store.stories()
    assert len(story.versions) == 2
    assert [a.article.key for a in zone_articles(ctx.store, "wuxi-hitech", 10)] == ["a"]
    # Nor does an edit of the original's date change which version is published.
    save(ctx, "origin", "a", BASE, when=T0 - timedelta(days=2))
    pipeline.deduplicate(ctx)
    assert [a.article.key for a in zone_articles(ctx.store, "wuxi-hitech", 10)] == ["a"]


def test_what_a_parsing_worker_sends_back_is_restored_whole() -> None:
    """Articles and fingerprints cross from the parsing workers pickled field by field (restored without
    their checks running again): every field comes back, a cleaned one as it was cleaned."""
    article = Article(
        "partner",
        "n1#p2",
        "园区签约\x07",  # a control character: cleaned when the article was made, not again
        "http://partner.example/news/1.html#p2",
        datetime(2020, 10, 19, 9, 30, tzinfo=SHANGHAI),
        "<p>园区与企业签约，总投资二十亿元。</p><p>责任编辑：王明</p>",
        tags=("招商", "签约"),
        enclosures=(Enclosure("http://partner.example/f/1.pdf", "application/pdf", 0, "公告"),),
        link_fallback=True,
    )
    back = pickle.loads(pickle.dumps(article))
    assert back == article and back.title == "园区签约" and back.enclosures[0].title == "公告"
    made = dedupe.article_fingerprint(article, SHANGHAI)
    again = pickle.loads(pickle.dumps(Prepared(article.content_hash(), made))).fingerprint
    assert np.array_equal(again.shingles, made.shingles)
    assert replace(again, shingles=made.shingles) == made and again.parts == made.parts
    assert all(type(s) is dedupe.Sentence for s in again.parts) and again.parts[0].norm == made.parts[0].norm
    assert dedupe.with_boilerplate(again, frozenset({again.parts[-1].key})) is None  # its sentences work


def test_an_articles_content_hash_travels_with_it_and_never_outlives_a_change() -> None:
    """The parsing worker hashes each article; the hash comes back with it, so storing does not hash the
    body again. A changed copy is hashed anew, and the kept hash takes no part in equality."""
    fields = (
        "partner",
        "n7",
        "高新区项目签约",
        "http://partner.example/news/7.html",
        datetime(2020, 10, 19, 9, 30, tzinfo=SHANGHAI),
        '<p>总投资二十亿元。</p><p><img src="http://partner.example/i/7.jpg" alt=""></p>',
    )
    article = Article(*fields, tags=("招商",))
    digest = article.content_hash()
    back = pickle.loads(pickle.dumps(article))
    assert back._digest == digest  # carried, not computed again
    assert back.content_hash() == Article(*fields, tags=("招商",)).content_hash() == digest
    edited = replace(back, body_html="<p>总投资三十亿元。</p>")
    assert edited._digest is None and edited.content_hash() not in (None, digest)
    assert edited.content_hash() == Article(*fields[:5], "<p>总投资三十亿元。</p>", tags=("招商",)).content_hash()
    assert back == Article(*fields, tags=("招商",))  # a kept hash is no difference


def test_fingerprints_made_while_parsing_are_those_joining_would_make(
    make_context: Callable[..., Context], httpserver: HTTPServer
) -> None:
    """A partner's GBK feed as CMSs write them (a fragment link, an entry without a link, a lazy image, a
    video, an enclosure, an editor's footer, a date without zone): each article is fingerprinted by the
    parsing worker, and that fingerprint is the one joining would make of the stored article."""
    footer = "<p>责任编辑：王明</p><p>（来源：园区发布）</p>"
    items = [
        {
            "title": "园区集成电路项目签约",
            "link": "http://partner.example/news/1.html#p2",
            "guid": "n1",
            "date": "Mon, 19 Oct 2020 09:30:00 +0800",
            "body": "<p>园区与企业签约，总投资二十亿元。</p>" + '<img data-src="/i/1.jpg" src="grey.gif">' + footer,
        },
        {
            "title": "营商环境座谈会召开",
            "guid": "n2",
            "date": "Tue, 20 Oct 2020 10:00:00",
            "body": "<p>座谈会听取企业意见建议二十余条。</p>"
            + '<iframe src="https://player.example/v/9"></iframe>'
            + footer,
        },
        {
            "title": "季度产值通报",
            "link": "http://partner.example/news/3.html",
            "guid": "n3",
            "body": "<p>第三季度产值同比增长百分之八。</p>",
        },
    ]
    document = rss(items, encoding="gbk").replace(
        b"</item><item><title>",
        b'<enclosure url="http://partner.example/f/1.pdf" length="0" type="application/pdf"/></item><item><title>',
        1,
    )
    httpserver.expect_request("/feed.xml").respond_with_data(document, content_type="application/rss+xml")
    ctx = make_context(f'[[sources]]\nid = "partner"\nkind = "feed"\nurl = "{httpserver.url_for("/feed.xml")}"\n')
    prepared: dict[tuple[str, str], Prepared] = {}
    [report] = gather.fetch(ctx, ["partner"], prepared=prepared)
    assert report.new == 3 and len(prepared) == 3
    tz = ctx.config.site.tz
    with ctx.store.dedupe_session({}, lambda members: members[0][0], ctx.clock()) as session:
        pending = session.pending(10)
    assert len(pending) == 3 and any(p.article.link_fallback for p in pending)
    for p in pending:
        made = prepared[(p.article.source_id, p.article.key)]
        assert made.content_hash == p.content_hash  # the version stored is the one fingerprinted
        mine = dedupe.article_fingerprint(p.article, tz)
        assert np.array_equal(made.fingerprint.shingles, mine.shingles)
        assert replace(made.fingerprint, shingles=mine.shingles) == mine
        assert made.article == p.article  # the parsed article is the one stored, field for field
    # Joining what the fetch has just stored does not read back the articles it holds: those it holds of
    # the version stored are used as they are, the others (here one it does not hold) are read.
    held = {(k[0], k[1], m.content_hash): m.article for k, m in prepared.items()}
    del held[next(iter(held))]
    with ctx.store.dedupe_session({}, lambda members: members[0][0], ctx.clock()) as session:
        again = session.pending(10, held=lambda source, key, content_hash: held.get((source, key, content_hash)))
    assert [p.article for p in again] == [p.article for p in pending]
    assert [(p.id, p.story_id, p.pinned, p.content_hash) for p in again] == [
        (p.id, p.story_id, p.pinned, p.content_hash) for p in pending
    ]
    assert sum(any(p.article is a for a in held.values()) for p in again) == 2
    # Learning a source's boilerplate reads back only the newest bodies the caller does not hold; the
    # limit counts the held ones too, as when all were read.
    ids = [p.id for p in pending]
    with ctx.store.dedupe_session({}, lambda members: members[0][0], ctx.clock()) as session:
        newest_first = session.recent_bodies("partner", 10)
        assert newest_first == [p.article.body_html for p in reversed(pending)]
        assert session.recent_bodies("partner", 10, set(ids[1:])) == [pending[0].article.body_html]
        assert session.recent_bodies("partner", 2, {ids[2]}) == [pending[1].article.body_html]
        assert session.recent_bodies("partner", 10, set(ids)) == []
