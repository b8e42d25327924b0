"""Partner documents shaped like the ones real sites serve: a stray byte in UTF-8, a last character cut in
half, GBK labelled UTF-8, `-0000` and `GMT` dates, a bare `&` in a CMS link, whitespace before `<?xml`,
video players, lazy images, JSON Feed 1.0 and 1.1, a web page where a feed should be, a cut-off document,
entries that differ only after `#`. Each is read as a reader such as NetNewsWire or Miniflux would."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import fastfeedparser
import feedparser
from pytest_httpserver import HTTPServer

from syndicate import app, delivery, pipeline, status
from syndicate.pipeline import Context
from syndicate.sources.encoding import decode_document
from syndicate.sources.feed import FeedDefaults, ParsedFeed, parse_feed

from .helpers import SHANGHAI, FixedClock
from .storeviews import source_articles

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
GOV = "http://www.wxgx.gov.cn"


def parse(doc: bytes | str, content_type: str | None = None, tz: ZoneInfo = SHANGHAI) -> ParsedFeed:
    data = doc.encode("utf-8") if isinstance(doc, str) else doc
    return parse_feed(data, content_type, FeedDefaults("p", f"{GOV}/rss.xml", tz, NOW))


def cms_rss(items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> str:
    """The channel a Chinese government CMS writes: a link, a language, then its items."""
    return (
        f'{head}<rss version="2.0"><channel><title>无锡高新区新闻</title><link>{GOV}/</link>'
        f"<language>zh-cn</language><generator>TRS WCM</generator>{items}</channel></rss>\n"
    )


def item(n: int, title: str = "", body: str = "", link: str = "", date: str = "Mon, 19 Oct 2020 08:30:00 +0800") -> str:
    link = link or f"{GOV}/art/2020/10/19/art_{n}.html"
    return (
        f"<item><title>{title or f'高新区第{n}条新闻'}</title><link>{link}</link>"
        f"<description><![CDATA[{body or f'<p>第{n}条新闻正文,新吴区召开推进会议,部署重点工作。</p>'}]]></description>"
        f"<pubDate>{date}</pubDate></item>"
    )


# -- encodings ------------------------------------------------------------------------------------------


def test_one_stray_byte_in_utf8_garbles_nothing_and_is_reported_with_its_offset() -> None:
    doc = cms_rss("".join(item(n) for n in range(1, 6))).encode("utf-8")
    at = doc.index("第3条".encode())
    bad = doc[:at] + b"\x92" + doc[at:]  # a Windows-1252 quote pasted into UTF-8 text
    parsed = parse(bad)
    assert parsed.error is None and len(parsed.articles) == 5
    assert [a.title for a in parsed.articles][1:] == [
        "高新区第2条新闻",
        "高新区’第3条新闻",
        "高新区第4条新闻",
        "高新区第5条新闻",
    ]
    assert parsed.articles[0].published == datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)  # dates read, not replaced
    [warning] = [w for w in parsed.warnings if "UTF-8" in w]
    assert f"byte {at} (0x92)" in warning


def test_a_document_cut_inside_its_last_character_is_still_utf8() -> None:
    doc = cms_rss("".join(item(n) for n in range(1, 4))).encode("utf-8") + "注".encode()[:2]
    text, encoding, note = decode_document(doc)
    assert encoding == "utf-8" and "高新区第1条新闻" in text
    assert note is not None and "cut off inside its last character" in note
    assert [a.title for a in parse(doc).articles] == ["高新区第1条新闻", "高新区第2条新闻", "高新区第3条新闻"]


def test_gbk_labelled_utf8_and_gbk_declared_gb2312_still_read_right() -> None:
    doc = cms_rss("".join(item(n) for n in range(1, 4)))
    mislabelled = parse(doc.encode("gbk"), "text/xml; charset=utf-8")
    assert mislabelled.articles[0].title == "高新区第1条新闻"
    assert not any("UTF-8" in w for w in mislabelled.warnings)
    declared = doc.replace('encoding="utf-8"', 'encoding="gb2312"').encode("gbk")
    assert parse(declared).articles[2].title == "高新区第3条新闻"


def test_a_page_of_gbk_with_many_bad_bytes_is_never_published_silently() -> None:
    doc = cms_rss("".join(item(n) for n in range(1, 4))).encode("gbk")
    garbage = doc.replace("第2条".encode("gbk"), b"\x80\xff\xfe\x81")  # no encoding reads these bytes
    parsed = parse(garbage)
    assert any("replaced" in w for w in parsed.warnings)
    # The entry that lost text is held back and said so; the others are read.
    assert [a.title for a in parsed.articles] == ["高新区第1条新闻", "高新区第3条新闻"]
    [problem] = parsed.problems
    assert problem.startswith("entry 2: ") and "could not be decoded; held back" in problem
    # A partner's own U+FFFD (in its bytes, not made by decoding) is its text, and stays.
    own = parse(cms_rss(item(1, title="高新区\ufffd新闻")).encode("utf-8"))
    assert own.articles[0].title == "高新区\ufffd新闻" and own.problems == ()


# -- markup -----------------------------------------------------------------------------------------------


def test_a_bare_ampersand_in_a_cms_link_stays_an_ampersand() -> None:
    link = f"{GOV}/jrobot/search.do?webid=1&lang=zh_CN&copy=1"
    parsed = parse(cms_rss(item(1, link=link) + item(2, title="园区&nbsp;新闻 R&D")))
    assert parsed.articles[0].link == link  # not "〈=zh_CN" or "©=1"
    assert parsed.articles[1].title == "园区\u00a0新闻 R&D".replace("\u00a0", " ")
    assert not any("malformed" in w for w in parsed.warnings)  # it parsed strictly


def test_whitespace_before_the_xml_declaration_is_not_malformed() -> None:
    parsed = parse("\n\r\n   " + cms_rss(item(1)))
    assert parsed.error is None and parsed.warnings == () and len(parsed.articles) == 1


# -- dates ------------------------------------------------------------------------------------------------


def test_utc_in_every_spelling_is_utc_and_only_a_zoneless_date_takes_the_sources_zone() -> None:
    spellings = ["-0000", "+0000", "GMT", "UT", "UTC", "Z"]
    items = "".join(item(n, date=f"Mon, 19 Oct 2020 08:30:00 {z}") for n, z in enumerate(spellings, 1))
    items += item(7, date="2020-10-19T08:30:00Z") + item(8, date="2020-10-19 08:30:00 UTC")
    items += item(9, date="Mon, 19 Oct 2020 08:30:00")
    utc = datetime(2020, 10, 19, 8, 30, tzinfo=UTC)
    got = parse(cms_rss(items)).articles
    assert [a.published for a in got[:8]] == [utc] * 8
    assert got[8].published == datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)
    berlin = ZoneInfo("Europe/Berlin")
    other = parse(
        cms_rss(item(9, date="2020-10-19 08:30") + item(1, date="Mon, 19 Oct 2020 08:30:00 -0000")), tz=berlin
    )
    assert other.articles[0].published == datetime(2020, 10, 19, 8, 30, tzinfo=berlin)
    assert other.articles[1].published == utc


def test_a_feed_sources_timezone_key_reads_its_zoneless_dates(
    httpserver: HTTPServer, ctx_for: Callable[..., Context]
) -> None:
    httpserver.expect_request("/de.xml").respond_with_data(cms_rss(item(1, date="2020-10-19 08:30:00")))
    url = httpserver.url_for("/de.xml")
    ctx = ctx_for(f'[[sources]]\nid = "de"\nkind = "feed"\nurl = "{url}"\ntimezone = "Europe/Berlin"\n')
    pipeline.fetch(ctx)
    [stored] = source_articles(ctx.store, "de")
    assert stored.article.published == datetime(2020, 10, 19, 6, 30, tzinfo=UTC)


# -- media ------------------------------------------------------------------------------------------------


def test_video_players_leave_a_link_and_their_poster_never_the_player() -> None:
    body = (
        "<p>宣传片如下:</p>"
        '<iframe src="//player.bilibili.com/player.html?bvid=BV1GJ411x7h7&amp;page=1" scrolling="no" '
        'border="0" frameborder="no" allowfullscreen="true" title="高新区宣传片"></iframe>'
        '<iframe frameborder="0" src="https://v.qq.com/txp/iframe/player.html?vid=x0033abc" allowFullScreen></iframe>'
        '<video controls poster="/uploads/2020/poster.jpg" width="640"><source src="/uploads/2020/ad.mp4" '
        'type="video/mp4">您的浏览器不支持视频</video>'
        '<embed src="http://player.youku.com/player.php/sid/XMzA2/v.swf" allowFullScreen="true" quality="high">'
        '<iframe src="https://map.baidu.com/embed?x=1"></iframe>'
        '<iframe src="javascript:alert(document.cookie)"></iframe>'
    )
    [a] = parse(cms_rss(item(1, body=body))).articles
    html = a.body_html
    assert "<iframe" not in html and "<embed" not in html and "<video" not in html and "javascript" not in html
    assert '<a href="https://player.bilibili.com/player.html?bvid=BV1GJ411x7h7&amp;page=1"' in html
    assert ">视频:高新区宣传片</a>" in html
    assert 'href="https://v.qq.com/txp/iframe/player.html?vid=x0033abc"' in html
    assert f'<img src="{GOV}/uploads/2020/poster.jpg"' in html and f'href="{GOV}/uploads/2020/ad.mp4"' in html
    assert 'href="http://player.youku.com/player.php/sid/XMzA2/v.swf"' in html
    assert '<a href="https://map.baidu.com/embed?x=1" rel="noopener noreferrer">嵌入内容</a>' in html


def test_lazy_images_get_their_real_source_and_noscript_images_are_kept_once() -> None:
    body = (
        '<p><img src="/static/images/blank.gif" data-original="/upload/2020/a.jpg" class="lazy" alt="签约现场"></p>'
        '<noscript><img src="/upload/2020/a.jpg" alt="签约现场"></noscript>'
        '<p><img data-src="https://mmbiz.qpic.cn/mmbiz_jpg/xyz/640?wx_fmt=jpeg"></p>'
        '<noscript><img src="/upload/2020/b.jpg" alt="会场"></noscript>'
        '<p><img src="/upload/2020/c.jpg" data-src="/upload/2020/c-large.jpg"></p>'
    )
    [a] = parse(cms_rss(item(1, body=body))).articles
    html = a.body_html
    assert html.count(f'src="{GOV}/upload/2020/a.jpg"') == 1 and "blank.gif" not in html
    assert 'src="https://mmbiz.qpic.cn/mmbiz_jpg/xyz/640?wx_fmt=jpeg"' in html
    assert f'src="{GOV}/upload/2020/b.jpg"' in html  # only in <noscript>: kept
    assert f'src="{GOV}/upload/2020/c.jpg"' in html  # a real src is left as it is


# -- formats ----------------------------------------------------------------------------------------------


def json_feed(version: str, items: list[dict[str, object]]) -> str:
    return json.dumps(
        {
            "version": f"https://jsonfeed.org/version/{version}",
            "title": "园区博客",
            "home_page_url": "https://blog.example.cn/",
            "feed_url": "https://blog.example.cn/feed.json",
            "items": items,
        },
        ensure_ascii=False,
        indent=2,
    )


def test_json_feed_1_0_and_1_1_are_read_like_rss_and_atom() -> None:
    v10 = parse(
        json_feed(
            "1",
            [
                {
                    "id": 2001,  # a number, as some 1.0 generators write it
                    "url": "https://blog.example.cn/2020/10/forum.html",
                    "title": "苏州工业园区举办论坛",
                    "content_html": "<p>百余家企业参会。</p><script>x()</script>",
                    "date_published": "2020-10-20T09:00:00+08:00",
                    "author": {"name": "园区管委会"},
                    "tags": ["苏州工业园区", "论坛"],
                }
            ],
        ),
        "application/json",
    )
    [a] = v10.articles
    assert (a.key, a.title, a.link, a.author) == (
        "2001",
        "苏州工业园区举办论坛",
        "https://blog.example.cn/2020/10/forum.html",
        "园区管委会",
    )
    assert a.body_html == "<p>百余家企业参会。</p>" and a.tags == ("苏州工业园区", "论坛")
    assert a.published == datetime(2020, 10, 20, 9, 0, tzinfo=SHANGHAI)
    v11 = parse(
        json_feed(
            "1.1",
            [
                {
                    "id": "https://blog.example.cn/p/7",
                    "url": "https://blog.example.cn/p/7",
                    "title": "A <b> and & in a plain title",
                    "content_text": "第一段。\n\n第二段 <不是标签>。",
                    "date_published": "2020-10-21T10:00:00Z",
                    "authors": [{"name": "张伟"}, {"name": "李娜"}],
                    "image": "https://blog.example.cn/p/7.jpg",
                }
            ],
        )
    )
    [b] = v11.articles
    assert b.title == "A <b> and & in a plain title" and b.author == "张伟, 李娜"
    assert b.body_html == "<p>第一段。</p><p>第二段 &lt;不是标签&gt;。</p>"
    assert b.image == "https://blog.example.cn/p/7.jpg"
    assert v11.link == "https://blog.example.cn/"


def test_json_that_is_not_a_json_feed_or_is_cut_off_says_so() -> None:
    assert "not a JSON Feed" in (parse('{"data": []}').error or "")
    assert "cut off" in (parse(json_feed("1.1", [{"id": "1", "content_text": "x"}])[:-30]).error or "")


def test_a_web_page_where_a_feed_should_be_names_the_feeds_it_links() -> None:
    page = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>无锡高新区</title>'
        '<link rel="stylesheet" href="/css/main.css">'
        '<link rel="alternate" type="application/rss+xml" title="新闻" href="/rss/news.xml">'
        "<link rel='alternate' type='application/atom+xml' href='https://www.wxgx.gov.cn/atom.xml?a=1&amp;b=2'>"
        "</head><body><p>首页</p></body></html>"
    )
    error = parse(page).error or ""
    assert error == (
        f"this is a web page, not a feed; its feeds are: {GOV}/rss/news.xml, https://www.wxgx.gov.cn/atom.xml?a=1&b=2"
    )
    assert "links to no feed" in (parse("<html><body>404 Not Found</body></html>").error or "")


def test_a_document_cut_off_says_so_and_keeps_the_entries_before_the_cut() -> None:
    doc = cms_rss("".join(item(n) for n in range(1, 5)))
    cut = doc[: doc.index("<item><title>高新区第4条")] + "<item><title>高新区第4"
    parsed = parse(cut)
    assert [a.title for a in parsed.articles] == ["高新区第1条新闻", "高新区第2条新闻", "高新区第3条新闻"]
    assert any("cut off" in w and "</rss>" in w for w in parsed.warnings)
    # Cut inside an entry's link: the entry is left out, not published with half a link.
    half = doc[: doc.index("<item><title>高新区第4条")] + item(4)[:60]
    assert [a.title for a in parse(half).articles] == ["高新区第1条新闻", "高新区第2条新闻", "高新区第3条新闻"]
    assert "inside its first entry" in (parse(cms_rss(item(1))[:300]).error or "")
    early = parse(doc[:120])
    assert early.error is not None and "cut off" in early.error and "before any entry" in early.error


def test_entries_that_differ_only_after_the_fragment_are_each_kept() -> None:
    page = f"{GOV}/zt/2020/jb.html"
    items = item(1, title="会议一", link=f"{page}#part1") + item(2, title="会议二", link=f"{page}#part2")
    items += item(3, title="会议三", link=f"{page}#part3")
    articles = parse(cms_rss(items)).articles
    assert [a.link for a in articles] == [f"{page}#part1", f"{page}#part2", f"{page}#part3"]
    assert len({a.key for a in articles}) == 3


# -- what operators see -----------------------------------------------------------------------------------


def test_a_warning_stays_until_the_content_that_caused_it_changes(
    httpserver: HTTPServer, ctx_for: Callable[..., Context]
) -> None:
    stray = cms_rss(item(1) + item(2)).encode("utf-8").replace("第2条".encode(), b"\x92" + "第2条".encode())
    httpserver.expect_ordered_request("/w.xml").respond_with_data(stray, headers={"ETag": '"a"'})
    httpserver.expect_ordered_request("/w.xml").respond_with_data(b"", status=304)
    httpserver.expect_ordered_request("/w.xml").respond_with_data(stray, headers={"ETag": '"b"'})  # same bytes
    httpserver.expect_ordered_request("/w.xml").respond_with_data(cms_rss(item(1) + item(2)), headers={"ETag": '"c"'})
    url = httpserver.url_for("/w.xml")
    ctx = ctx_for(f'[[sources]]\nid = "w"\nkind = "feed"\nurl = "{url}"\n')
    for expected in ("ok", "not_modified", "unchanged"):
        [report] = pipeline.fetch(ctx, ["w"])
        assert report.status == expected
        assert "invalid UTF-8 repaired" in (ctx.store.source_states()["w"].warning or ""), expected
    # On /status (and in `syndicate status`) too.
    [shown] = status.overview(ctx).warnings
    assert shown.startswith("source w: invalid UTF-8 repaired (2 places): byte ")
    assert html.escape(shown).replace("&#x27;", "&#39;") in app.status_page(ctx).decode("utf-8")
    pipeline.fetch(ctx, ["w"])
    assert ctx.store.source_states()["w"].warning is None  # fixed at the source: the warning goes
    assert status.overview(ctx).warnings == []


# -- republished: what subscribers get ----------------------------------------------------------------------

PODCAST = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>园区之声</title><link>https://radio.example.cn/</link><language>zh-cn</language>
<itunes:author>苏州工业园区融媒体中心</itunes:author>
<item><title>第12期:园区招商访谈</title><link>https://radio.example.cn/ep/12</link>
<guid isPermaLink="false">ep-12</guid><pubDate>Tue, 20 Oct 2020 18:00:00 GMT</pubDate>
<description>本期嘉宾谈园区招商。</description>
<enclosure url="https://cdn.radio.example.cn/audio/ep12.mp3" length="24986239" type="audio/mpeg"/>
<media:content url="https://cdn.radio.example.cn/video/ep12.mp4" type="video/mp4" fileSize="98765432" medium="video"/>
<itunes:duration>00:26:01</itunes:duration></item>
<item><title>第11期:新年展望</title><link>https://radio.example.cn/ep/11</link>
<guid isPermaLink="false">ep-11</guid><pubDate>Tue, 13 Oct 2020 18:00:00 -0000</pubDate>
<description>本期回顾与展望。</description>
<enclosure url="https://cdn.radio.example.cn/audio/ep11.m4a" length="" type="audio/x-m4a"/></item>
</channel></rss>
"""

