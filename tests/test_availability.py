"""No partner, stored article or client stops the service: each hostile input beside a good one, the good
one still fetched, published and served, the bad one recorded with its reason. (The hostile feed corpus
runs in test_hostile.py; these are the cases that need more than one document or poll, another kind of
source, the server, or the command line.)"""

from __future__ import annotations

import dataclasses
import gzip
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import brotli
import feedparser
import httpx
import pytest
from click.testing import CliRunner
from lxml import etree
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syndicate import pipeline, web
from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.exceptions import ConfigError
from syndicate.pipeline import Context
from syndicate.publish import FeedItem, FeedSpec, SiteInfo, build_atom, build_json, build_rss
from syndicate.publish.feeds import EntryCache
from syndicate.sources import health
from syndicate.sources.feed import FeedDefaults, parse_feed
from syndicate.text import MAX_DEPTH, limit_nesting, sanitize_html
from syndicate.types import Article, SourceResult, SourceState
from syndicate.urls import is_private_address, may_reach_private

from .helpers import SHANGHAI, FixedClock, page, rss
from .storeviews import source_articles

GOOD = [{"title": "正常新闻", "link": "http://good.example/1.html", "guid": "g1", "body": "<p>正常正文。</p>"}]
NOW = datetime(2020, 10, 20, 2, 0, tzinfo=UTC)


def feed_source(source_id: str, url: str, extra: str = "") -> str:
    return f'[[sources]]\nid = "{source_id}"\nkind = "feed"\nurl = "{url}"\nzone = "xishan"\n{extra}\n'


def xml_feeds(ctx: Context) -> list[Path]:
    out = ctx.config.publish.output_dir
    return sorted(out.rglob("*.xml"))  # subscription documents and archives


# -- 1. characters XML cannot carry ----------------------------------------------------------------------


def test_control_characters_from_every_kind_of_source_never_stop_publishing(
    ctx_for: Callable[..., Context], tmp_path: Path, httpserver: HTTPServer
) -> None:
    hostile = rss([{"title": "标题&#1;一", "link": "http://h.example/1", "guid": "h1", "body": "正文&#x8;&#xFFFE;",
                    "author": "作者&#x1b;"}])  # fmt: skip
    httpserver.expect_request("/h").respond_with_data(hostile, content_type="application/rss+xml")
    httpserver.expect_request("/good").respond_with_data(rss(GOOD), content_type="application/rss+xml")
    ctx = ctx_for(feed_source("hostile", httpserver.url_for("/h")) + feed_source("good", httpserver.url_for("/good")))
    (tmp_path / "articles" / "md.md").write_text(
        '+++\ntitle = "前言\\u0001标题"\npublished = 2020-10-19\nzone = "锡山经济技术开发区"\n'
        'source = "来源\\u0008"\n+++\n正文内容。\n',
        encoding="utf-8",
    )
    (tmp_path / "articles" / "page.txt").write_text(page(title="页面标题"), encoding="utf-8")
    reports = {r.source_id: r for r in pipeline.fetch(ctx)}
    assert (reports["hostile"].new, reports["good"].new, reports["local"].new) == (1, 1, 2)
    report = pipeline.publish(ctx)
    assert report.unwritable == {}
    titles = set()
    for path in xml_feeds(ctx):
        etree.fromstring(path.read_bytes())  # lxml refuses a document with a control character
        titles |= {e.title for e in feedparser.parse(path.read_bytes()).entries}
    assert {"标题一", "前言标题", "正常新闻", "页面标题"} <= titles
    for stored in source_articles(ctx.store, "hostile") + source_articles(ctx.store, "local"):
        a = stored.article
        assert not any(ord(c) < 32 and c not in "\t\n\r" for c in a.title + a.body_html + a.author)


