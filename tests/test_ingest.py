"""Partner feeds over real HTTP on 127.0.0.1 (pytest-httpserver): conditional GET, redirects, limits,
failures isolated per source, backoff, encodings, identity, sanitizing."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syndicate import pipeline
from syndicate.pipeline import Context
from syndicate.types import FetchReport

from .helpers import SHANGHAI, FixedClock, atom, rss
from .storeviews import source_articles, zone_articles

ITEMS = [
    {
        "title": "锡山经开区签约智能制造项目",
        "link": "http://partner.example/news/1.html",
        "guid": "tag:partner.example,2020:news-1",
        "date": "Mon, 19 Oct 2020 08:30:00 +0800",
        "body": "<p>项目总投资十亿元。</p>",
        "category": "锡山经开区",
        "author": "锡山区宣传部",
    },
    {
        "title": "苏州工业园区举办论坛",
        "link": "http://partner.example/news/2.html",
        "guid": "tag:partner.example,2020:news-2",
        "date": "Tue, 20 Oct 2020 09:00:00 +0800",
        "body": "<p>百余家企业参会。</p>",
        "category": "苏州工业园区",
    },
]


def feed_source(source_id: str, url: str, **extra: object) -> str:
    lines = [f'[[sources]]\nid = "{source_id}"\nkind = "feed"\nurl = "{url}"']
    for key, value in extra.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def one(ctx: Context, source_id: str) -> FetchReport:
    [report] = pipeline.fetch(ctx, [source_id])
    return report


def test_etag_round_trip_304_parses_nothing(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_ordered_request("/rss.xml").respond_with_data(
        rss(ITEMS), content_type="application/rss+xml", headers={"ETag": '"v1"'}
    )
    httpserver.expect_ordered_request("/rss.xml", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    ctx = ctx_for(feed_source("p", httpserver.url_for("/rss.xml")))
    first = one(ctx, "p")
    assert (first.new, first.status) == (2, "ok")
    second = one(ctx, "p")
    # 304: nothing parsed, so nothing was even compared as unchanged.
    assert (second.status, second.new, second.updated, second.unchanged) == ("not_modified", 0, 0, 0)
    httpserver.check_assertions()
    state = ctx.store.source_states()["p"]
    assert (state.etag, state.http_status, state.consecutive_errors) == ('"v1"', 304, 0)


def test_last_modified_round_trip(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    stamp = "Wed, 21 Oct 2020 07:28:00 GMT"
    httpserver.expect_ordered_request("/f").respond_with_data(rss(ITEMS), headers={"Last-Modified": stamp})
    httpserver.expect_ordered_request("/f", headers={"If-Modified-Since": stamp}).respond_with_data("", status=304)
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    assert one(ctx, "p").new == 2
    assert one(ctx, "p").status == "not_modified"
    httpserver.check_assertions()


def test_server_ignoring_conditional_get_costs_no_parse(
    httpserver: HTTPServer, ctx_for: Callable[..., Context]
) -> None:
    httpserver.expect_request("/f").respond_with_data(rss(ITEMS))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    assert one(ctx, "p").new == 2
    again = one(ctx, "p")
    assert (again.status, again.unchanged) == ("unchanged", 0)


def test_permanent_redirect_updates_url(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data(rss(ITEMS))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/old")))
    assert one(ctx, "p").new == 2
    state = ctx.store.source_states()["p"]
    assert state.url == httpserver.url_for("/new")
    assert state.moved_from == httpserver.url_for("/old")
    httpserver.clear_log()
    one(ctx, "p")
    assert [req.path for req, _ in httpserver.log] == ["/new"]


def test_temporary_redirect_keeps_url(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data(rss(ITEMS))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/old")))
    assert one(ctx, "p").new == 2
    assert ctx.store.source_states()["p"].url == httpserver.url_for("/old")


def test_gone_disables_the_source(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_request("/f").respond_with_data("gone", status=410)
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    report = one(ctx, "p")
    assert report.failed
    assert "410" in report.errors[0]
    state = ctx.store.source_states()["p"]
    assert state.disabled is not None
    assert "410" in state.disabled
    httpserver.clear_log()
    again = one(ctx, "p")
    assert again.status == "disabled"
    assert not again.failed
    assert httpserver.log == []


def test_retry_after_is_honoured(httpserver: HTTPServer, ctx_for: Callable[..., Context], clock: FixedClock) -> None:
    httpserver.expect_request("/f").respond_with_data("busy", status=429, headers={"Retry-After": "7200"})
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), interval="1m"))
    assert one(ctx, "p").failed
    state = ctx.store.source_states()["p"]
    assert state.next_due == clock.now + timedelta(hours=2)


def test_backoff_grows_and_resets(httpserver: HTTPServer, ctx_for: Callable[..., Context], clock: FixedClock) -> None:
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), interval="10m"))
    httpserver.expect_request("/f").respond_with_data("oops", status=500)
    waits = []
    for _ in range(3):
        assert one(ctx, "p").failed
        state = ctx.store.source_states()["p"]
        assert state.next_due is not None
        waits.append(state.next_due - clock.now)
    assert waits == [timedelta(minutes=20), timedelta(minutes=40), timedelta(minutes=80)]
    assert ctx.store.source_states()["p"].consecutive_errors == 3
    httpserver.clear()
    httpserver.expect_request("/f").respond_with_data(rss(ITEMS))
    assert not one(ctx, "p").failed
    state = ctx.store.source_states()["p"]
    assert state.consecutive_errors == 0
    assert state.next_due == clock.now + timedelta(minutes=10)
    assert state.last_error is not None  # the history stays for the operator


def test_only_due_skips_sources_in_backoff(
    httpserver: HTTPServer, ctx_for: Callable[..., Context], clock: FixedClock
) -> None:
    httpserver.expect_request("/f").respond_with_data("oops", status=500)
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), interval="10m"))
    pipeline.fetch(ctx, ["p"])
    httpserver.clear_log()
    clock.now += timedelta(minutes=19)
    assert [r.source_id for r in pipeline.fetch(ctx, only_due=True)] == ["local"]
    clock.now += timedelta(minutes=2)
    assert "p" in [r.source_id for r in pipeline.fetch(ctx, only_due=True)]


def test_timeout_and_oversized_fail_only_their_source(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(2)
        return Response(rss(ITEMS))

    def big_chunked(_request: Request) -> Response:
        return Response((b"<rss>" + b"x" * 1024 for _ in range(64)), content_type="application/rss+xml")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    httpserver.expect_request("/big").respond_with_data(b"<rss>" + b"x" * 8192)
    httpserver.expect_request("/chunked").respond_with_handler(big_chunked)
    httpserver.expect_request("/good").respond_with_data(rss(ITEMS))
    sources = (
        feed_source("slow", httpserver.url_for("/slow"), timeout="1s")
        + feed_source("big", httpserver.url_for("/big"), max_bytes=4096)
        + feed_source("chunked", httpserver.url_for("/chunked"), max_bytes=4096)
        + feed_source("good", httpserver.url_for("/good"))
    )
    ctx = ctx_for(sources)
    reports = {r.source_id: r for r in pipeline.fetch(ctx)}
    assert reports["slow"].errors[0].startswith("timeout")
    assert reports["big"].errors[0].startswith("too_large")
    assert reports["chunked"].errors[0].startswith("too_large")
    assert reports["good"].new == 2
    assert not reports["good"].failed


def test_malformed_feed_is_reported_and_the_run_goes_on(
    httpserver: HTTPServer, ctx_for: Callable[..., Context]
) -> None:
    httpserver.expect_request("/bad").respond_with_data("<html><body>Not found</body></html>")
    httpserver.expect_request("/broken").respond_with_data(rss(ITEMS)[:-40])  # truncated but has entries
    httpserver.expect_request("/good").respond_with_data(atom(ITEMS))
    ctx = ctx_for(
        feed_source("bad", httpserver.url_for("/bad"))
        + feed_source("broken", httpserver.url_for("/broken"))
        + feed_source("good", httpserver.url_for("/good"))
    )
    reports = {r.source_id: r for r in pipeline.fetch(ctx)}
    assert reports["bad"].failed
    assert reports["bad"].errors[0].startswith("parse")
    assert not reports["broken"].failed
    assert reports["broken"].new == 1  # the second item is cut inside its <category>: left out, not half-read
    assert any("cut off" in w and "1 entry before the cut used" in w for w in reports["broken"].warnings)
    assert "web page" in reports["bad"].errors[0]
    assert reports["good"].new == 2
    assert "cut off" in (ctx.store.source_states()["broken"].warning or "")


def test_gbk_body_declared_utf8(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    body = rss(ITEMS).decode("utf-8").encode("gbk")
    httpserver.expect_request("/f").respond_with_data(body, content_type="application/rss+xml; charset=utf-8")
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    assert one(ctx, "p").new == 2
    titles = {a.article.title for a in zone_articles(ctx.store, "xishan", 10)}
    assert titles == {"锡山经开区签约智能制造项目"}


@pytest.mark.parametrize(
    ("encoding", "title", "body"),
    [
        ("gb2312", "锡山经开区签约智能制造项目", "项目总投资十亿元。"),
        ("gbk", "锡山经开区签约智能制造项目", "项目总投资十亿元。"),
        ("gb18030", "锡山经开区签约项目𠀀", "项目总投资十亿元。"),
        ("big5", "錫山經開區簽約智能製造項目", "項目總投資十億元。"),
    ],
)
def test_declared_chinese_encodings(
    httpserver: HTTPServer, ctx_for: Callable[..., Context], encoding: str, title: str, body: str
) -> None:
    items = [{"title": title, "guid": "g", "link": "http://partner.example/1.html", "body": body}]
    doc = rss(items).decode().replace('encoding="utf-8"', f'encoding="{encoding}"')
    httpserver.expect_request("/f").respond_with_data(doc.encode(encoding), content_type="text/xml")
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), zone="xishan"))
    assert one(ctx, "p").new == 1
    [stored] = zone_articles(ctx.store, "xishan", 10)
    assert stored.article.title == title
    assert stored.article.body_html == body


def test_rss_and_atom_give_the_same_articles(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_request("/rss").respond_with_data(rss(ITEMS))
    atom_items = [
        {**it, "date": "2020-10-19T08:30:00+08:00" if it["guid"].endswith("news-1") else "2020-10-20T09:00:00+08:00"}
        for it in ITEMS
    ]
    httpserver.expect_request("/atom").respond_with_data(atom(atom_items))
    ctx = ctx_for(feed_source("r", httpserver.url_for("/rss")) + feed_source("a", httpserver.url_for("/atom")))
    pipeline.fetch(ctx)

    def view(source_id: str) -> set[tuple[object, ...]]:
        return {
            (
                s.article.key,
                s.article.title,
                s.article.link,
                s.article.published,
                s.article.body_html,
                s.article.author,
                s.article.tags,
                s.zones,
            )
            for s in source_articles(ctx.store, source_id)
        }

    assert view("r") == view("a")
    assert len(view("r")) == 2


def test_entries_without_guid_or_link(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    items = [
        {
            "title": "只有链接",
            "link": "http://partner.example/a.html?utm_source=x#top",
            "date": ITEMS[0]["date"],
            "body": "甲",
        },
        {"title": "什么都没有", "date": ITEMS[0]["date"], "body": "乙"},
        {"title": "重复编号一", "guid": "1", "link": "http://partner.example/r1.html", "body": "丙"},
        {"title": "重复编号二", "guid": "1", "link": "http://partner.example/r2.html", "body": "丁"},
    ]
    httpserver.expect_request("/f").respond_with_data(rss(items, link="http://partner.example/"))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), zone="sip"))
    report = one(ctx, "p")
    assert report.new == 4
    keys = {s.article.title: s.article.key for s in zone_articles(ctx.store, "sip", 10)}
    assert keys["只有链接"] == "http://partner.example/a.html"  # normalized: no utm_*, no fragment
    assert keys["什么都没有"].startswith("sha256:")
    assert keys["重复编号一"] == "http://partner.example/r1.html"
    assert keys["重复编号二"] == "http://partner.example/r2.html"
    # Fetching again (the server ignores ETags; change a byte so it is parsed) creates nothing new.
    httpserver.clear()
    httpserver.expect_request("/f").respond_with_data(rss(items, link="http://partner.example/") + b" ")
    again = one(ctx, "p")
    assert (again.new, again.updated, again.unchanged) == (0, 0, 4)


def test_changed_entry_updates_the_article(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_ordered_request("/f").respond_with_data(rss(ITEMS))
    changed = [{**ITEMS[0], "title": "锡山经开区签约智能制造项目(更新)"}, ITEMS[1]]
    httpserver.expect_ordered_request("/f").respond_with_data(rss(changed))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    one(ctx, "p")
    report = one(ctx, "p")
    assert (report.new, report.updated, report.unchanged) == (0, 1, 1)
    assert ctx.store.count_articles() == 2


def test_hostile_html_is_sanitized(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    body = (
        '<p onmouseover="steal()">正文<script>alert(1)</script><img src="javascript:alert(2)">'
        '<img src="/pic/a.jpg"><a href="javascript:evil()">x</a><form action="http://evil.example/"><input></form>'
        '<iframe src="http://evil.example/"></iframe><style>body{background:url(x)}</style></p>'
    )
    httpserver.expect_request("/f").respond_with_data(rss([{**ITEMS[0], "body": body}]))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    one(ctx, "p")
    [stored] = zone_articles(ctx.store, "xishan", 1)
    html = stored.article.body_html
    for bad in ("script", "onmouseover", "javascript", "<form", "<input", "iframe", "<style", "alert"):
        assert bad not in html
    assert 'src="http://partner.example/pic/a.jpg"' in html


def test_zones_from_category_default_and_text(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    items = [
        {**ITEMS[0], "title": "签约仪式举行"},  # category 锡山经开区
        {
            **ITEMS[1],
            "category": "综合新闻",
            "guid": "tag:partner.example,2020:news-3",
            "title": "论坛举行",
            "link": "http://partner.example/news/3.html",
            "body": "<p>三十家企业参会。</p>",
        },
        {
            **ITEMS[1],
            "category": "综合新闻",
            "guid": "g4",
            "title": "苏州工业园区论坛举行",
            "link": "http://partner.example/news/4.html",
            "body": "<p>四十家企业参会。</p>",
        },  # zone in the title
    ]
    httpserver.expect_request("/f").respond_with_data(rss(items))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), zone="wuxi-hitech", category="文字新闻"))
    one(ctx, "p")
    zones = {
        s.article.title: s.zones
        for slug in ("xishan", "wuxi-hitech", "sip")
        for s in zone_articles(ctx.store, slug, 10)
    }
    assert zones["签约仪式举行"] == ("wuxi-hitech", "xishan")
    assert zones["论坛举行"] == ("wuxi-hitech",)
    assert zones["苏州工业园区论坛举行"] == ("sip", "wuxi-hitech")
    [default] = [s for s in zone_articles(ctx.store, "wuxi-hitech", 10) if s.article.title == "论坛举行"]
    assert default.article.category == "文字新闻"


def test_dates_chinese_forms_and_future(
    httpserver: HTTPServer, ctx_for: Callable[..., Context], clock: FixedClock
) -> None:
    items = [
        {**ITEMS[0], "guid": "a", "date": "2020年10月19日 08:30"},
        {**ITEMS[0], "guid": "b", "date": "Mon, 19 Oct 2020 08:30:00 CST"},
        {**ITEMS[0], "guid": "c", "date": "2999-01-01T00:00:00Z"},
        {**ITEMS[0], "guid": "d"},
    ]
    del items[3]["date"]
    httpserver.expect_request("/f").respond_with_data(rss(items))
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    report = one(ctx, "p")
    assert any("future" in w for w in report.warnings)
    got = {s.article.key: s.article.published for s in source_articles(ctx.store, "p")}
    from datetime import datetime

    assert got["a"] == datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)
    assert got["b"] == datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)  # CST from a Chinese site is +0800
    assert got["c"] == clock.now
    assert got["d"] == clock.now


def test_gzip_and_user_agent(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_request("/f").respond_with_data(
        gzip.compress(rss(ITEMS)), headers={"Content-Encoding": "gzip"}, content_type="application/rss+xml"
    )
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    assert one(ctx, "p").new == 2
    [(request, _)] = httpserver.log
    assert request.headers["User-Agent"].startswith("syndicate/")
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "br" in request.headers["Accept-Encoding"]


def test_redirect_loop(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    ctx = ctx_for(feed_source("p", httpserver.url_for("/a")))
    report = one(ctx, "p")
    assert report.errors[0].startswith("redirect")
    assert "loop" in report.errors[0]


def test_redirect_from_public_into_private_is_blocked(ctx_for: Callable[..., Context]) -> None:
    """127.0.0.2 plays a public host and 127.0.0.1 a private one, by the rule this test passes in."""
    private = HTTPServer(host="127.0.0.1")
    public = HTTPServer(host="127.0.0.2")
    private.start()
    public.start()
    try:
        private.expect_request("/secret").respond_with_data(rss(ITEMS))
        public.expect_request("/f").respond_with_data("", status=302, headers={"Location": private.url_for("/secret")})
        ctx = ctx_for(feed_source("p", public.url_for("/f")), is_private=lambda ip: ip != "127.0.0.2")
        report = one(ctx, "p")
        assert report.errors[0].startswith("blocked")
        assert private.log == []  # the request was refused once connected, before any body was read
        assert ctx.store.count_articles() == 0
    finally:
        private.stop()
        public.stop()


def test_local_file_feed(tmp_path: Path, ctx_for: Callable[..., Context]) -> None:
    (tmp_path / "partner.xml").write_bytes(atom(ITEMS))
    ctx = ctx_for(feed_source("p", "partner.xml"))
    assert one(ctx, "p").new == 2
    assert one(ctx, "p").status == "unchanged"
    (tmp_path / "partner.xml").unlink()
    report = one(ctx, "p")
    assert report.errors[0].startswith("file")


def test_nothing_given_is_lost_by_a_later_failure(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    httpserver.expect_ordered_request("/f").respond_with_data(rss(ITEMS))
    httpserver.expect_ordered_request("/f").respond_with_data("<garbage", status=200)
    httpserver.expect_ordered_request("/f").respond_with_data("", status=500)
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    one(ctx, "p")
    assert one(ctx, "p").failed
    assert one(ctx, "p").failed
    assert ctx.store.count_articles() == 2


RSS091 = """<?xml version="1.0" encoding="utf-8"?>
<rss version="0.91"><channel><title>t</title><link>http://partner.example/</link><description>d</description>
<item><title>锡山经开区签约智能制造项目</title><link>http://partner.example/news/1.html</link>
<description>&lt;p&gt;项目总投资十亿元。&lt;/p&gt;</description></item></channel></rss>"""

RSS10 = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://partner.example/"><title>t</title><link>http://partner.example/</link><description>d</description></channel>
<item rdf:about="http://partner.example/news/1.html"><title>锡山经开区签约智能制造项目</title>
<link>http://partner.example/news/1.html</link><dc:date>2020-10-19T08:30:00+08:00</dc:date>
<description>&lt;p&gt;项目总投资十亿元。&lt;/p&gt;</description></item></rdf:RDF>"""

