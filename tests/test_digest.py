"""Digests end to end: real SMTP server (aiosmtpd on 127.0.0.1), real SQLite and PostgreSQL, articles read
from pages by the pipeline. Exactly once is checked by what the server received and what the store says."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from lxml import html as lxml_html
from pytest_httpserver import HTTPServer

from syndicate import delivery, pipeline, status, subscriptions, web
from syndicate.app import feed_app
from syndicate.cli import cli
from syndicate.mail import Envelope, SmtpTransport
from syndicate.pipeline import Context

from .helpers import SHANGHAI, FixedClock, free_port, page, rss
from .smtp_sink import Sink, start
from .storeviews import delivered

ZONE_NAMES = {
    "xishan": ("锡山经济技术开发区", "无锡"),
    "sip": ("苏州工业园区", "苏州"),
    "wuxi-hitech": ("无锡高新技术产业开发区", "无锡"),
}
_POOL = "经济开发区园区项目企业投资合作产业发展创新科技服务建设签约招商引资制造智能医药新能源材料平台人才政策市场贸易"


def body(seed: str) -> tuple[str, str]:
    """Two paragraphs of text no other seed shares (so dedupe keeps articles apart)."""
    rnd = random.Random(seed)
    return ("".join(rnd.choice(_POOL) for _ in range(80)) + "。", "".join(rnd.choice(_POOL) for _ in range(80)) + "。")


def write(folder: Path, stem: str, zone: str, title: str | None = None, date: str = "2020-11-30") -> None:
    name, city = ZONE_NAMES[zone]
    text = page(title=title or f"{name}新闻{stem}", date=date, zone=name, city=city, body=body(stem))
    (folder / f"{stem}.txt").write_text(text, encoding="utf-8")


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    s = Sink()
    port = free_port()
    controller = start(s, port)
    try:
        yield s, port
    finally:
        s.release.set()
        controller.stop()


def mail_config(port: int, recipients: str, digest: str = "") -> str:
    return f"""
[digest]
from = "投促中国 <news@example.org>"
outbox_dir = "outbox"
{digest}

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
rate_per_minute = 100000
timeout = "5s"

{recipients}
"""


TWO = """
[[recipients]]
email = "zhang@example.org"
name = "张伟"
zones = ["xishan"]