def test_an_item_that_still_cannot_be_written_is_left_out_and_reported() -> None:
    """The last line of defence: whatever slipped past cleaning is one skipped item, not a failed document."""
    site = SiteInfo("测试", "http://feeds.example.org/", "zh-CN", SHANGHAI, "0")
    when = datetime(2020, 10, 19, tzinfo=SHANGHAI)
    good = FeedItem("urn:uuid:good", "好", "http://x.example/1", when, when, "s", "<p>b</p>")
    bad = FeedItem("urn:uuid:bad", "坏", "http://x.example/2", when, when, "s", "<p>b</p>")
    object.__setattr__(bad, "title", "坏\x01")  # as if cleaning had missed it
    cache = EntryCache(SHANGHAI)
    spec = FeedSpec("all", "全部", "d")
    assert [i.guid for i in cache.writable([good, bad])] == ["urn:uuid:good"]
    for build in (build_rss, build_atom):
        doc = build(spec, site, [good, bad], when, cache=cache)
        assert [e.id for e in feedparser.parse(doc).entries] == ["urn:uuid:good"]
    assert b"urn:uuid:bad" not in build_json(spec, site, [good, bad], when, cache=cache)
    assert set(cache.failed) == {"urn:uuid:bad"}


def test_every_text_field_of_an_article_is_cleaned() -> None:
    a = Article("s", "k", "t\x01", "http://x.example/\x08", NOW, "<p>\x1b</p>", author="a\x00",
                zone_names=("z\x0b",), city="c\x0c", category="k\ufffe", tags=("t\uffff",))  # fmt: skip
    assert (a.title, a.link, a.body_html, a.author) == ("t", "http://x.example/", "<p></p>", "a")
    assert (a.zone_names, a.city, a.category, a.tags) == (("z",), "c", "k", ("t",))
    assert sanitize_html("<p>a&#1;b&#x1b;c&#xFFFE;d</p>") == "<p>abcd</p>"


# -- 2. a source that raises ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        OverflowError("date value out of range"),
        socket.gaierror(-2, "Name or service not known"),
        ValueError("invalid literal for int()"),
        RuntimeError("anything else"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_whatever_a_read_raises_becomes_that_sources_failure_with_backoff(
    ctx_for: Callable[..., Context], error: Exception
) -> None:
    ctx = ctx_for(feed_source("p", "http://p.example/feed") + feed_source("q", "http://q.example/feed"))
    src = ctx.config.source("p")

    @dataclasses.dataclass
    class Raising:  # a source handed to the pipeline in place of the configured one
        id: str
        local: bool

        def read(self, stored: SourceState | None, now: datetime) -> SourceResult | Awaitable[SourceResult]:
            if self.local:  # a local read raises directly ...
                raise error

            async def later() -> SourceResult:  # ... a network read raises when awaited
                raise error

            return later()

    for local in (True, False):
        reports = pipeline.fetch(ctx, ["p", "q"], open_source=lambda s, local=local: Raising(s.id, local))
        assert [r.status for r in reports] == ["error", "error"]  # both failed, each on its own
        assert type(error).__name__ in reports[0].errors[0]
        state = ctx.store.source_states()["p"]
        assert state.last_error_kind == "internal"
        assert state.next_due == ctx.clock() + src.interval * 2**state.consecutive_errors  # backed off like any failure
    assert state.consecutive_errors == 2


def test_odd_retry_after_values_are_read_safely() -> None:
    assert health.retry_after("99999999999999", NOW) == timedelta(days=365)
    assert health.retry_after("\u00b2", NOW) is None
    assert health.retry_after("120", NOW) == timedelta(seconds=120)
    assert health.retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) == timedelta(days=365)


