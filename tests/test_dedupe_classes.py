"""Dedupe on the shapes real feeds take: excerpts, lightly edited re-posts, short notices, boilerplate a
source repeats, posts that are anchors of one page, entries without links, and one story arriving
thousands of times. Each rule on both sides of its threshold; the store-backed cases on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from syndicate import dedupe, pipeline
from syndicate.pipeline import Context
from syndicate.sources.feed import FeedDefaults, parse_feed
from syndicate.text import paragraphs_html
from syndicate.types import Article

from .helpers import SHANGHAI
from .storeviews import zone_articles

T0 = datetime(2020, 11, 3, 9, 0, tzinfo=SHANGHAI)
INTRO = (
    "无锡高新区是国家级高新技术产业开发区,近年来坚持创新驱动发展战略,聚焦集成电路、生物医药和智能制造,"
    "持续优化营商环境,综合实力位居全国高新区前列。"
)
TEMPLATE = [
    "开发区将成立项目服务专班,在规划审批、要素保障和人才引进等方面提供全程服务。",
    "签约仪式上,双方就项目建设进度、技术研发合作和人才培养等事项进行了深入交流。",
    "下一步,开发区将加快项目建设节奏,确保项目早开工、早投产、早见效。",
]


def release(lead: str, own: list[str]) -> list[str]:
    """A release of the zone: its lead, the zone's introduction, its own facts, the zone's template lines."""
    return [lead, INTRO, *own, *TEMPLATE]


RELEASE = release(
    "11月2日,一家集成电路先进封装测试企业与无锡高新区签订投资协议,项目计划总投资二十亿元。",
    [
        "项目将建设晶圆级封装生产线及研发中心,达产后预计年产值三十亿元,新增就业岗位一千二百个。",
        "企业成立于二〇〇八年,是国内领先的封装测试服务商,产品广泛应用于通信、汽车电子和工业控制领域。",
        "企业负责人表示,选择落户高新区,看中的是完善的产业生态、高效的政务服务和优越的人才环境。",
        "近年来,高新区坚持把集成电路作为首位产业,先后引进设计、制造、封测等环节重点项目四十余个。",
    ],
)


def fp(
    paragraphs: list[str], source: str, title: str = "集成电路封测项目签约", when: datetime = T0, link: str = ""
) -> dedupe.Fingerprint:
    link = link or f"https://{source}.example/{abs(hash(tuple(paragraphs))) % 10_000}.html"
    return dedupe.fingerprint(title, paragraphs_html(paragraphs), link, when, SHANGHAI, source=source)


def rule(a: dedupe.Fingerprint, b: dedupe.Fingerprint) -> str | None:
    found = dedupe.match(a, [dedupe.Candidate(1, b)])
    return found.rule if found else None


def lead_of(paragraphs: list[str], share: float) -> list[str]:
    """The first ``share`` of the text, verbatim, ending at the end of a sentence."""
    text = "".join(paragraphs)
    cut = text.index("。", int(len(text) * share)) + 1
    return [text[:cut]]


# -- excerpts ------------------------------------------------------------------------------------------


def test_excerpts_of_30_and_45_percent_join_their_original() -> None:
    original = fp(RELEASE, "zone")
    for share in (0.30, 0.45):
        excerpt = fp(lead_of(RELEASE, share), "brief", title="要闻速览")
        jaccard, containment = dedupe.similarity(excerpt, original)
        assert jaccard < dedupe.NEAR_JACCARD and containment >= dedupe.NEAR_CONTAINMENT  # an excerpt, not near
        assert rule(excerpt, original) == "excerpt"


def test_a_release_sharing_the_zones_introduction_and_template_is_no_excerpt_of_another() -> None:
    """Another release of the same zone repeats its introduction and template lines; its lead is its own."""
    other = release(
        "11月5日,一家生物医药企业的区域总部项目落户无锡高新区,项目计划总投资八亿元。",
        ["项目将建设研发实验室和中试基地,主要开展创新药物的临床前研究。"],
    )
    part = fp(other[:2] + TEMPLATE, "brief", title="要闻速览")
    _, containment = dedupe.similarity(part, fp(RELEASE, "zone"))
    assert containment > 0.6  # most of its words are the zone's
    assert rule(part, fp(RELEASE, "zone")) is None


def test_a_short_lead_of_a_long_article_from_another_source() -> None:
    original = fp(RELEASE, "zone")
    lead = fp([RELEASE[0]], "brief", title="签约")
    assert lead.short and lead.length >= dedupe.LEAD_MIN
    assert rule(lead, original) == "excerpt"
    # The same sentence posted by the zone itself again is not an excerpt of its own article...
    assert rule(fp([RELEASE[0]], "zone", title="签约"), original) is None
    # ...and a short text that is not the article's lead is not one either.
    assert rule(fp([RELEASE[4]], "brief", title="项目"), original) is None


# -- lightly edited re-posts and series -----------------------------------------------------------------


def test_a_lightly_edited_repost_joins_and_a_series_stays_apart() -> None:
    original = fp(RELEASE, "zone")
    edited = list(RELEASE)
    edited[3] = "该企业是国内领先的封装测试服务商,于二〇〇八年创立,其产品覆盖通信、汽车电子和工业控制等行业。"
    edited[4] = "谈到为何落户高新区,企业负责人说,这里产业生态完善、政务服务高效、人才环境优越。"
    del edited[5]  # a paragraph dropped
    copy = fp(edited, "partner", title="封测项目落户高新区")
    jaccard, containment = dedupe.similarity(copy, original)
    assert jaccard < dedupe.NEAR_JACCARD and containment < dedupe.NEAR_CONTAINMENT
    assert rule(copy, original) == "edited"
    # The same edit by the zone itself: two of one source's posts that alike are a series, not a re-post.
    assert rule(fp(edited, "zone"), original) is None
    # A report of the next quarter from the same template states figures of its own.
    series = [p.replace("二十亿元", "二十五亿元").replace("三十亿元", "三十六亿元") for p in edited]
    assert rule(fp(series, "partner"), original) is None


# -- short notices ----------------------------------------------------------------------------------------

NOTICE = "因电力线路检修,11月3日8:00至16:00长江路沿线企业停电,请提前做好准备。"


def test_short_notices_reposted_with_words_added_within_a_day_join() -> None:
    notice = fp([NOTICE], "gov", title="长江路停电通知")
    for reposted in ("各有关企业:" + NOTICE, NOTICE + "特此通知。", NOTICE.replace("请", "敬请")):
        copy = fp([reposted], "news", title="转发:停电通知", when=T0 + timedelta(days=1))
        assert rule(copy, notice) == "notice", reposted
    assert rule(fp([NOTICE], "news", title="转发:停电通知", when=T0 + timedelta(days=1)), notice) == "notice"


def test_other_short_notices_of_the_zone_stay_apart() -> None:
    notice = fp([NOTICE], "gov", title="长江路停电通知")
    other_road = fp([NOTICE.replace("长江路", "黄河路")], "gov", title="黄河路停电通知")
    assert rule(other_road, notice) is None
    meeting = "高新区管委会定于11月5日9:00召开消防安全工作会议,请各企业负责人准时参加。"
    assert rule(fp([meeting.replace("消防安全", "安全生产")], "gov", title="会议"), fp([meeting], "gov")) is None
    other_day = fp([NOTICE.replace("11月3日", "11月6日")], "news", title="转发:停电通知")
    assert rule(other_day, notice) is None  # another date: another notice
    later = fp([NOTICE + "特此通知。"], "news", title="转发:停电通知", when=T0 + timedelta(days=3))
    assert rule(later, notice) is None  # three days on: not a re-post of this one
    tiny = fp(["详见附件。"], "news", title="附件")
    assert rule(tiny, fp(["详见附件。"], "gov", title="通知")) is None  # too short to say anything


# -- boilerplate a source repeats ----------------------------------------------------------------------

FOOTER = [
    "免责声明:本网站所载文章仅供参考,转载请注明来源,如涉及版权问题请与本网联系,我们将及时处理。",
    "欢迎关注开发区发布微信公众号,获取最新招商政策、项目动态和营商环境信息。",
    "本网站由开发区管委会主办,开发区信息中心承办,联系地址为开发区行政服务中心三楼。",
]
POSTS = [
    "今天走访了园区一家精密制造企业,车间里的生产线正在满负荷运转。",
    "下午参加了一场安全生产培训,讲师用案例讲清了企业最容易忽视的问题。",
    "新开的口袋公园已经对外开放,周边企业的员工多了一个午间休息的去处。",
    "园区人才公寓第二期交付使用,首批三百名青年人才拎包入住。",
    "开发区政务服务中心推出周末不打烊服务,企业办事不用再请假。",
]


def test_a_footer_on_every_post_is_learned_and_left_out() -> None:
    bodies = [paragraphs_html([p, *FOOTER]) for p in POSTS]
    boilerplate = dedupe.learn_boilerplate(bodies)
    assert len(boilerplate) == len(FOOTER)
    posts = [
        dedupe.fingerprint(f"简讯{n}", b, "", T0, SHANGHAI, source="s", boilerplate=boilerplate)
        for n, b in enumerate(bodies)
    ]
    assert all(p.short for p in posts)  # only the post's own words are compared
    assert all(rule(a, b) is None for a in posts for b in posts if a is not b)
    # Without learning, the footer is most of what they say.
    plain = [dedupe.fingerprint(f"简讯{n}", b, "", T0, SHANGHAI, source="s") for n, b in enumerate(bodies)]
    assert dedupe.similarity(plain[0], plain[1])[0] > 0.6


def test_a_story_posted_many_times_teaches_no_boilerplate() -> None:
    """Copies of one story with a few characters each of their own share every sentence; none is a footer."""
    copies = [paragraphs_html([*RELEASE, f"(第{n}次转发)"]) for n in range(30)]
    assert dedupe.learn_boilerplate(copies) == frozenset()
    # A sentence only some of a source's posts carry is a phrase, not boilerplate.
    some = [paragraphs_html([p, FOOTER[0]] if n < 2 else [p]) for n, p in enumerate(POSTS)]
    assert dedupe.learn_boilerplate(some) == frozenset()


# -- through the store ---------------------------------------------------------------------------------


def diary(n: int) -> list[str]:
    return [f"园区日记第{n}篇:{POSTS[n % len(POSTS)]}", f"这一天走访了第{n}家企业,记下了{n + 3}条建议。"]


def test_a_blog_whose_50_posts_are_anchors_of_one_page_keeps_50(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    page = "https://blog.example/2020/11/notes.html"
    posts = [
        Article("blog", f"p{n}", f"日记{n}", f"{page}#post-{n}", T0 + timedelta(hours=n), paragraphs_html(diary(n)))
        for n in range(50)
    ]
    ctx.store.save_articles("blog", [(a, ("wuxi-hitech",)) for a in posts], T0)
    pipeline.deduplicate(ctx)
    assert ctx.store.stories() == []
    assert len(zone_articles(ctx.store, "wuxi-hitech", 100)) == 50


def test_entries_without_links_are_never_joined_by_the_link_they_inherit(make_context: Callable[..., Context]) -> None:
    """Two feeds of one site, entries without <link>: every entry inherits the channel's link."""
    ctx = make_context()
    for feed in ("news", "notices"):
        items = "".join(
            f"<item><title>{feed}{n}</title><description>{''.join(diary(n + (feed == 'news') * 10))}</description>"
            f"<pubDate>Tue, 03 Nov 2020 0{n}:00:00 +0800</pubDate><guid isPermaLink='false'>{feed}-{n}</guid></item>"
            for n in range(5)
        )
        doc = f'<rss version="2.0"><channel><title>{feed}</title><link>https://site.example/</link>{items}</channel></rss>'
        parsed = parse_feed(doc.encode(), None, FeedDefaults(feed, "https://site.example/rss", SHANGHAI, T0))
        assert [a.link for a in parsed.articles] == ["https://site.example/"] * 5
        assert all(a.link_fallback for a in parsed.articles)
        ctx.store.save_articles(feed, [(a, ("wuxi-hitech",)) for a in parsed.articles], T0)
    pipeline.deduplicate(ctx)
    assert ctx.store.stories() == []
    # After a restart the inherited links are still known as such.
    again = make_context()
    assert all(a.article.link_fallback for a in zone_articles(again.store, "wuxi-hitech", 20))


