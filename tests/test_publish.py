"""End to end on both databases: article files → fetch → publish → feeds re-read field by field."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from syndicate import pipeline
from syndicate.pipeline import Context

from .helpers import SHANGHAI, page
from .storeviews import source_articles, zone_articles

ATOM = "{http://www.w3.org/2005/Atom}"


def articles_dir(ctx: Context) -> Path:
    assert ctx.config.path is not None
    return ctx.config.path.parent / "articles"


def feed(ctx: Context, slug: str, name: str) -> feedparser.FeedParserDict:
    data = (ctx.config.publish.output_dir / "zones" / slug / name).read_bytes()
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_seed_page_appears_in_both_feeds_with_exact_fields(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    body = ("区管正职干部是当前推动锡山发展的“关键少数”。", "周文栋指出,当前锡山发展正处于关键阶段。")
    (articles_dir(ctx) / "20201019-a.txt").write_text(
        page(title="周文栋为全区正科职干部、青干班学员上党课", date="2020-10-19", body=body), encoding="utf-8"
    )
    [report] = pipeline.fetch(ctx)
    assert (report.new, report.updated, report.unchanged, report.errors) == (1, 0, 0, ())
    pipeline.publish(ctx)

    for name in ("rss.xml", "atom.xml"):
        parsed = feed(ctx, "xishan", name)
        assert parsed.feed.title == "锡山经济技术开发区 · 测试平台"
        assert parsed.feed.language == "zh-CN"
        [entry] = parsed.entries
        assert entry.title == "周文栋为全区正科职干部、青干班学员上党课"
        assert entry.link == "https://www.example.org/news/20201019-a.html"
        assert entry.author == "锡山区宣传部"
        assert datetime(*entry.published_parsed[:6]) == datetime(2020, 10, 18, 16, 0)  # midnight +0800 in UTC
        html = entry.content[0].value
        for paragraph in body:
            assert f"<p>{paragraph}</p>" in html
        assert {t.term for t in entry.tags} >= {"锡山经济技术开发区", "无锡", "文字新闻"}
        assert entry.id.startswith("urn:uuid:")
    # The other zones' feeds exist and are empty but valid.
    assert feed(ctx, "sip", "rss.xml").entries == []
    assert feed(ctx, "wuxi-hitech", "atom.xml").entries == []


def test_rss_specifics(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles_dir(ctx) / "a.txt").write_text(page(date="2020-10-19 08:30"), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    raw = (ctx.config.publish.output_dir / "zones/xishan/rss.xml").read_bytes()
    # Chinese is written as UTF-8, never as character references.
    assert "锡山".encode() in raw
    assert b"&#" not in raw
    assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(raw)
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("link") == "http://feeds.example.org/zones/xishan/"
    self_link = channel.find(f"{ATOM}link[@rel='self']")
    assert self_link is not None
    assert self_link.get("href") == "http://feeds.example.org/zones/xishan/rss.xml"
    assert self_link.get("type") == "application/rss+xml"
    item = channel.find("item")
    assert item is not None
    assert item.findtext("pubDate") == "Mon, 19 Oct 2020 08:30:00 +0800"
    guid = item.find("guid")
    assert guid is not None
    assert guid.get("isPermaLink") == "false"
    assert item.find("author") is None  # RSS author must be an e-mail; the office goes to dc:creator
    assert item.findtext("{http://purl.org/dc/elements/1.1/}creator") == "锡山区宣传部"


def test_atom_self_link_and_id(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    root = etree.fromstring((ctx.config.publish.output_dir / "zones/sip/atom.xml").read_bytes())
    assert root.findtext(f"{ATOM}id") == "http://feeds.example.org/zones/sip/atom.xml"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh-CN"
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {
        "self": "http://feeds.example.org/zones/sip/atom.xml",
        "alternate": "http://feeds.example.org/zones/sip/",
    }


def test_second_fetch_adds_nothing_and_guids_survive_edits(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    folder = articles_dir(ctx)
    (folder / "a.txt").write_text(page(title="原标题"), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    guid_before = feed(ctx, "xishan", "rss.xml").entries[0].id

    [again] = pipeline.fetch(ctx)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)

    (folder / "a.txt").write_text(page(title="改过的标题", body=("新的正文。",)), encoding="utf-8")
    [edited] = pipeline.fetch(ctx)
    assert (edited.new, edited.updated) == (0, 1)
    pipeline.publish(ctx)
    [entry] = feed(ctx, "xishan", "rss.xml").entries
    assert entry.id == guid_before
    assert entry.title == "改过的标题"
    assert ctx.store.count_articles() == 1


def test_newest_first_at_most_items_per_feed(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    for day in (1, 5, 3, 9, 7):
        text = page(title=f"第{day}日", date=f"2020-10-0{day}", body=(f"第{day}日的正文。",))
        (articles_dir(ctx) / f"d{day}.txt").write_text(text, encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    titles = [e.title for e in feed(ctx, "xishan", "atom.xml").entries]
    assert titles == ["第9日", "第7日", "第5日"]  # items_per_feed = 3 in the test config


def test_alias_and_unknown_zone(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles_dir(ctx) / "alias.txt").write_text(page(title="签约仪式举行", zone="无锡高新区"), encoding="utf-8")
    (articles_dir(ctx) / "unknown.txt").write_text(page(title="座谈会召开", zone="火星开发区"), encoding="utf-8")
    [report] = pipeline.fetch(ctx)
    assert report.new == 2
    assert any("火星开发区" in w for w in report.warnings)
    pipeline.publish(ctx)
    assert len(feed(ctx, "wuxi-hitech", "rss.xml").entries) == 1
    assert feed(ctx, "xishan", "rss.xml").entries == []


def test_republish_keeps_bytes_and_leaves_no_temp_files(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles_dir(ctx) / "a.txt").write_text(page(), encoding="utf-8")
    pipeline.fetch(ctx)
    first = pipeline.publish(ctx)
    # (3 zones + 2 cities + 1 category + all) x RSS, Atom, JSON, page; then index.html, feeds.opml, feed.xsl
    assert len(first.written) == 28 + 3
    path = ctx.config.publish.output_dir / "zones/xishan/rss.xml"
    before = path.read_bytes()
    second = pipeline.publish(ctx)
    assert second.written == []
    assert second.skipped == 7
    assert second.looked_at == 0  # nothing changed since the last publish: no feed is even read again
    assert second.unchanged == []  # nor the discovery documents
    full = pipeline.publish(ctx, full=True)
    assert full.written == []  # rebuilt from scratch, to the very same bytes
    assert len(full.unchanged) == 31
    assert path.read_bytes() == before
    leftovers = [p for p in ctx.config.publish.output_dir.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_hostile_body_is_sanitized_and_links_made_absolute(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles_dir(ctx) / "x.md").write_text(
        '+++\ntitle = "标题 <b>&</b>"\npublished = 2020-10-01\nzone = "苏州工业园区"\n+++\n'
        '<p onclick="evil()">见<a href="/doc/1.html">文件</a><img src="img/a.png">'
        '<a href="javascript:alert(1)">坏</a></p>\n',
        encoding="utf-8",
    )
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    [entry] = feed(ctx, "sip", "rss.xml").entries
    assert entry.title == "标题 <b>&</b>"  # a title is text: the markup is shown, not obeyed
    html = entry.content[0].value
    assert 'href="https://www.example.org/doc/1.html"' in html
    assert 'src="https://www.example.org/news/img/a.png"' in html
    assert "onclick" not in html
    assert "javascript" not in html


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_empty_zone_is_a_valid_empty_feed(make_context: Callable[..., Context], name: str) -> None:
    ctx = make_context()
    pipeline.publish(ctx)
    parsed = feed(ctx, "sip", name)
    assert parsed.entries == []
    assert parsed.feed.title.startswith("苏州工业园区")


def test_dates_use_site_zone(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles_dir(ctx) / "a.txt").write_text(page(date="2020-10-19 23:30"), encoding="utf-8")
    pipeline.fetch(ctx)
    stored = zone_articles(ctx.store, "xishan", 1)[0]
    assert stored.article.published == datetime(2020, 10, 19, 23, 30, tzinfo=SHANGHAI)


def test_city_category_and_all_feeds(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    folder = articles_dir(ctx)
    (folder / "a.txt").write_text(
        page(title="甲", zone="锡山经开区", category="文字新闻", body=("甲文。",)), encoding="utf-8"
    )
    (folder / "b.txt").write_text(
        page(title="乙", zone="无锡高新区", category="招商动态", body=("乙文。",)), encoding="utf-8"
    )
    (folder / "c.txt").write_text(
        page(title="丙", zone="苏州工业园区", city="苏州", category="招商动态", body=("丙文。",)), encoding="utf-8"
    )
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir

    def titles(path: str) -> set[str]:
        parsed = feedparser.parse((out / path).read_bytes())
        assert not parsed.bozo
        return {e.title for e in parsed.entries}

    assert titles("cities/wuxi/rss.xml") == {"甲", "乙"}
    assert titles("cities/suzhou/atom.xml") == {"丙"}
    assert titles("categories/zhaoshangdongtai/rss.xml") == {"乙", "丙"}
    assert titles("categories/wenzixinwen/atom.xml") == {"甲"}
    assert titles("all/rss.xml") == {"甲", "乙", "丙"}
    root = etree.fromstring((out / "cities/wuxi/atom.xml").read_bytes())
    assert root.findtext(f"{ATOM}id") == "http://feeds.example.org/cities/wuxi/atom.xml"


def test_reposts_are_published_once(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    body = tuple(
        f"第{i}段:开发区今天举行重大项目集中签约活动,共签约项目二十个,总投资超过一百亿元,涵盖多个产业。"
        for i in range(4)
    )
    folder = articles_dir(ctx)
    (folder / "a.txt").write_text(page(title="重大项目集中签约", body=body), encoding="utf-8")
    (folder / "b.txt").write_text(page(title="锡山经开区重大项目签约(转)", body=body[:3]), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    entries = feed(ctx, "xishan", "rss.xml").entries
    assert [e.title for e in entries] == ["重大项目集中签约"]


def test_the_feed_lists_kept_between_publishes_match_the_store(
    make_context: Callable[..., Context], clock: object
) -> None:
    """A process that publishes again and again keeps each feed's ids and applies the changes since; after
    every kind of change they must be what the store lists."""
    from datetime import timedelta

    from .test_digest import body

    ctx = make_context()
    folder = articles_dir(ctx)
    other = make_context()  # another process on the same database

    def add(stem: str, zone: str, text_seed: str | None = None, category: str = "文字新闻") -> None:
        city = "苏州" if zone == "苏州工业园区" else "无锡"
        text = page(title=f"标题{stem}", zone=zone, city=city, category=category, body=body(text_seed or stem))
        (folder / f"{stem}.txt").write_text(text, encoding="utf-8")

    rebuilt = ctx.config.publish.output_dir.parent / "rebuilt"

    kept = pipeline.Kept()  # what a daemon keeps between publishes

    def step() -> None:
        clock.now += timedelta(minutes=1)  # type: ignore[attr-defined]
        pipeline.fetch(ctx, kept=kept)
        pipeline.publish(ctx, kept=kept)
        assert kept.publisher.feed_ids, "nothing was kept"
        for selection in pipeline.feed_selections(ctx):
            listed = kept.publisher.feed_ids.get(selection.spec.path)
            if listed is not None:
                assert listed == ctx.store.feed_ids(selection.zones, selection.category), selection.spec.path
        # Every file is what a rebuild from scratch (a new process, publish --all) writes.
        mark = ctx.store.setting("publish.watermark")
        config = ctx.config.model_copy(
            update={"publish": ctx.config.publish.model_copy(update={"output_dir": rebuilt})}
        )
        with Context.open(config, ctx.clock) as fresh:
            rebuild = pipeline.Kept()
            pipeline.publish(fresh, full=True, kept=rebuild)
            # A full publish lists every feed in one pass over the memberships: the same lists as the store's.
            for selection in pipeline.feed_selections(fresh):
                listed = rebuild.publisher.feed_ids[selection.spec.path]
                assert listed == fresh.store.feed_ids(selection.zones, selection.category), selection.spec.path
        assert mark is not None
        ctx.store.set_setting("publish.watermark", mark)  # as if the rebuild had not happened
        out = ctx.config.publish.output_dir
        files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(rebuilt) for p in rebuilt.rglob("*") if p.is_file())
        for f in files:
            assert (out / f).read_bytes() == (rebuilt / f).read_bytes(), f

    for n in range(6):
        add(f"a{n}", "锡山经济技术开发区")
    step()
    step()  # nothing changed
    add("b0", "苏州工业园区")
    add("b1", "无锡高新技术产业开发区", category="图片新闻")
    step()
    add("dup", "苏州工业园区", text_seed="a2")  # a re-post: joins a2's story, not canonical
    step()
    add("a3", "苏州工业园区", text_seed="a3")  # moved to another zone and city
    step()
    pipeline.split(ctx, str(ctx.store.resolve_article("urn:uuid:x") or source_articles(ctx.store, "local")[-1].id))
    step()
    pipeline.publish(other)  # another process publishes: this one must not trust its lists
    add("c0", "锡山经济技术开发区")
    step()


def test_city_and_category_slugs_are_kept_so_feed_urls_never_move(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    """A slug is made once per name and kept in the database: a newer pinyin dictionary reading a name
    otherwise cannot move a published feed (here the kept slug stands for an older reading)."""
    ctx = make_context()
    pipeline.publish(ctx, full=True)
    kept = json.loads(ctx.store.setting("pinyin.slugs") or "{}")
    assert kept["无锡"] == "wuxi" and kept["苏州"] == "suzhou"
    ctx.store.set_setting("pinyin.slugs", json.dumps({**kept, "无锡": "wuxi-kept"}, ensure_ascii=False))
    again = Context.open(ctx.config, ctx.clock)
    try:
        paths = {s.spec.path for s in pipeline.feed_selections(again)}
    finally:
        again.close()
    assert "cities/wuxi-kept" in paths and "cities/wuxi" not in paths