def test_an_unresolvable_host_is_recorded_on_its_source(
    ctx_for: Callable[..., Context], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/good").respond_with_data(rss(GOOD), content_type="application/rss+xml")
    ctx = ctx_for(
        feed_source("gone", "http://feed.partner.invalid/rss.xml") + feed_source("good", httpserver.url_for("/good"))
    )
    reports = {r.source_id: r for r in pipeline.fetch(ctx)}
    assert reports["good"].new == 1
    assert "cannot resolve feed.partner.invalid" in reports["gone"].errors[0]
    state = ctx.store.source_states()["gone"]
    assert state.consecutive_errors == 1 and state.next_due is not None and state.next_due > NOW


# -- 3. compressed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw", "br"])
def test_compressed_bodies_are_read_and_capped(
    ctx_for: Callable[..., Context], httpserver: HTTPServer, coding: str
) -> None:
    doc = rss(GOOD)
    packed = {
        "gzip": lambda d: gzip.compress(d),
        "deflate": lambda d: zlib.compress(d),
        "deflate-raw": lambda d: zlib.compress(d)[2:-4],
        "br": lambda d: brotli.compress(d),
    }[coding]
    header = coding.removesuffix("-raw")
    bomb = packed(b"<rss>" + b" " * (8 * 1024 * 1024))
    httpserver.expect_request("/ok").respond_with_data(packed(doc), headers={"Content-Encoding": header})
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": header})
    ctx = ctx_for(
        feed_source("ok", httpserver.url_for("/ok"))
        + feed_source("bomb", httpserver.url_for("/bomb"), "max_bytes = 1048576")
    )
    reports = {r.source_id: r for r in pipeline.fetch(ctx)}
    assert reports["ok"].new == 1
    assert reports["bomb"].errors == ("too_large: body exceeds the limit of 1048576 bytes",)


def test_a_content_encoding_we_do_not_know_is_read_as_the_plain_body_it_is(
    ctx_for: Callable[..., Context], httpserver: HTTPServer
) -> None:
    """Misconfigured servers label plain bodies "Content-Encoding: UTF-8" or "none"; readers ignore it."""
    for n, label in enumerate(("UTF-8", "none", "identity")):
        httpserver.expect_request(f"/{n}").respond_with_data(rss(GOOD), headers={"Content-Encoding": label})
    ctx = ctx_for("".join(feed_source(f"s{n}", httpserver.url_for(f"/{n}")) for n in range(3)))
    reports = pipeline.fetch(ctx, ["s0", "s1", "s2"])
    assert [(r.new, r.errors) for r in reports] == [(1, ())] * 3


@pytest.mark.parametrize("body", ["<![CDATA[" + "长" * 1_500_000 + "]]>", "甲&amp;" * 400_000], ids=["cdata", "refs"])
def test_a_text_run_over_a_million_characters_is_cut_and_the_document_stays_well_formed(body: str) -> None:
    doc = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>h</title>'
        f"<link>http://h.example/</link><item><title>长</title><link>http://h.example/1</link>"
        f"<description>{body}</description></item><item><title>第二条</title><link>http://h.example/2</link>"
        "<description>正文</description></item></channel></rss>"
    ).encode()
    parsed = parse_feed(doc, None, FeedDefaults("h", "http://h.example/", SHANGHAI, NOW))
    assert parsed.warnings == ()  # neither a reference nor a CDATA section was cut open
    assert [a.title for a in parsed.articles] == ["长", "第二条"]
    assert 999_000 < len(parsed.articles[0].body_html) <= 1_000_000


# -- 4. nesting ----------------------------------------------------------------------------------------


def test_nesting_is_bounded_and_shallow_markup_left_as_it_is() -> None:
    shallow = "<div><ul><li><p>一</p></li></ul></div>" * 200
    assert limit_nesting(shallow) is shallow
    deep = "<div>" * 5000 + "文字" + "</div>" * 5000
    limited = limit_nesting(deep)
    assert "文字" in limited
    assert limited.count("<div>") == MAX_DEPTH
    assert limited.count("</div>") == MAX_DEPTH
    assert sanitize_html(deep).count("<div>") == MAX_DEPTH
    # Implied end tags do not count as nesting: a thousand unclosed <p> or <li> are siblings.
    siblings = "<ul>" + "<li>项" * 1000 + "</ul>" + "<p>段" * 1000
    assert limit_nesting(siblings) is siblings


# -- 5. private networks -------------------------------------------------------------------------------