OWN = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"


def test_a_flood_of_2000_versions_is_one_story(make_context: Callable[..., Context]) -> None:
    """Ten partners each re-post one story 200 times, each copy with a few characters of its own."""
    ctx = make_context()
    for s in range(10):
        copies = [
            Article(
                f"partner{s}",
                f"c{n}",
                f"转发{n}:集成电路封测项目签约",
                f"https://partner{s}.example/{n}.html",
                T0 + timedelta(minutes=n),
                paragraphs_html([*RELEASE, f"(来自{OWN[s]}{OWN[n % 20]}{OWN[n // 20]}站)"]),
            )
            for n in range(200)
        ]
        ctx.store.save_articles(f"partner{s}", [(a, ("wuxi-hitech",)) for a in copies], T0)
    report = pipeline.deduplicate(ctx, batch=500)
    assert (report.checked, report.merged) == (2000, 1999)
    [story] = ctx.store.stories()
    assert len(story.versions) == 2000


def test_dupes_names_the_new_rules(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    when = datetime(2020, 11, 3, 1, tzinfo=UTC)
    saved = [
        ("zone", "a", RELEASE),
        ("brief", "x", lead_of(RELEASE, 0.3)),
        ("gov", "n", [NOTICE]),
        ("news", "r", [NOTICE + "特此通知。"]),
    ]
    for source, key, paragraphs in saved:
        article = Article(source, key, key, f"https://{source}.example/{key}", when, paragraphs_html(paragraphs))
        ctx.store.save_articles(source, [(article, ())], when)
    pipeline.deduplicate(ctx)
    rules = {v.source_id: (v.rule, v.similarity) for story in ctx.store.stories() for v in story.versions}
    assert rules["brief"] == ("excerpt", 1.0)
    assert rules["news"][0] == "notice" and 0.8 < (rules["news"][1] or 0) < 1.0


def test_upgrading_renews_every_fingerprint_and_keeps_the_stories(make_context: Callable[..., Context]) -> None:
    """Fingerprints stored by the previous release are renewed on the first run after `syndicate init`;
    stories stay as they were."""
    from alembic import command

    from syndicate.store.schema import alembic_config

    ctx = make_context()
    when = datetime(2020, 11, 3, 1, tzinfo=UTC)
    for source, key in (("zone", "a"), ("partner", "b")):
        article = Article(source, key, "签约", f"https://{source}.example/{key}", when, paragraphs_html(RELEASE))
        ctx.store.save_articles(source, [(article, ())], when)
    pipeline.deduplicate(ctx)
    [before] = ctx.store.stories()
    cfg = alembic_config()
    with ctx.store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    assert ctx.store.schema_state() == "behind"
    ctx.store.migrate()
    assert list(ctx.store.signature_buckets(after=0)) == []
    again = make_context()
    report = pipeline.deduplicate(again)
    assert (report.checked, report.merged) == (2, 0)  # each renewed in its story, none joined anew
    assert again.store.stories() == [before]
    assert len(list(again.store.signature_buckets(after=0))) == 2