GOV_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN"><title>昆山开发区通知公告</title>
<id>tag:ks.example.gov.cn,2020:notices</id><updated>2020-10-22T10:00:00+08:00</updated>
<link rel="alternate" href="http://ks.example.gov.cn/tzgg/"/>
<entry><title>关于申报2020年度扶持资金的通知</title><id>tag:ks.example.gov.cn,2020:n-88</id>
<link rel="alternate" href="http://ks.example.gov.cn/tzgg/2020/1022/88.html"/>
<link rel="enclosure" href="http://ks.example.gov.cn/files/2020/申报指南 (定稿).pdf" type="application/pdf"
 length="532180" title="申报指南"/>
<link rel="enclosure" href="/files/2020/附件2-申报表.docx" length="20480"/>
<published>2020-10-22T10:00:00+08:00</published><updated>2020-10-22T10:00:00+08:00</updated>
<author><name>昆山开发区经发局</name></author>
<content type="html">&lt;p&gt;各有关企业:现将申报事项通知如下。&lt;/p&gt;</content></entry>
</feed>
"""


def test_republished_feeds_carry_enclosures_publication_dates_and_uris(
    httpserver: HTTPServer, ctx_for: Callable[..., Context]
) -> None:
    stray = cms_rss(item(1) + item(2, body=LAZY_AND_VIDEO, link=f"{GOV}/新闻/2020/第2条.html?lang=zh&x=1"))
    docs = {
        "/podcast.xml": PODCAST.encode(),
        "/gov.atom": GOV_ATOM.encode(),
        "/blog.json": json_feed(
            "1.1",
            [
                {
                    "id": "https://blog.example.cn/p/9",
                    "url": "https://blog.example.cn/p/9",
                    "title": "园区年报发布",
                    "content_html": "<p>年报全文见附件。</p>",
                    "date_published": "2020-10-23T09:00:00+08:00",
                    "attachments": [
                        {
                            "url": "https://blog.example.cn/f/年报.pdf",
                            "mime_type": "application/pdf",
                            "size_in_bytes": 1048576,
                        }
                    ],
                }
            ],
        ).encode(),
        "/cms.xml": stray.encode("utf-8").replace("第1条".encode(), b"\x93" + "第1条".encode()),
        # GBK served as UTF-8; three parts of one special-topic page; tag-like text in a title.
        "/gbk.xml": cms_rss(
            item(
                11,
                "园区 R&amp;D &lt;研发&gt; 中心揭牌",
                "<p>研发中心今日揭牌,首批入驻企业十二家。</p>",
                f"{PAGE}?part=1",
            )
            + item(12, "专题会议二:人才政策", "<p>人才新政发布,安家补贴最高百万元。</p>", f"{PAGE}?part=2")
            + item(13, "专题会议三:金融服务", "<p>设立产业基金,规模五十亿元。</p>", f"{PAGE}?part=3")
        ).encode("gbk"),
        # Cut off in the middle of its third item.
        "/cut.xml": cms_rss(item(21, "园区举办招聘会", "<p>提供岗位三千个。</p>") + item(22, "园区召开安全会议"))
        .replace("</channel></rss>\n", item(23)[:40])
        .encode("utf-8"),
        "/v10.json": json_feed(
            "1",
            [
                {
                    "id": 2001,
                    "url": "https://blog.example.cn/2020/10/forum.html",
                    "title": "论坛\u0008开幕 <现场>",
                    "content_text": "百余家企业参会。\n\n议题 <不是标签> & 合作。",
                    "date_published": "2020-10-20T09:00:00+08:00",
                }
            ],
        ).encode(),
    }
    sources = ""
    for path, data in docs.items():
        sid = path[1:].split(".")[0]
        zone = {
            "blog": "xishan",
            "v10": "xishan",
            "cut": "wuxi-hitech",
            "cms": "wuxi-hitech",
            "gbk": "wuxi-hitech",
        }.get(sid, "sip")
        mime = "text/xml; charset=utf-8" if sid == "gbk" else None
        httpserver.expect_request(path).respond_with_data(data, content_type=mime)
        sources += f'[[sources]]\nid = "{sid}"\nkind = "feed"\nurl = "{httpserver.url_for(path)}"\nzone = "{zone}"\n'
    ctx = ctx_for(sources)
    reports = pipeline.fetch(ctx, [path[1:].split(".")[0] for path in docs])
    assert [r.status for r in reports] == ["ok"] * len(docs), [r.errors for r in reports]
    assert "cut off" in (ctx.store.source_states()["cut"].warning or "")
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    from .test_feed_validity import check_tree, schema_errors

    assert check_tree(out, ctx.config.site.base_url, ctx.clock()) == {}
    assert schema_errors(out) == {}

    rss = (out / "zones/sip/rss.xml").read_text(encoding="utf-8")
    assert '<enclosure url="https://cdn.radio.example.cn/audio/ep12.mp3" length="24986239" type="audio/mpeg"/>' in rss
    assert '<enclosure url="https://cdn.radio.example.cn/audio/ep11.m4a" length="0" type="audio/x-m4a"/>' in rss
    assert 'url="https://cdn.radio.example.cn/video/ep12.mp4"' in rss  # the second file, as Media RSS
    pdf = "http://ks.example.gov.cn/files/2020/%E7%94%B3%E6%8A%A5%E6%8C%87%E5%8D%97%20(%E5%AE%9A%E7%A8%BF).pdf"
    assert f'<enclosure url="{pdf}" length="532180" type="application/pdf"/>' in rss
    hitech_docs = [out / "zones/wuxi-hitech/atom.xml", *(out / "zones/wuxi-hitech/archive").glob("*.xml")]
    cms = "".join(p.read_text(encoding="utf-8") for p in hitech_docs)
    assert f"{GOV}/%E6%96%B0%E9%97%BB/2020/%E7%AC%AC2%E6%9D%A1.html?lang=zh&amp;x=1" in cms  # a URI, & kept
    atom = "".join(p.read_text(encoding="utf-8") for p in [out / "all/atom.xml", *(out / "all/archive").glob("*.xml")])
    assert f'<link rel="enclosure" href="{pdf}" type="application/pdf" length="532180" title="申报指南"/>' in atom
    # A relative href is resolved against the document (Atom's base); a missing type is guessed from the name.
    docx = httpserver.url_for("/files/2020/%E9%99%84%E4%BB%B62-%E7%94%B3%E6%8A%A5%E8%A1%A8.docx")
    assert f'href="{docx}" type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"' in atom
    # <updated> is the publication time (within its second), not the time syndicate first saw the entry.
    docs_of = lambda feed: [out / feed / "atom.xml", *sorted((out / feed / "archive").glob("*.xml"))]  # noqa: E731
    entries = [e for doc in docs_of("all") for e in feedparser.parse(doc).entries]
    by_title = {e.title: e for e in entries}
    assert by_title["第12期:园区招商访谈"].updated.startswith("2020-10-21T02:00:00.")
    assert by_title["关于申报2020年度扶持资金的通知"].updated.startswith("2020-10-22T10:00:00.")
    assert "高新区“第1条新闻" in by_title  # the stray 0x93, repaired as the quote it was
    # Each part of the page is its own entry; the title's tag-like text is text, in every format.
    hitech = [e for doc in docs_of("zones/wuxi-hitech") for e in feedparser.parse(doc).entries]
    assert sorted({e.link for e in hitech if e.link.startswith(PAGE)}) == [f"{PAGE}?part={n}" for n in (1, 2, 3)]
    assert "园区 R&D <研发> 中心揭牌" in {e.title for e in hitech}
    assert {"园区举办招聘会", "园区召开安全会议"} <= set(by_title)  # what came before the cut
    feed = json.loads((out / "zones/xishan/feed.json").read_text(encoding="utf-8"))
    assert "论坛开幕 <现场>" in [i["title"] for i in feed["items"]]
    [report] = [i for i in feed["items"] if i["title"] == "园区年报发布"]
    assert report["attachments"] == [
        {
            "url": "https://blog.example.cn/f/%E5%B9%B4%E6%8A%A5.pdf",
            "mime_type": "application/pdf",
            "size_in_bytes": 1048576,
        }
    ]
    # A second, independent reader (its own lxml-based parser) reads the same titles, links, dates and files.
    for doc in sorted(out.rglob("*.xml")) + sorted(out.rglob("*.json")):
        if doc.name != "feeds.json":
            assert read_by_fastfeedparser(doc) == read_as_published(doc), doc


Read = list[tuple[str, str, datetime, frozenset[str]]]  # title, link, date to the second, files


def read_as_published(doc: Path) -> Read:
    """What a document says of each entry, read by feedparser (XML) or as plain JSON."""
    if doc.suffix == ".json":
        return [
            (
                i["title"],
                i["url"],
                datetime.fromisoformat(i.get("date_modified") or i["date_published"]).replace(microsecond=0),
                frozenset(a["url"] for a in i.get("attachments", ())),
            )
            for i in json.loads(doc.read_text(encoding="utf-8"))["items"]
        ]
    return [
        (
            e.title,
            e.link,
            # dict.get: feedparser's own get warns when it maps a missing updated_parsed to published_parsed
            datetime(*(dict.get(e, "updated_parsed") or e.published_parsed)[:6], tzinfo=UTC),
            frozenset({f.href for f in e.enclosures} | {m["url"] for m in e.get("media_content") or ()}),
        )
        for e in feedparser.parse(doc).entries
    ]


def read_by_fastfeedparser(doc: Path) -> Read:
    """The same, by a second reader: RSS <enclosure> and media:content, Atom rel="enclosure", attachments."""
    return [
        (
            e["title"],
            e["link"],
            datetime.fromisoformat(e.get("updated") or e["published"]).astimezone(UTC).replace(microsecond=0),
            frozenset(
                {f["url"] for f in [*(e.get("enclosures") or ()), *(e.get("media_content") or ())]}
                | {link["href"] for link in e.get("links") or () if link.get("rel") == "enclosure"}
            ),
        )
        for e in fastfeedparser.parse(doc.read_bytes()).entries
    ]


PAGE = f"{GOV}/zt/2020/jb.html"

LAZY_AND_VIDEO = (
    '<p><img src="/images/loading.gif" data-original="/uploads/2020/会场.jpg" alt="会场"></p>'
    '<noscript><img src="/uploads/2020/会场.jpg"></noscript>'
    '<iframe src="https://player.bilibili.com/player.html?bvid=BV1GJ411x7h7" title="会议视频"></iframe>'
    "<p>会议部署了下一阶段重点工作。</p>"
)


def test_an_edit_moves_updated_and_the_digest_lists_the_files(
    httpserver: HTTPServer, ctx_for: Callable[..., Context], tmp_path: Path, clock: FixedClock
) -> None:
    from syndicate.publisher import shown_updated

    httpserver.expect_ordered_request("/g.atom").respond_with_data(GOV_ATOM)
    httpserver.expect_ordered_request("/g.atom").respond_with_data(GOV_ATOM.replace("如下。", "如下(已更正)。"))
    recipient = '[[recipients]]\nemail = "zhang@example.org"\nzones = ["sip"]\n'
    source = f'[[sources]]\nid = "g"\nkind = "feed"\nurl = "{httpserver.url_for("/g.atom")}"\nzone = "sip"\n'
    ctx = ctx_for(source + recipient)
    pipeline.fetch(ctx, ["g"])
    [first] = source_articles(ctx.store, "g")
    assert first.edited is None
    assert shown_updated(first).replace(microsecond=0) == datetime(2020, 10, 22, 2, 0, tzinfo=UTC)
    pipeline.fetch(ctx, ["g"])
    [edited] = source_articles(ctx.store, "g")
    assert edited.edited == edited.updated and shown_updated(edited) == edited.edited
    assert edited.article.enclosures[0].url.endswith("(定稿).pdf")
    clock.now += timedelta(minutes=1)
    _html, text, count = delivery.preview(ctx, "zhang@example.org", tmp_path / "preview")
    listed = text.read_text(encoding="utf-8")
    assert count == 1
    assert "附件:申报指南(PDF) http://ks.example.gov.cn/files/2020/%E7%94%B3%E6%8A%A5" in listed
    assert f"附件:附件2-申报表.docx(文件) {httpserver.url_for('/files/2020/')}" in listed  # relative: to the feed
    assert 'href="http://ks.example.gov.cn/files/2020/%E7%94%B3' in _html.read_text(encoding="utf-8")