def test_private_addresses_are_reached_only_by_sources_configured_with_one() -> None:
    assert may_reach_private("http://127.0.0.1:8000/feed")
    assert may_reach_private("http://localhost/feed")
    assert may_reach_private("http://[::1]/feed")
    assert not may_reach_private("http://partner.example/feed")  # a name: whatever it resolves to later
    assert not may_reach_private("http://93.184.216.34/feed")
    assert may_reach_private("http://cms.intranet/feed", ["cms.intranet"])
    assert may_reach_private("http://10.1.2.3/feed", ["10.1.0.0/16"])
    assert not may_reach_private("http://partner.example/feed", ["10.1.0.0/16"])
    for embedded in ("::127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "64:ff9b::a00:1"):
        assert is_private_address(embedded), embedded
    for public in ("64:ff9b::808:808", "2002:808:808::1", "8.8.8.8", "2606:4700::1111"):
        assert not is_private_address(public), public


def test_a_saved_redirect_cannot_lead_a_public_source_inside_on_a_later_poll(ctx_for: Callable[..., Context]) -> None:
    """127.0.0.2 plays the partner's public host. It moves its feed (301) to a name it controls, 127.0.0.3,
    public on the first poll; before the second, that name resolves to a private address (the rule below
    changes). The saved URL must not be fetched then."""
    private_now: set[str] = {"127.0.0.1"}
    partner, moved = HTTPServer(host="127.0.0.2"), HTTPServer(host="127.0.0.3")
    partner.start()
    moved.start()
    try:
        partner.expect_request("/f").respond_with_data("", status=301, headers={"Location": moved.url_for("/f")})
        moved.expect_request("/f").respond_with_data(rss(GOOD), content_type="application/rss+xml")
        clock = FixedClock(NOW)
        ctx = ctx_for(feed_source("p", partner.url_for("/f")), clock, is_private=lambda ip: ip in private_now)
        [first] = pipeline.fetch(ctx, ["p"])
        assert first.new == 1
        assert ctx.store.source_states()["p"].url == moved.url_for("/f")
        private_now.add("127.0.0.3")  # the name now resolves inside
        clock.now += timedelta(hours=1)
        [second] = pipeline.fetch(ctx, ["p"])
        assert second.failed
        assert "private network" in second.errors[0]
    finally:
        partner.stop()
        moved.stop()


# -- 10. partner text in terminal tables ---------------------------------------------------------------


def test_partner_text_is_shown_as_text_in_every_table(
    write_config: Callable[..., Path], httpserver: HTTPServer
) -> None:
    reason = "Busy [/x] [link=http://evil.example/]click[/link] [bold red]alarm[/]"

    def busy(_request: Request) -> Response:
        return Response("busy", status=f"503 {reason}")

    httpserver.expect_request("/busy").respond_with_handler(busy)
    httpserver.expect_request("/titled").respond_with_data(
        rss([{"title": "[bold red]标题[/] [/x]", "link": "http://t.example/1", "guid": "t1", "body": "<p>正文</p>"}])
    )
    path = write_config(
        feed_source("busy", httpserver.url_for("/busy")) + feed_source("titled", httpserver.url_for("/titled"))
    )
    runner = CliRunner()
    runner.invoke(cli, ["--config", str(path), "fetch"])
    for command in ("sources", "status"):
        result = runner.invoke(cli, ["--config", str(path), command], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        if command == "sources":
            assert "[/x] [link=http://evil.example/]click[/link]" in result.stdout
            assert "[bold red]alarm[/]" in result.stdout


# -- 8, 9, 14. the server ------------------------------------------------------------------------------


@pytest.fixture
def served(write_config: Callable[..., Path], tmp_path: Path) -> Iterator[Context]:
    path = write_config()
    (tmp_path / "articles" / "a.txt").write_text(page(body=("很长的正文。" * 400,)), encoding="utf-8")
    ctx = Context.open(load_config(path))
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    yield ctx
    ctx.close()


def test_every_spelling_of_a_path_shares_one_cached_copy(served: Context, start_server: Callable[..., str]) -> None:
    app = web.FeedApp(served.config.publish.output_dir)
    base = start_server(app)
    spellings = ["/all/rss.xml", "//all/rss.xml", "/all//rss.xml", "/all/rss.xml/", "///all///rss.xml//"]
    bodies = {httpx.get(base + p).content for p in spellings}
    assert len(bodies) == 1
    one = app.cached_bytes
    assert one > 0
    for n in range(50):
        httpx.get(base + "/" * (n + 2) + "all/rss.xml")
    assert app.cached_bytes == one


def test_the_cache_is_bounded_by_bytes(served: Context, start_server: Callable[..., str]) -> None:
    out = served.config.publish.output_dir
    sizes = [(out / p).stat().st_size for p in ("all/rss.xml", "all/atom.xml", "all/feed.json")]
    app = web.FeedApp(out, cache_bytes=max(sizes) * 2)
    base = start_server(app)
    for p in ("/all/rss.xml", "/all/atom.xml", "/all/feed.json", "/zones/xishan/rss.xml", "/index.html"):
        assert httpx.get(base + p, headers={"Accept-Encoding": "identity"}).status_code == 200
        assert app.cached_bytes <= max(sizes) * 2


def test_gzip_refused_by_q_zero_and_future_if_modified_since(served: Context, start_server: Callable[..., str]) -> None:
    base = start_server(web.FeedApp(served.config.publish.output_dir))
    url = base + "/all/rss.xml"
    for refused in ("gzip;q=0", "gzip; q=0.0, identity", "*;q=0", "br"):
        r = httpx.get(url, headers={"Accept-Encoding": refused})
        assert "content-encoding" not in r.headers, refused
    for accepted in ("gzip", "gzip;q=0.5", "deflate, *"):
        assert httpx.get(url, headers={"Accept-Encoding": accepted}).headers["content-encoding"] == "gzip"
    future = format_datetime(datetime.now(UTC) + timedelta(days=365), usegmt=True)
    assert httpx.get(url, headers={"If-Modified-Since": future}).status_code == 200
    past_modified = httpx.get(url).headers["last-modified"]
    assert httpx.get(url, headers={"If-Modified-Since": past_modified}).status_code == 304


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_that_says_nothing_is_closed(served: Context, start_server: Callable[..., str]) -> None:
    base = start_server(web.FeedApp(served.config.publish.output_dir), head_timeout=0.5)
    with _connect(base) as idle, _connect(base) as slow:
        slow.sendall(b"GET /all/rss.xml HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert _read_all(idle) == b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        assert _read_all(slow).startswith(b"HTTP/1.1 408 ")
    assert httpx.get(base + "/all/rss.xml").status_code == 200  # the server itself goes on


def test_an_oversized_request_head_is_refused(served: Context, start_server: Callable[..., str]) -> None:
    base = start_server(web.FeedApp(served.config.publish.output_dir))
    with _connect(base) as s:
        # A head just over the limit, sent whole: the server reads all of it before it answers, so the
        # answer is not lost to a reset.
        s.sendall(b"GET /all/rss.xml HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 70_000 + b"\r\n")
        answer = _read_all(s)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert httpx.get(base + "/all/rss.xml").status_code == 200


def test_connections_beyond_the_limit_get_503(served: Context, start_server: Callable[..., str]) -> None:
    base = start_server(web.FeedApp(served.config.publish.output_dir), max_connections=2)
    with _connect(base) as a, _connect(base) as b:
        time.sleep(0.2)  # both accepted and counted
        r = httpx.get(base + "/all/rss.xml")
        assert r.status_code == 503
        a.close()
        b.close()
    deadline = time.monotonic() + 5
    while httpx.get(base + "/all/rss.xml").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)


_EXHAUST = """
import os, resource, sys
from syndicate.config import load_config
from syndicate.exceptions import StoreError
from syndicate.store import Store
store = Store(load_config(sys.argv[1]).database.url)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))  # as a thousand idle clients would
except OSError:
    pass
try:
    store.schema_state()
except StoreError as e:
    print(e)
"""


def test_running_out_of_file_descriptors_is_named_as_such(write_config: Callable[..., Path]) -> None:
    """It read "the database was written by a newer version" (the migration scripts could not be opened)."""
    done = subprocess.run(
        [sys.executable, "-c", _EXHAUST, str(write_config())], capture_output=True, text=True, timeout=60
    )
    assert "too many open files" in done.stdout, done.stdout + done.stderr
    assert "newer version" not in done.stdout


def test_a_sources_deadline_starts_with_its_own_request(
    ctx_for: Callable[..., Context], httpserver: HTTPServer
) -> None:
    """With one request at a time, a source waiting its turn behind a slow partner is not timed out for
    the wait: its deadline (1 s) starts when its request does."""

    def slow(_request: Request) -> Response:
        time.sleep(1.5)
        return Response(rss(GOOD), content_type="application/rss+xml")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    other = HTTPServer(host="127.0.0.3")
    other.start()
    try:
        other.expect_request("/fast").respond_with_data(rss(GOOD), content_type="application/rss+xml")
        ctx = ctx_for(
            "[fetch]\nconcurrency = 1\n"
            + feed_source("slow", httpserver.url_for("/slow"), 'timeout = "10s"')
            + feed_source("fast", other.url_for("/fast"), 'timeout = "1s"'),
            is_private=lambda ip: False,
        )
        reports = {r.source_id: r for r in pipeline.fetch(ctx, ["slow", "fast"])}
    finally:
        other.stop()
    assert not reports["slow"].failed and not reports["fast"].failed, reports


# -- 11, 12. the local store ---------------------------------------------------------------------------


def test_the_local_store_reads_only_its_own_regular_files(ctx_for: Callable[..., Context], tmp_path: Path) -> None:
    ctx = ctx_for("")
    articles = tmp_path / "articles"
    secret = tmp_path / "secret.txt"
    secret.write_text(page(title="不应读取的秘密"), encoding="utf-8")
    (articles / "good.txt").write_text(page(title="正常文章"), encoding="utf-8")
    (articles / "out.txt").symlink_to(secret)
    (articles / "inside.txt").symlink_to(articles / "good.txt")  # a link inside the folder is fine
    os.mkfifo(articles / "pipe.md")
    bad_name = os.fsencode(articles) + b"/\xff\xfe.md"
    with open(bad_name, "wb") as f:
        f.write('+++\ntitle = "名"\npublished = 2020-10-19\nlink = "http://x.example/1"\n+++\n正文\n'.encode())
    (articles / "script.md").write_text(
        '+++\ntitle = "脚本链接"\npublished = 2020-10-19\nlink = "javascript:alert(1)"\n+++\n正文\n', encoding="utf-8"
    )
    [report] = pipeline.fetch(ctx)
    titles = sorted(a.article.title for a in source_articles(ctx.store, "local"))
    assert titles == ["正常文章", "正常文章"]
    problems = "\n".join(report.errors)
    assert "out.txt: a symbolic link out of the folder" in problems
    assert "pipe.md: not a regular file" in problems
    assert "file name is not UTF-8" in problems
    assert "script.md: field link: must be an absolute http(s) URL" in problems


# -- 13. recipients ------------------------------------------------------------------------------------


def test_header_injection_and_international_addresses_are_decided_at_check(write_config: Callable[..., Path]) -> None:
    def recipient(email: str, name: str = "") -> str:
        return f'[[recipients]]\nemail = "{email}"\nname = "{name}"\nzones = ["xishan"]\n'

    for extra, key in (
        (recipient("a@example.org", "张三\\r\\nBcc: x@evil.example"), "recipients[0].name"),
        ('[digest]\nsubject = "{date} 日报\\nBcc: x@evil.example"\n', "digest.subject"),
        (recipient("用户@例子.中国"), "recipients[0].email"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(write_config(extra))
        assert key in str(caught.value)
    config = load_config(write_config(recipient("zhang@例子.中国")))
    assert config.recipients[0].email == "zhang@xn--fsqu00a.xn--fiqs8s"


# -- what the W3C validator asks of the documents such input makes -------------------------------------


def test_plain_text_is_never_taken_for_markup_and_empty_bodies_are_left_out() -> None:
    site = SiteInfo("测试", "http://feeds.example.org/", "zh-CN", SHANGHAI, "0")
    when = datetime(2020, 10, 19, tzinfo=SHANGHAI)
    item = FeedItem("urn:uuid:t", "甲 & 乙 <b>", "http://x.example/1", when, when, "甲 & 乙 <b> &lol9;", "")
    spec = FeedSpec("all", "全部", "d")
    rss_doc = build_rss(spec, site, [item], when)
    entry = etree.fromstring(rss_doc).find("channel/item")
    assert entry is not None
    # The description is HTML: the plain-text summary arrives escaped, so a reader shows it as written.
    assert entry.findtext("description") == "甲 &amp; 乙 &lt;b> &amp;lol9;"
    assert entry.findtext("title") == "甲 & 乙 <b>"
    assert b"<title>\xe7\x94\xb2 &#x26; \xe4\xb9\x99 &#x3C;b&gt;</title>" in rss_doc  # hex references in titles
    assert entry.find("{http://purl.org/rss/1.0/modules/content/}encoded") is None
    atom_entry = etree.fromstring(build_atom(spec, site, [item], when)).find("{http://www.w3.org/2005/Atom}entry")
    assert atom_entry is not None and atom_entry.find("{http://www.w3.org/2005/Atom}content") is None
    [json_item] = __import__("json").loads(build_json(spec, site, [item], when))["items"]
    assert "content_html" not in json_item and json_item["content_text"] == "甲 & 乙 <b> &lol9;"


def test_references_to_nothing_visible_are_dropped_not_turned_into_replacement_characters() -> None:
    assert (
        sanitize_html("<p>原&#0;样&#xD800;的&#1;引&#99999999;用&#x26;&#150;&#x1F600;</p>")
        == "<p>原样的引用&amp;–😀</p>"
    )