[[recipients]]
email = "li@example.org"
name = "李娜"
cities = ["苏州"]
"""


def fetched(make_context: Callable[..., Context], port: int, articles: Path, *pages: tuple[str, str]) -> Context:
    """A context on the two-recipient config and the sink at ``port``, with these (stem, zone) article
    pages written and fetched."""
    for stem, zone in pages:
        write(articles, stem, zone)
    ctx = make_context(mail_config(port, TWO))
    pipeline.fetch(ctx)
    return ctx


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def app_client(start_server: Callable[[web.FeedApp], str]) -> Iterator[Callable[[web.FeedApp], httpx.Client]]:
    """An HTTP client of ``app`` served on loopback (the server as serve and run start it)."""
    clients: list[httpx.Client] = []

    def open_client(app: web.FeedApp) -> httpx.Client:
        clients.append(httpx.Client(base_url=start_server(app)))
        return clients[-1]

    yield open_client
    for client in clients:
        client.close()


def unsubscribe_token(msg: EmailMessage) -> str:
    """The signed token of a digest's List-Unsubscribe URL."""
    url = str(msg["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    return parse_qs(urlsplit(url).query)["token"][0]


def titles(received: list, index: int = -1) -> list[str]:  # type: ignore[type-arg]
    """The article titles listed in a received digest's HTML part."""
    html = received[index].message.get_body(("html",)).get_content()
    doc = lxml_html.fromstring(html)
    return [a.text_content() for a in doc.xpath("//a[@class='title']")]


def test_two_recipients_get_exactly_their_articles_once(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path
) -> None:
    server, port = sink
    pages = [("x1", "xishan"), ("x2", "xishan"), ("s1", "sip"), ("w1", "wuxi-hitech")]
    ctx = fetched(make_context, port, articles, *pages)
    report = delivery.digest(ctx)
    assert sorted(o.status for o in report.outcomes) == ["sent", "sent"]
    assert len(server.received) == 2
    assert sorted(titles(server.to("zhang@example.org"))) == ["锡山经济技术开发区新闻x1", "锡山经济技术开发区新闻x2"]
    assert titles(server.to("li@example.org")) == ["苏州工业园区新闻s1"]
    zhang = server.to("zhang@example.org")[0].message
    assert str(make_header(decode_header(zhang["Subject"]))) == "2020-12-01 开发区新闻日报"
    assert zhang["To"].addresses[0].addr_spec == "zhang@example.org"
    assert zhang["Date"].endswith("+0800")

    # A second run the same day sends nothing (not due again), and neither does a forced one (nothing new).
    assert [o.status for o in delivery.digest(ctx).outcomes] == []
    assert {o.status for o in delivery.digest(ctx, force=True).outcomes} == {"empty"}
    assert len(server.received) == 2
    assert len(delivered(ctx.store, "zhang@example.org")) == 2


def test_new_articles_appear_in_the_next_digest_only(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    delivery.digest(ctx)
    assert titles(server.to("zhang@example.org")) == ["锡山经济技术开发区新闻x1"]

    clock.now += timedelta(hours=3)
    write(articles, "x2", "xishan")
    pipeline.fetch(ctx)
    assert delivery.digest(ctx).outcomes == []  # already sent today
    clock.now += timedelta(days=1)
    delivery.digest(ctx)
    assert titles(server.to("zhang@example.org")) == ["锡山经济技术开发区新闻x2"]
    clock.now += timedelta(days=1)
    assert {o.status for o in delivery.digest(ctx).outcomes} == {"empty"}
    assert len(server.to("zhang@example.org")) == 2


def test_an_edited_date_or_a_duplicate_from_another_source_is_not_sent_again(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock, tmp_path: Path
) -> None:
    server, port = sink
    write(articles, "x1", "xishan", date="2020-11-30")
    partner = tmp_path / "partner"
    partner.mkdir()
    extra = f"""
[[sources]]
id = "reposts"
kind = "directory"
path = "partner"
link_template = "https://partner.example.org/{{stem}}.html"
priority = 10
{mail_config(port, TWO)}
"""
    ctx = make_context(extra)
    pipeline.fetch(ctx)
    delivery.digest(ctx)
    assert len(server.to("zhang@example.org")) == 1
    # The next day: the article's date is edited to today, and a partner re-posts the same text.
    clock.now += timedelta(days=1)
    write(articles, "x1", "xishan", date="2020-12-02")
    name, city = ZONE_NAMES["xishan"]
    (partner / "copy.txt").write_text(
        page(title="转载:锡山新闻", date="2020-12-02", zone=name, city=city, body=body("x1")), encoding="utf-8"
    )
    pipeline.fetch(ctx)
    assert {o.status for o in delivery.digest(ctx).outcomes} == {"empty"}
    assert len(server.to("zhang@example.org")) == 1


def test_smtp_down_marks_nothing_sent_and_the_next_run_delivers_once(
    make_context: Callable[..., Context], articles: Path, clock: FixedClock
) -> None:
    port = free_port()  # nothing listens yet
    write(articles, "x1", "xishan")
    ctx = make_context(
        mail_config(port, TWO.split("[[recipients]]", 2)[0] + "[[recipients]]" + TWO.split("[[recipients]]")[1])
    )
    pipeline.fetch(ctx)
    report = delivery.digest(ctx)
    assert [o.status for o in report.outcomes] == ["retry"]
    assert "cannot connect" in (report.outcomes[0].error or "")
    assert delivered(ctx.store, "zhang@example.org") == {}
    [log] = list(ctx.store.digest_log("zhang@example.org"))
    assert log["status"] == "pending" and log["attempts"] == 1

    server = Sink()
    controller = start(server, port)
    try:
        assert [o.status for o in delivery.digest(ctx).outcomes] == ["waiting"]  # its retry time has not come
        clock.now += timedelta(minutes=2)
        assert [o.status for o in delivery.digest(ctx).outcomes] == ["sent"]
        assert len(server.received) == 1
        assert server.received[0].message["Message-ID"] == log["message_id"]  # the recorded message itself
        clock.now += timedelta(minutes=2)
        assert delivery.digest(ctx, force=True).outcomes[0].status == "empty"
        assert len(server.received) == 1
    finally:
        controller.stop()


def test_a_permanent_refusal_marks_the_recipient_and_spares_the_others(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    server, port = sink
    server.refuse["zhang@example.org"] = "550 5.1.1 no such user"
    ctx = fetched(make_context, port, articles, ("x1", "xishan"), ("s1", "sip"))
    report = delivery.digest(ctx)
    by = {o.recipient: o for o in report.outcomes}
    assert by["zhang@example.org"].status == "failed"
    assert "550" in (by["zhang@example.org"].error or "")
    assert by["li@example.org"].status == "sent"
    assert report.failed
    assert ctx.store.recipients()["zhang@example.org"].failure is not None
    # Status says which of the two stopped it: this one was refused, li unsubscribed.
    subscriptions.unsubscribe(ctx, unsubscribe_token(server.to("li@example.org")[0].message))
    stopped = status.overview(ctx).stopped
    assert (
        stopped["zhang@example.org"].startswith("refused by the mail server: ")
        and "550" in stopped["zhang@example.org"]
    )
    assert stopped["li@example.org"].startswith("unsubscribed 2020-")
    clock.now += timedelta(days=1)
    assert {o.recipient: o.status for o in delivery.digest(ctx).outcomes}["zhang@example.org"] == "blocked"
    # Fixed by the operator: an explicit forced send clears the mark and delivers what was never delivered.
    server.refuse.clear()
    report = delivery.digest(ctx, "zhang@example.org", force=True)
    assert [o.status for o in report.outcomes] == ["sent"]
    assert titles(server.to("zhang@example.org")) == ["锡山经济技术开发区新闻x1"]


def test_a_temporary_refusal_is_retried(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    server, port = sink
    server.refuse["zhang@example.org"] = "450 4.2.1 mailbox busy"
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    assert {o.recipient: o.status for o in delivery.digest(ctx).outcomes}["zhang@example.org"] == "retry"
    server.refuse.clear()
    clock.now += timedelta(minutes=5)
    assert [o.status for o in delivery.digest(ctx).outcomes] == ["sent"]
    assert len(server.to("zhang@example.org")) == 1


def test_recipient_time_zones_decide_who_is_due(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    server, port = sink
    write(articles, "x1", "xishan")
    recipients = """
[[recipients]]
email = "shanghai@example.org"
zones = ["xishan"]

[[recipients]]
email = "newyork@example.org"
zones = ["xishan"]
timezone = "America/New_York"
"""
    clock.now = datetime(2020, 12, 1, 12, 30, tzinfo=SHANGHAI).replace(hour=20)  # 20:30 Shanghai, 07:30 New York
    ctx = make_context(mail_config(port, recipients))
    pipeline.fetch(ctx)
    assert [(o.recipient, o.status) for o in delivery.digest(ctx).outcomes] == [("shanghai@example.org", "sent")]
    clock.now += timedelta(minutes=31)  # 08:01 in New York
    assert [(o.recipient, o.status) for o in delivery.digest(ctx).outcomes] == [("newyork@example.org", "sent")]
    ny = server.to("newyork@example.org")[0].message
    assert str(make_header(decode_header(ny["Subject"]))).startswith("2020-12-01")  # their own local date


def test_max_items_lists_the_newest_and_counts_the_rest(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path
) -> None:
    server, port = sink
    for i, date in enumerate(["2020-11-27", "2020-11-28", "2020-11-29"]):
        write(articles, f"x{i}", "xishan", date=date)
    ctx = make_context(mail_config(port, TWO, digest="max_items = 2"))
    pipeline.fetch(ctx)
    delivery.digest(ctx)
    got = server.to("zhang@example.org")
    assert titles(got) == ["锡山经济技术开发区新闻x2", "锡山经济技术开发区新闻x1"]  # newest first
    text = got[0].message.get_body(("plain",)).get_content()
    assert "另有 1 篇未列出" in text
    assert "http://feeds.example.org/zones/xishan/" in text
    assert len(delivered(ctx.store, "zhang@example.org")) == 3  # the counted one is not sent again tomorrow


def test_thumbnails_chinese_joined_zone_links_preheader_and_no_group_with_only_an_overflow_line(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path
) -> None:
    server, port = sink
    (articles / "img.md").write_text(
        '+++\ntitle = "锡山经开区签约仪式"\npublished = 2020-11-30\nzone = "锡山经济技术开发区"\n+++\n\n'
        "![签约现场](https://img.example.org/2020/签约.jpg)\n\n请各企业负责人准时参加。\n\n会上,双方签署了投资协议。\n",
        encoding="utf-8",
    )
    write(articles, "s1", "sip", date="2020-11-29")  # another zone of zhang's: no room left for it
    config = TWO.replace('zones = ["xishan"]', 'zones = ["xishan", "sip"]', 1)
    ctx = make_context(mail_config(port, config, digest="max_items = 1"))
    pipeline.fetch(ctx)
    delivery.digest(ctx)
    [got] = server.to("zhang@example.org")
    html = got.message.get_body(("html",)).get_content()
    doc = lxml_html.fromstring(html)
    [thumb] = doc.xpath("//img")
    assert thumb.get("src") == "https://img.example.org/2020/%E7%AD%BE%E7%BA%A6.jpg"  # remote, as a URI
    assert (thumb.get("width"), thumb.get("height"), thumb.get("alt")) == ("96", "72", "锡山经开区签约仪式")
    assert not [p for p in got.message.iter_attachments()]  # never attached
    summary = doc.xpath("//div[@class='summary']")[0].text_content()
    assert "参加。会上" in summary  # no Latin space between Chinese sentences
    text = got.message.get_body(("plain",)).get_content()
    assert "参加。会上" in text
    # The zone heading links to its page; the zone with nothing listed is no heading, only a count.
    headings = doc.xpath("//td[@class='zone']")
    assert [h.text_content().strip() for h in headings] == ["锡山经济技术开发区 无锡"]
    assert headings[0].xpath(".//a/@href") == ["http://feeds.example.org/zones/xishan/"]
    [rest] = [td for td in doc.xpath("//td[@class='more']") if "篇幅所限" in td.text_content()]
    assert "苏州工业园区 1 篇" in rest.text_content()
    assert rest.xpath(".//a/@href") == ["http://feeds.example.org/zones/sip/"]
    assert "苏州工业园区 1 篇:http://feeds.example.org/zones/sip/" in text
    # The preheader: hidden, first in the body, what mail clients show beside the subject.
    [pre] = doc.xpath("//div[@class='preheader']")
    assert pre.text_content() == "2 篇新消息:锡山经开区签约仪式"
    assert "display:none" in (pre.get("style") or "").replace(" ", "")


def test_a_partner_without_a_configured_title_is_credited_by_its_feeds_name(
    make_context: Callable[..., Context], sink: tuple[Sink, int], httpserver: HTTPServer
) -> None:
    """`sip-partner` showed in 来源 and 同时报道; the name its feed gives itself shows instead."""
    server, port = sink
    item = {"title": "园区人才新政发布", "link": "http://partner.example/1.html", "guid": "p1"}
    item |= {"date": "Mon, 30 Nov 2020 09:00:00 +0800", "body": "<p>园区发布人才新政,支持青年人才创新创业。</p>"}
    httpserver.expect_request("/p.xml").respond_with_data(rss([item], title="园区动态(合作平台)"))
    source = f'[[sources]]\nid = "sip-partner"\nkind = "feed"\nurl = "{httpserver.url_for("/p.xml")}"\nzone = "sip"\n'
    ctx = make_context(mail_config(port, TWO) + source)
    pipeline.fetch(ctx)
    assert ctx.source_titles["sip-partner"] == "园区动态(合作平台)"
    delivery.digest(ctx)
    [got] = server.to("li@example.org")
    html = got.message.get_body(("html",)).get_content()
    assert "来源:园区动态(合作平台)" in html and "sip-partner" not in html
    # Another process (the daemon's next start) credits it the same way.
    assert make_context(mail_config(port, TWO) + source).source_titles["sip-partner"] == "园区动态(合作平台)"


def test_each_digest_has_a_web_copy_at_a_signed_url(
    make_context: Callable[..., Context],
    sink: tuple[Sink, int],
    articles: Path,
    app_client: Callable[[web.FeedApp], httpx.Client],
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    delivery.digest(ctx)
    [got] = server.to("zhang@example.org")
    html = got.message.get_body(("html",)).get_content()
    text = got.message.get_body(("plain",)).get_content()
    [link] = lxml_html.fromstring(html).xpath("//a[text()='在浏览器中查看']/@href")
    assert link.startswith("http://feeds.example.org/digest?token=c1.")
    assert f"网页版:{link}" in text  # the text part stays complete
    client = app_client(feed_app(ctx.config, lambda: ctx))
    r = client.get(link.replace("http://feeds.example.org", ""))
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == html  # the same content as the message's HTML part
    token = parse_qs(urlsplit(link).query)["token"][0]
    forged = token.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert client.get("/digest", params={"token": forged}).status_code == 403
    # The copy's link is no unsubscribe link, nor the other way round.
    assert client.post("/unsubscribe", params={"token": token}).status_code == 403
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    assert client.get("/digest", params={"token": unsubscribe_token(got.message)}).status_code == 403


def test_dry_run_writes_the_outbox_and_records_nothing(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, tmp_path: Path
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    report = delivery.digest(ctx, dry_run=True)
    assert {o.recipient: o.status for o in report.outcomes} == {
        "zhang@example.org": "dry-run",
        "li@example.org": "empty",
    }
    files = sorted((tmp_path / "outbox").glob("dry-run-*.eml"))
    assert len(files) == 1 and "zhang@example.org" in files[0].name
    assert server.received == []
    assert list(ctx.store.digest_log()) == []
    outcomes = {o.recipient: o.status for o in delivery.digest(ctx).outcomes}
    assert outcomes == {"zhang@example.org": "sent", "li@example.org": "empty"}  # still due: nothing was recorded


def test_forced_digest_twice_a_day_sends_only_what_is_new(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    delivery.digest(ctx)
    clock.now += timedelta(hours=1)
    write(articles, "x2", "xishan")
    pipeline.fetch(ctx)
    report = delivery.digest(ctx, "zhang@example.org", force=True)
    assert [o.status for o in report.outcomes] == ["sent"]
    assert titles(server.to("zhang@example.org")) == ["锡山经济技术开发区新闻x2"]
    assert len({r.message["Message-ID"] for r in server.received}) == len(server.received)


def test_unsubscribe_refuses_a_forged_token_and_the_real_one_stops_the_next_digest(
    make_context: Callable[..., Context],
    sink: tuple[Sink, int],
    articles: Path,
    clock: FixedClock,
    tmp_path: Path,
    app_client: Callable[[web.FeedApp], httpx.Client],
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    delivery.digest(ctx)
    msg = server.to("zhang@example.org")[0].message
    url = str(msg["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert urlsplit(url).path == "/unsubscribe"

    client = app_client(feed_app(ctx.config, lambda: ctx))  # what serve and run answer with
    forged = token.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    other = token.replace(token.split(".")[1], "bGlAZXhhbXBsZS5vcmc")  # li@example.org with zhang's signature
    for bad in (forged, other, "nonsense"):
        r = client.post("/unsubscribe", params={"token": bad}, content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 403
        # A GET with a bad token says so at once: no button that would fail after the click.
        r = client.get("/unsubscribe", params={"token": bad})
        assert r.status_code == 403 and "退订链接无效" in r.text and "<form" not in r.text
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    assert ctx.store.recipients()["li@example.org"].unsubscribed_at is None
    # A GET (a person clicking, or a mail scanner) only shows the confirmation form, naming the address
    # and the site.
    r = client.get("/unsubscribe", params={"token": token})
    assert r.status_code == 200 and '<form method="post"' in r.text
    assert "zhang@example.org" in r.text and "测试平台" in r.text
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    # RFC 8058 one-click: POST to the URL of the header.
    r = client.post(url.replace("http://feeds.example.org", ""), content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 200 and "zhang@example.org" in r.text
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is not None
    # The page offers to undo it: resubscribe with the same link, then unsubscribe again from the new page.
    page = lxml_html.fromstring(r.text)
    assert page.xpath("//input[@name='action']/@value") == ["resubscribe"]
    clock.now += timedelta(minutes=5)  # the person reads the page, then changes their mind
    r = client.post("/unsubscribe", params={"token": token}, data={"action": "resubscribe"})
    assert r.status_code == 200 and "已重新订阅" in r.text
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    again = lxml_html.fromstring(r.text).xpath("//form/@action")[0]
    r = client.post("/unsubscribe", params={"token": token}, content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 403  # the old link predates the new subscription
    r = client.post(again.replace("http://feeds.example.org", ""), content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 200 and "已退订" in r.text
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is not None

    clock.now += timedelta(days=1)
    write(articles, "x2", "xishan")
    pipeline.fetch(ctx)
    outcomes = {o.recipient: o.status for o in delivery.digest(ctx).outcomes}
    assert outcomes["zhang@example.org"] == "unsubscribed"
    assert len(server.to("zhang@example.org")) == 1


def test_one_connection_per_batch_and_the_rate_is_kept(sink: tuple[Sink, int]) -> None:
    server, port = sink
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    transport = SmtpTransport("127.0.0.1", port, "none", rate_per_minute=60, sleep=sleep, monotonic=lambda: now[0])
    for i in range(4):
        transport.send(Envelope("news@example.org", f"r{i}@example.org", b"Subject: x\r\n\r\nhello\r\n", f"m{i}"))
    transport.close()
    assert len(server.received) == 4
    assert transport.connections == 1 and server.sessions == 1
    assert slept == [1.0, 1.0, 1.0]  # 60 a minute: one a second


def test_outbox_files_without_smtp_and_preview_through_the_cli(
    write_config: Callable[..., Path], db_url: str, articles: Path, tmp_path: Path
) -> None:
    write(articles, "x1", "xishan", title="锡山<b>新闻</b> & 更多")
    config = write_config(
        TWO.replace("[[recipients]]", '[digest]\noutbox_dir = "outbox"\n\n[[recipients]]', 1), db_url=db_url
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "fetch"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(config), "digest", "preview", "zhang@example.org"])
    assert result.exit_code == 0, result.output
    html_path, text_path = (Path(p) for p in result.stdout.split())
    assert "锡山<b>新闻</b> & 更多" in text_path.read_text(encoding="utf-8")
    preview = lxml_html.fromstring(html_path.read_text(encoding="utf-8"))
    assert preview.xpath("//b") == []
    assert "1 article new to zhang@example.org" in result.stderr
    result = runner.invoke(cli, ["--config", str(config), "digest", "--force"])
    assert result.exit_code == 0, result.output
    assert "1 digest sent, 1 nothing new" in result.stdout  # counts that read right
    # Run again: nothing is due, and it says who is due when and how to see a digest now.
    result = runner.invoke(cli, ["--config", str(config), "digest"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "0 digests sent" in result.stdout
    assert re.search(r"nothing due now; next: li@example.org at \d{4}-\d\d-\d\d 08:00 CST; zhang@", result.stdout)
    assert "to see a digest now: syndicate digest --dry-run --force" in result.stdout
    files = sorted((tmp_path / "outbox").glob("*zhang@example.org.eml"))
    assert len(files) == 1
    import email
    import email.policy

    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "zhang@example.org"
    assert "锡山<b>新闻</b> & 更多" in msg.get_body(("plain",)).get_content()
    result = runner.invoke(cli, ["--config", str(config), "digest", "--force"])
    assert len(sorted((tmp_path / "outbox").glob("*.eml"))) == 1  # nothing new: nothing written


def test_check_names_a_recipients_unknown_zone_and_city(write_config: Callable[..., Path]) -> None:
    config = write_config(
        """
[[recipients]]
email = "a@example.org"
zones = ["nowhere"]

[[recipients]]
email = "b@example.org"
cities = ["atlantis"]
"""
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2
    assert "recipients[0].zones: 'nowhere' is no zone slug" in result.output
    assert "recipients[1].cities: 'atlantis' is no city of a zone" in result.output


def test_a_crash_between_recording_and_sending_delivers_exactly_once_after_restart(
    write_config: Callable[..., Path], db_url: str, sink: tuple[Sink, int], articles: Path
) -> None:
    server, port = sink
    write(articles, "x1", "xishan")
    config = write_config(mail_config(port, TWO.split('\n[[recipients]]\nemail = "li')[0]), db_url=db_url)
    server.hold = True
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "syndicate", "--config", str(config), "fetch"], env=env)
    assert proc.wait(timeout=60) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--config", str(config), "digest", "--force"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.entered.wait(timeout=60), "the digest never reached the server"
        os.kill(proc.pid, signal.SIGKILL)  # recorded, handed to the server, not yet accepted
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    server.hold = False
    server.release.set()
    time.sleep(0.1)
    assert server.received == []

    from syndicate.config import load_config

    with Context.open(load_config(config)) as ctx:
        [recorded] = list(ctx.store.digest_log())
        assert recorded["status"] == "pending"
        report = delivery.digest(ctx)
        assert [o.status for o in report.outcomes if o.status == "sent"] == ["sent"]
        assert len(server.received) == 1
        assert server.received[0].message["Message-ID"] == recorded["message_id"]
        assert {o.status for o in delivery.digest(ctx, force=True).outcomes} == {"empty"}
        assert len(server.received) == 1


def test_an_old_link_replayed_after_resubscribing_is_refused(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock, tmp_path: Path
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    delivery.digest(ctx)
    msg = server.to("zhang@example.org")[0].message
    token = unsubscribe_token(msg)
    assert subscriptions.unsubscribe(ctx, token) == "zhang@example.org"
    assert subscriptions.unsubscribe(ctx, token) == "zhang@example.org"  # again: nothing changes
    clock.now += timedelta(hours=1)
    subscriptions.resubscribe(ctx, "zhang@example.org")  # what `digest --recipient EMAIL --resubscribe` does
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    with pytest.raises(ValueError, match="before the latest subscription"):
        subscriptions.unsubscribe(ctx, token)  # the old link, replayed
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    clock.now += timedelta(days=1)
    write(articles, "x2", "xishan")
    pipeline.fetch(ctx)
    assert {o.recipient: o.status for o in delivery.digest(ctx).outcomes}["zhang@example.org"] == "sent"
    # The new digest's own link works.
    msg = server.to("zhang@example.org")[-1].message
    fresh = unsubscribe_token(msg)
    assert subscriptions.unsubscribe(ctx, fresh) == "zhang@example.org"


def test_an_expired_link_is_refused(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    server, port = sink
    write(articles, "x1", "xishan")
    ctx = make_context(mail_config(port, TWO, digest='unsubscribe_max_age = "30d"'))
    pipeline.fetch(ctx)
    delivery.digest(ctx)
    msg = server.to("zhang@example.org")[0].message
    token = unsubscribe_token(msg)
    clock.now += timedelta(days=31)
    with pytest.raises(ValueError, match="expired"):
        subscriptions.unsubscribe(ctx, token)
    assert ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None


def test_unsubscribe_pages_come_from_the_template_and_work_on_a_phone(
    tmp_path: Path, app_client: Callable[[web.FeedApp], httpx.Client]
) -> None:
    class Fake:
        """Answers as the app does: every token but ``x`` names zhang."""

        def answer(self, path: str, method: str, query: dict, form: dict, client: str) -> web.Answer:  # type: ignore[type-arg]
            token = query.get("token", "")
            if not token:
                return web.Answer(400, "notice", {"page": "missing"})
            if token == "x":
                return web.Answer(403, "unsubscribe", {"page": "invalid", "reason": "签名不符"})
            page = "done" if method == "POST" else "confirm"
            return web.Answer(200, "unsubscribe", {"page": page, "email": "zhang@example.org", "action": token})

    client = app_client(web.FeedApp(tmp_path, selfservice=Fake(), site_title="测试平台"))
    r = client.get("/unsubscribe", params={"token": 'a"b<c>'})
    assert r.status_code == 200 and r.headers["x-robots-tag"] == "noindex"
    assert 'name="viewport"' in r.text and "<title>退订每日新闻摘要 · 测试平台</title>" in r.text
    assert 'action="a&#34;b&lt;c&gt;"' in r.text  # escaped, never raw markup
    r = client.post("/unsubscribe", params={"token": "x"})
    assert r.status_code == 403 and "签名不符" in r.text and "<h1>退订链接无效</h1>" in r.text
    assert client.get("/unsubscribe", params={"token": "x"}).status_code == 403
    assert client.get("/unsubscribe").status_code == 400
    # An operator's own digest templates folder may carry its own page.
    own = tmp_path / "own"
    own.mkdir()
    (own / "unsubscribe.html.j2").write_text("<p>{{ page }}:{{ email }}</p>\n", encoding="utf-8")
    own_client = app_client(web.FeedApp(tmp_path, selfservice=Fake(), templates=own))
    assert own_client.post("/unsubscribe", params={"token": "t"}).text == "<p>done:zhang@example.org</p>\n"


def test_choosing_for_many_recipients_at_once_gives_each_what_choosing_alone_gives(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    _, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"), ("s1", "sip"), ("w1", "wuxi-hitech"))
    delivery.digest(ctx)  # deliveries now exist for both
    clock.now += timedelta(hours=2)
    write(articles, "x2", "xishan")
    write(articles, "s2", "sip")
    pipeline.fetch(ctx)
    since = clock.now - timedelta(days=2)
    wanted = [
        ("zhang@example.org", since, ("xishan",), ()),
        ("li@example.org", since, ("sip",), ()),
        ("wang@example.org", clock.now - timedelta(hours=1), ("xishan", "wuxi-hitech"), ()),  # no deliveries
        ("zhao@example.org", since, (), ()),  # follows nothing
    ]
    many = ctx.store.digest_candidates_many(wanted)
    for email, after, zones, categories in wanted:
        alone = ctx.store.digest_candidates(email, after, zones, categories)
        assert [a.id for a in many[email]] == [a.id for a in alone], email
    assert [a.article.title for a in many["zhang@example.org"]] == ["锡山经济技术开发区新闻x2"]  # x1 was delivered
    assert {a.article.title for a in many["wang@example.org"]} == {"锡山经济技术开发区新闻x2"}
    assert many["zhao@example.org"] == []


def test_digests_recorded_together_survive_one_taken_by_another_run(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path, clock: FixedClock
) -> None:
    from syndicate.store import ComposedDigest

    _, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"))
    now = clock.now
    window = (now - timedelta(days=1), now)

    def composed(email: str) -> ComposedDigest:
        return ComposedDigest(email, window, None, f"<{email}>", b"message", [])

    (first,) = ctx.store.record_digests([composed("zhang@example.org")], now)
    assert first is not None
    # Another run recorded zhang's digest of this window first: li's is recorded all the same.
    taken, li = ctx.store.record_digests([composed("zhang@example.org"), composed("li@example.org")], now)
    assert taken is None and li is not None
    pending = {d.recipient for d in ctx.store.pending_digests(now)}
    assert pending == {"zhang@example.org", "li@example.org"}
    assert len([d for d in ctx.store.digest_log() if d["recipient"] == "zhang@example.org"]) == 1


class _StopsAfter:
    """A real SMTP transport whose process stops (as on SIGINT) before handing over its ``n+1``-th
    message: the messages before it were accepted, and nothing after runs."""

    def __init__(self, inner: SmtpTransport, n: int) -> None:
        self.inner, self.left = inner, n

    def send(self, envelope: Envelope) -> str:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.send(envelope)

    def close(self) -> None:
        self.inner.close()


def test_a_stop_after_the_server_accepted_a_digest_settles_it_and_sends_it_never_again(
    make_context: Callable[..., Context], sink: tuple[Sink, int], articles: Path
) -> None:
    server, port = sink
    ctx = fetched(make_context, port, articles, ("x1", "xishan"), ("s1", "sip"))
    stopping = _StopsAfter(SmtpTransport("127.0.0.1", port, "none"), 1)
    with pytest.raises(KeyboardInterrupt):
        delivery.digest(ctx, transport=stopping)
    stopping.close()
    [first] = server.received
    first_to = str(first.message["To"]).rsplit("<", 1)[1].rstrip(">")
    assert delivered(ctx.store, first_to) == {}  # accepted: its deliveries wait for the batch to settle

    report = delivery.digest(ctx)  # the next run settles it first, then sends the other
    assert {o.recipient: o.status for o in report.outcomes if o.status == "sent"}.keys() == (
        {"zhang@example.org", "li@example.org"} - {first_to}
    )
    assert len(server.received) == 2
    assert {d["recipient"]: d["status"] for d in ctx.store.digest_log()} == {
        "zhang@example.org": "sent",
        "li@example.org": "sent",
    }
    for email in ("zhang@example.org", "li@example.org"):
        assert len(delivered(ctx.store, email)) == 1
    # Nothing is new to either: the settled digest's story is not sent again, even when forced.
    assert {o.status for o in delivery.digest(ctx, force=True).outcomes} == {"empty"}
    assert len(server.received) == 2
