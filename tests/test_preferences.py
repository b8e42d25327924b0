"""Recipients manage their own subscriptions: the preferences page behind every digest, pause and resume,
sign-up with a confirmation mail, unsubscribe and resubscribe, and the form tokens that keep other sites
out. A real Chromium (Debian's package, driven by Playwright) against `syndicate serve`'s app on
127.0.0.1, digests through a real SMTP server (aiosmtpd), real SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from lxml import html as lxml_html

from syndicate import app, delivery, pipeline, status, subscriptions
from syndicate.config import load_config
from syndicate.context import Context
from syndicate.mail import TokenError, make_signed

from .helpers import FixedClock, free_port
from .smtp_sink import Sink, start
from .test_digest import TWO, mail_config, titles, write


@dataclass
class Desk:
    """A served site with digests: its base URL, context, SMTP sink and article folder."""

    base: str
    ctx: Context
    sink: Sink
    articles: Path
    clock: FixedClock

    def fetch(self, *pages: tuple[str, str]) -> None:
        """Write these (stem, zone) article pages and fetch them (in a thread of its own: the browser's
        driver keeps an event loop running in this one)."""
        for stem, zone in pages:
            write(self.articles, stem, zone)
        fetching = threading.Thread(target=pipeline.fetch, args=(self.ctx,))
        fetching.start()
        fetching.join(60)

    def mails(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.sink.to(address)]

    def link(self, message: EmailMessage, css_class: str) -> str:
        doc = lxml_html.fromstring(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
        return str(doc.xpath(f"//a[@class='{css_class}']/@href")[0])


def served(write_config: Callable[..., Path], db_url: str, clock: FixedClock, extra: str, port: int) -> Context:
    """A context on the test config plus ``extra``, its base_url on 127.0.0.1:``port``."""
    path = write_config(extra, db_url=db_url)
    text = path.read_text(encoding="utf-8").replace("http://feeds.example.org/", f"http://127.0.0.1:{port}/")
    path.write_text(text, encoding="utf-8")
    ctx = Context.open(load_config(path), clock)
    ctx.store.ensure_ready()
    return ctx


@pytest.fixture
def desk(
    write_config: Callable[..., Path],
    db_url: str,
    tmp_path: Path,
    clock: FixedClock,
    start_server: Callable[..., str],
) -> Iterator[Desk]:
    """Two configured recipients, sign-up open to investchn.com, a digest sent to each, the app served on
    the port of base_url."""
    sink = Sink()
    smtp_port, port = free_port(), free_port()
    controller = start(sink, smtp_port)
    digest = 'signup_domains = ["investchn.com"]'
    ctx = served(write_config, db_url, clock, mail_config(smtp_port, TWO, digest=digest), port)
    d = Desk(f"http://127.0.0.1:{port}/", ctx, sink, tmp_path / "articles", clock)
    d.fetch(("x1", "xishan"), ("s1", "sip"))
    clock.now += timedelta(hours=1)
    delivery.digest(ctx, force=True)
    start_server(app.feed_app(ctx.config, lambda: ctx), port)
    try:
        yield d
    finally:
        ctx.close()
        sink.release.set()
        controller.stop()


def checked(pg: Any, fieldset: str) -> list[str]:
    return list(pg.locator(f"#{fieldset} input:checked").evaluate_all("els => els.map(e => e.value)"))


def test_a_digests_preferences_link_changes_zones_and_the_next_digest_follows(desk: Desk, browser: Any) -> None:
    message = desk.mails("zhang@example.org")[-1]
    assert titles(desk.sink.to("zhang@example.org")) == ["锡山经济技术开发区新闻x1"]
    url = desk.link(message, "preferences")
    assert url.startswith(desk.base + "preferences?token=")
    assert url in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    pg = browser.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(url)
    assert pg.locator("#address").inner_text() == "zhang@example.org"
    assert checked(pg, "zones") == ["xishan"]
    pg.locator("#zones .picked input[value=xishan]").uncheck()
    pg.locator("#zones input.filter").fill("苏州")
    assert pg.locator("#zones .all input[value=sip]").is_visible()
    assert not pg.locator("#zones .all input[value=wuxi-hitech]").is_visible()  # filtered out
    pg.locator("#zones .all input[value=sip]").check()
    pg.locator("button[value=save]").click()
    assert "已保存" in pg.locator(".message").inner_text()
    assert checked(pg, "zones") == ["sip"]

    saved = desk.ctx.store.preferences()["zhang@example.org"]
    assert (saved.zones, saved.changed, saved.origin) == (("sip",), ("zones",), "page")
    # The operator sees who changed what, and when.
    st = status.overview(desk.ctx)
    assert [(c.email, c.changed) for c in st.changes] == [("zhang@example.org", ("zones",))]
    rows = lxml_html.fromstring(app.status_page(desk.ctx)).xpath(
        "//h2[.='收件人自己的更改']/following-sibling::table[1]//td"
    )
    assert [td.text_content() for td in rows][:2] == ["zhang@example.org", "zones"]

    # The next digest follows the page, not the config.
    desk.clock.now += timedelta(days=1)
    desk.fetch(("x2", "xishan"), ("s2", "sip"))
    delivery.digest(desk.ctx, force=True)
    assert titles(desk.sink.to("zhang@example.org")) == ["苏州工业园区新闻s2"]


def test_pause_stops_digests_and_resume_starts_from_then(desk: Desk, browser: Any) -> None:
    url = desk.link(desk.mails("zhang@example.org")[-1], "preferences")
    pg = browser.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(url)
    pg.locator("button[value=pause]").click()
    assert "已暂停" in pg.locator("#state").inner_text()
    assert desk.ctx.store.preferences()["zhang@example.org"].paused_at is not None
    assert delivery.next_digests(desk.ctx)["zhang@example.org"] is None
    assert status.overview(desk.ctx).stopped["zhang@example.org"].startswith("paused")

    desk.clock.now += timedelta(days=1)
    desk.fetch(("x2", "xishan"))  # arrives while paused
    outcomes = {o.recipient: o.status for o in delivery.digest(desk.ctx, force=True).outcomes}
    assert outcomes["zhang@example.org"] == "paused"
    assert len(desk.mails("zhang@example.org")) == 1

    desk.clock.now += timedelta(hours=1)
    pg.locator("button[value=resume]").click()  # the page was left open for a day: its form has expired
    assert "未保存" in pg.locator(".error").inner_text() and "expired" in pg.locator(".error").inner_text()
    assert delivery.next_digests(desk.ctx)["zhang@example.org"] is None
    pg.locator("button[value=resume]").click()
    assert "下一封摘要" in pg.locator("#state").inner_text()
    desk.clock.now += timedelta(hours=1)
    desk.fetch(("x3", "xishan"))
    delivery.digest(desk.ctx, force=True)
    assert titles(desk.sink.to("zhang@example.org")) == ["锡山经济技术开发区新闻x3"]  # not what came while paused


def confirmation_link(message: EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"http://\S+/signup/confirm\?token=\S+", text)
    assert found, text
    return found.group(0)


def test_sign_up_completes_through_the_confirmation_mail_and_a_replayed_link_is_refused(
    desk: Desk, browser: Any
) -> None:
    pg = browser.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(desk.base + "signup")
    assert "@investchn.com" in pg.locator("main").inner_text()
    pg.locator("input[name=email]").fill("Wang.Fang@investchn.com")
    pg.locator("button[type=submit]").click()
    assert pg.locator("h1").inner_text() == "请查收确认邮件"
    assert "wang.fang@investchn.com" not in desk.ctx.store.recipients()  # nothing before the confirmation
    (mail,) = desk.mails("wang.fang@investchn.com")
    link = confirmation_link(mail)

    pg.goto(link)
    assert pg.locator("h1").inner_text() == "确认订阅" and "wang.fang@investchn.com" in pg.locator("main").inner_text()
    pg.locator("button[type=submit]").click()
    assert "订阅已确认" in pg.locator(".message").inner_text()
    assert pg.locator("#address").inner_text() == "wang.fang@investchn.com"
    pg.locator("#zones input.filter").fill("xishan")
    pg.locator("#zones input[value=xishan]").check()
    pg.locator("button[value=save]").click()
    assert checked(pg, "zones") == ["xishan"]

    delivery.digest(desk.ctx, force=True)
    assert titles(desk.sink.to("wang.fang@investchn.com")) == ["锡山经济技术开发区新闻x1"]
    assert desk.ctx.store.preferences()["wang.fang@investchn.com"].origin == "signup"

    # The link again: refused, with a page that says so; nothing changes.
    r = pg.goto(link)
    assert r.status == 403 and pg.locator("h1").inner_text() == "链接无效"
    assert "used already" in pg.locator("main").inner_text()
    # Asking again for an address that is subscribed reads the same, and mails a preferences link instead.
    pg.goto(desk.base + "signup")
    pg.locator("input[name=email]").fill("wang.fang@investchn.com")
    pg.locator("button[type=submit]").click()
    assert pg.locator("h1").inner_text() == "请查收确认邮件"
    again = desk.mails("wang.fang@investchn.com")[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "/preferences?token=" in again and "/signup/confirm" not in again


def test_sign_up_refuses_a_foreign_domain_without_a_mail(desk: Desk, browser: Any) -> None:
    pg = browser.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(desk.base + "signup")
    pg.locator("input[name=email]").fill("zhao@gmail.example")
    pg.locator("button[type=submit]").click()
    assert "只有 @investchn.com 的地址可以在此订阅" in pg.locator(".error").inner_text()
    assert desk.mails("zhao@gmail.example") == []
    # A configured recipient of another domain learns nothing either: the same refusal.
    pg.locator("input[name=email]").fill("zhang@example.org")
    pg.locator("button[type=submit]").click()
    assert "只有 @investchn.com 的地址可以在此订阅" in pg.locator(".error").inner_text()
    assert len(desk.mails("zhang@example.org")) == 1


def test_unsubscribe_then_resubscribe_from_the_page(desk: Desk, browser: Any) -> None:
    message = desk.mails("li@example.org")[-1]
    url = str(message["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    pg = browser.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(url)
    assert "li@example.org" in pg.locator("main").inner_text() and "测试平台" in pg.locator("main").inner_text()
    assert desk.ctx.store.recipients()["li@example.org"].unsubscribed_at is None  # a GET changes nothing
    pg.locator("button[type=submit]").click()
    assert pg.locator("h1").inner_text() == "已退订"
    assert desk.ctx.store.recipients()["li@example.org"].unsubscribed_at is not None
    pg.locator("button[type=submit]").click()
    assert pg.locator("h1").inner_text() == "已重新订阅"
    assert desk.ctx.store.recipients()["li@example.org"].unsubscribed_at is None
    # The preferences page does both too.
    pg.goto(desk.link(message, "preferences"))
    pg.locator("button[value=unsubscribe]").click()
    assert "已退订" in pg.locator("#state").inner_text()
    assert desk.ctx.store.recipients()["li@example.org"].unsubscribed_at is not None
    pg.locator("button[value=resubscribe]").click()
    assert desk.ctx.store.recipients()["li@example.org"].unsubscribed_at is None


def test_every_post_needs_the_form_token_of_its_page(desk: Desk) -> None:
    zhang = desk.link(desk.mails("zhang@example.org")[-1], "preferences")
    li = desk.link(desk.mails("li@example.org")[-1], "preferences")
    client = httpx.Client()
    try:
        page = lxml_html.fromstring(client.get(li).text)
        li_form = page.xpath("//form[@id='prefs']//input[@name='form']/@value")[0]
        before = desk.ctx.store.preferences()
        # No form token; another recipient's; a garbage one: each refused, nothing saved; the page comes
        # back saying so, with a form of its own to try again.
        for form in ({}, {"form": li_form}, {"form": "k1.x.1.y"}):
            r = client.post(zhang, data={**form, "zones": ["sip"], "send_at": "08:00"})
            assert r.status_code == 403, form
            refused = lxml_html.fromstring(r.text)
            assert "未保存" in refused.xpath("//p[@class='error']")[0].text_content()
            assert refused.xpath("//input[@name='form']/@value")[0] not in ("", li_form)
        # Another site's page posting the right fields: refused by its Origin.
        own = lxml_html.fromstring(client.get(zhang).text).xpath("//form[@id='prefs']//input[@name='form']/@value")[0]
        r = client.post(zhang, data={"form": own, "zones": ["sip"]}, headers={"origin": "http://evil.example"})
        assert r.status_code == 403 and "来自其他网站" in r.text
        assert desk.ctx.store.preferences() == before == {}
        # The same form from our own page is saved, also through a proxy that passes another Host.
        r = client.post(
            zhang,
            data={"form": own, "zones": ["xishan"]},
            headers={"origin": desk.base.rstrip("/"), "host": "syndicate_app"},
        )
        assert r.status_code == 200 and "没有更改" in r.text
        r = client.post(
            zhang, data={"form": own, "zones": ["sip"], "send_at": "08:00"}, headers={"origin": desk.base.rstrip("/")}
        )
        assert r.status_code == 200 and desk.ctx.store.preferences()["zhang@example.org"].zones == ("sip",)
        # Forged, expired or garbage links get a clear page on GET too.
        for bad in ("garbage", zhang.split("token=")[1][:-3] + "AAA"):
            for path in ("preferences", "signup/confirm"):
                r = client.get(desk.base + path, params={"token": bad})
                assert r.status_code == 403 and "<h1>链接无效</h1>" in r.text and "<button" not in r.text
        assert client.get(desk.base + "preferences").status_code == 400
        # A preferences link is no unsubscribe link.
        r = client.post(desk.base + "unsubscribe", params={"token": zhang.split("token=")[1]})
        assert r.status_code == 403
        assert desk.ctx.store.recipients()["zhang@example.org"].unsubscribed_at is None
    finally:
        client.close()


def test_a_form_that_cannot_be_saved_says_what_to_correct_and_changes_nothing(desk: Desk) -> None:
    url = desk.link(desk.mails("zhang@example.org")[-1], "preferences")
    with httpx.Client() as client:
        form = lxml_html.fromstring(client.get(url).text).xpath("//form[@id='prefs']//input[@name='form']/@value")[0]
        r = client.post(
            url, data={"form": form, "zones": ["xishan", "atlantis"], "send_at": "25:00", "timezone": "Mars/Base"}
        )
    assert r.status_code == 400
    error = lxml_html.fromstring(r.text).xpath("//p[@class='error']")[0].text_content()
    assert "atlantis" in error and "25:00" in error and "Mars/Base" in error
    assert desk.ctx.store.preferences() == {}


def test_a_new_send_time_and_time_zone_move_the_next_digest(desk: Desk) -> None:
    url = desk.link(desk.mails("zhang@example.org")[-1], "preferences")
    with httpx.Client() as client:
        form = lxml_html.fromstring(client.get(url).text).xpath("//form[@id='prefs']//input[@name='form']/@value")[0]
        r = client.post(url, data={"form": form, "zones": ["xishan"], "send_at": "18:30", "timezone": "Europe/Berlin"})
    assert r.status_code == 200
    saved = desk.ctx.store.preferences()["zhang@example.org"]
    assert (saved.send_at, saved.timezone, saved.changed) == ("18:30", "Europe/Berlin", ("send_at", "timezone"))
    at = delivery.next_digests(desk.ctx)["zhang@example.org"]
    assert at is not None and at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "18:30"


def test_rate_limits_per_address_and_per_client(desk: Desk) -> None:
    with httpx.Client() as client:

        def ask(address: str) -> int:
            page = lxml_html.fromstring(client.get(desk.base + "signup").text)
            form = page.xpath("//input[@name='form']/@value")[0]
            return client.post(desk.base + "signup", data={"form": form, "email": address}).status_code

        assert [ask("chen@investchn.com") for _ in range(4)] == [200, 200, 200, 429]
        assert len(desk.mails("chen@investchn.com")) == subscriptions.SIGNUP_PER_ADDRESS
        codes = [ask(f"user{n}@investchn.com") for n in range(subscriptions.SIGNUP_PER_CLIENT)]
        assert codes[: subscriptions.SIGNUP_PER_CLIENT - 3] == [200] * (subscriptions.SIGNUP_PER_CLIENT - 3)
        assert codes[-1] == 429  # this client asked 10 times within the hour
        # An hour later the client may ask again; the address after a day.
        desk.clock.now += timedelta(hours=1, minutes=1)
        assert ask("lin@investchn.com") == 200
        assert ask("chen@investchn.com") == 429
        desk.clock.now += timedelta(days=1)
        assert ask("chen@investchn.com") == 200


def test_without_signup_domains_there_is_no_sign_up_page(
    write_config: Callable[..., Path], db_url: str, clock: FixedClock, start_server: Callable[..., str]
) -> None:
    port = free_port()
    ctx = served(write_config, db_url, clock, "", port)
    try:
        base = start_server(app.feed_app(ctx.config, lambda: ctx), port)
        assert httpx.get(f"{base}/signup").status_code == 404
        assert httpx.post(f"{base}/signup", data={"email": "a@investchn.com"}).status_code == 404
        token = make_signed(bytes(32), "signup", "a@investchn.com", clock())
        assert httpx.get(f"{base}/signup/confirm", params={"token": token}).status_code == 403
    finally:
        ctx.close()


def test_a_change_made_while_a_digest_is_being_sent_applies_to_the_next_one(desk: Desk) -> None:
    """The digest recorded before the change is sent as it was (same bytes, same Message-ID); the one
    after follows the change."""
    url = desk.link(desk.mails("zhang@example.org")[-1], "preferences")
    desk.clock.now += timedelta(days=1)
    desk.fetch(("x2", "xishan"), ("s2", "sip"))
    desk.clock.now += timedelta(hours=1)
    desk.sink.hold = True
    sending = threading.Thread(
        target=delivery.digest, args=(desk.ctx,), kwargs={"recipient": "zhang@example.org", "force": True}
    )
    sending.start()
    assert desk.sink.entered.wait(10)
    with httpx.Client() as client:
        form = lxml_html.fromstring(client.get(url).text).xpath("//form[@id='prefs']//input[@name='form']/@value")[0]
        assert client.post(url, data={"form": form, "zones": ["sip"], "send_at": "08:00"}).status_code == 200
    desk.sink.release.set()  # the server answers 451: the digest waits for its retry
    sending.join(10)
    desk.sink.hold = False
    (recorded,) = [d for d in desk.ctx.store.digest_log("zhang@example.org") if d["status"] == "pending"]
    desk.clock.now += timedelta(hours=1)
    delivery.digest(desk.ctx, recipient="zhang@example.org")
    assert titles(desk.sink.to("zhang@example.org")) == ["锡山经济技术开发区新闻x2"]  # as recorded
    assert desk.mails("zhang@example.org")[-1]["Message-ID"] == recorded["message_id"]
    desk.clock.now += timedelta(days=1)
    desk.fetch(("x3", "xishan"), ("s3", "sip"))
    delivery.digest(desk.ctx, recipient="zhang@example.org")
    assert titles(desk.sink.to("zhang@example.org")) == ["苏州工业园区新闻s3"]


def test_saved_preferences_win_over_the_config_and_sign_ups_follow_it() -> None:
    from syndicate.config import RecipientConfig
    from syndicate.types import Preferences

    configured = [
        RecipientConfig(email="Zhang@example.org", name="张伟", zones=("xishan",)),
        RecipientConfig(email="li@example.org", cities=("苏州",), send_at="07:00"),
    ]
    saved = {
        "zhang@example.org": Preferences("zhang@example.org", "张伟", zones=("sip",), send_at="18:00"),
        "an@investchn.com": Preferences("an@investchn.com", origin="signup"),
    }
    from syndicate.recipients import merge_recipients

    got = merge_recipients(configured, saved)
    assert [(r.email, r.zones, r.cities, r.send_at, r.configured) for r in got] == [
        ("Zhang@example.org", ("sip",), (), "18:00", True),
        ("li@example.org", (), ("苏州",), "07:00", True),
        ("an@investchn.com", (), (), None, False),
    ]


def test_link_tokens_of_one_purpose_never_serve_another() -> None:
    from datetime import UTC, datetime

    from syndicate.mail import read_signed, read_token

    now = datetime(2020, 12, 1, tzinfo=UTC)
    secret = b"k" * 32
    token = make_signed(secret, "preferences", "zhang@example.org", now)
    assert read_signed(secret, "preferences", token, now, timedelta(days=1))[0] == "zhang@example.org"
    for purpose in ("signup", "form"):
        with pytest.raises(TokenError):
            read_signed(secret, purpose, token, now, timedelta(days=1))
    with pytest.raises(TokenError):
        read_token(secret, token, now, timedelta(days=1))
    forged = token.replace(token.split(".")[1], make_signed(secret, "preferences", "li@example.org", now).split(".")[1])
    with pytest.raises(TokenError, match="signature"):
        read_signed(secret, "preferences", forged, now, timedelta(days=1))
    with pytest.raises(TokenError, match="expired"):
        read_signed(secret, "preferences", token, now + timedelta(days=2), timedelta(days=1))


@pytest.mark.parametrize("width", [360, 1280])
def test_the_self_service_pages_fit_a_phone(desk: Desk, browser: Any, tmp_path: Path, width: int) -> None:
    zhang = desk.mails("zhang@example.org")[-1]
    unsubscribe = str(zhang["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    pg = browser.new_page(viewport={"width": width, "height": 900})
    pg.set_default_timeout(10_000)
    for name, url in [
        ("preferences", desk.link(zhang, "preferences")),
        ("signup", desk.base + "signup"),
        ("unsubscribe", unsubscribe),
        ("invalid", desk.base + "preferences?token=garbage"),
    ]:
        pg.goto(url)
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        assert pg.locator("html").get_attribute("lang") == "zh-CN" and pg.locator("h1").count() == 1
        # Every button and box is big enough to hit with a thumb.
        small = pg.evaluate(
            "[...document.querySelectorAll('button, label.choice')].filter(e => e.offsetParent !== null"
            " && e.getBoundingClientRect().height < 40).length"
        )
        assert small == 0, name
        pg.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