ATOM03 = """<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title><link rel="alternate" href="http://partner.example/"/>
<modified>2020-10-19T08:30:00+08:00</modified>
<entry><title>锡山经开区签约智能制造项目</title><link rel="alternate" href="http://partner.example/news/1.html"/>
<id>http://partner.example/news/1.html</id><issued>2020-10-19T08:30:00+08:00</issued><modified>2020-10-19T08:30:00+08:00</modified>
<content type="text/html" mode="escaped">&lt;p&gt;项目总投资十亿元。&lt;/p&gt;</content></entry></feed>"""


@pytest.mark.parametrize("doc", [RSS091, RSS10, ATOM03], ids=["rss-0.91", "rss-1.0", "atom-0.3"])
def test_older_formats(httpserver: HTTPServer, ctx_for: Callable[..., Context], doc: str) -> None:
    httpserver.expect_request("/f").respond_with_data(doc.encode())
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f"), zone="xishan"))
    assert one(ctx, "p").new == 1
    [stored] = zone_articles(ctx.store, "xishan", 1)
    assert stored.article.title == "锡山经开区签约智能制造项目"
    assert stored.article.link == "http://partner.example/news/1.html"
    assert stored.article.body_html == "<p>项目总投资十亿元。</p>"


def test_first_image_enclosure_and_author(httpserver: HTTPServer, ctx_for: Callable[..., Context]) -> None:
    doc = rss(ITEMS[:1]).replace(b"</item>", b'<enclosure url="/img/a.jpg" length="100" type="image/jpeg"/></item>')
    httpserver.expect_request("/f").respond_with_data(doc)
    ctx = ctx_for(feed_source("p", httpserver.url_for("/f")))
    one(ctx, "p")
    [stored] = zone_articles(ctx.store, "xishan", 1)
    assert stored.article.image == "http://partner.example/img/a.jpg"
    assert stored.article.author == "锡山区宣传部"
    assert stored.article.tags == ("锡山经开区",)
