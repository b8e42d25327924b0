"""A labeled corpus for deduplication, generated deterministically (written for syndicate's tests and
bench/dedupe.py; no text is copied from anywhere).

Each base story is a press release in the style of a development zone's news. From it come true re-posts
(another title, a byline and editor line added, the last paragraph trimmed, paragraphs reordered,
punctuation width changed, a sentence reworded), and hard negatives: other stories of the same zone that
share its boilerplate introduction, and periodic reports built from one template whose figures change.
``label`` is the true story of every article.

Then the classes real feeds add (``cls`` says which an article belongs to): excerpts (a partner re-posting
only the lead, 25-45 % of the original, under its own title), lightly edited re-posts (a sentence reworded,
a paragraph dropped, no figure of their own), short notices re-posted the next day under another title
beside other notices of the same zone, independent reports of the same event (other stories), and the
distinct posts real feeds must not lose: a blog whose posts are anchors of one page, entries without a link
of their own (they fall back on the channel's), and short posts of one source that share a long footer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ZONES = ["锡山经济技术开发区", "无锡高新技术产业开发区", "苏州工业园区", "昆山经济技术开发区", "宜兴经济技术开发区"]
INTROS = {
    z: f"{z}是国家级开发区,近年来坚持产业强区战略,聚焦先进制造业和现代服务业,持续优化营商环境,"
    f"形成了以高端装备、新一代信息技术和生物医药为主导的产业体系,综合实力在全省开发区中位居前列。"
    for z in ZONES
}
COMPANIES = [
    "恒瑞精密",
    "华芯微电子",
    "远景动力",
    "蓝海生物",
    "博源智能",
    "中科光电",
    "天成新材料",
    "瑞康医疗",
    "宏达机械",
    "星河数据",
    "金桥物流",
    "海纳环保",
    "北辰汽车零部件",
    "东方电气装备",
    "凯盛氢能",
    "云启软件",
    "安信检测",
    "盛世包装",
    "绿源食品",
    "鼎立建材",
    "华远纺织",
    "联创半导体",
    "明德教育科技",
    "卓越航空部件",
]
PROJECTS = ["智能制造基地", "研发中心", "区域总部", "生产线扩建", "产业园", "创新中心", "数字化工厂", "检测平台"]
OPENERS = [
    "{date}上午,{company}{project}项目签约仪式在{zone}举行。",
    "{date},{zone}与{company}正式签署{project}项目投资协议。",
    "记者从{zone}获悉,{company}{project}项目日前正式落户。",
    "{date},{company}{project}项目在{zone}开工建设。",
]
DETAILS = [
    "项目计划总投资{amount}亿元,主要建设{product}生产线及配套设施,预计{year}年建成投产。",
    "项目达产后预计年产值{value}亿元,年纳税{tax}亿元,新增就业岗位{jobs}个。",
    "{company}成立于{founded}年,是国内{product}领域的骨干企业,产品远销{markets}个国家和地区。",
    "此次签约的项目将进一步完善区内{product}产业链,带动上下游配套企业集聚发展。",
    "根据协议,{company}将在区内建设{area}亩厂房,引进国际先进的自动化生产设备。",
    "企业负责人表示,看中的是这里完善的产业配套、优质的政务服务和便利的交通区位。",
    "开发区将成立项目服务专班,在规划审批、要素保障和人才引进等方面提供全程服务。",
    "近年来,开发区围绕主导产业开展精准招商,累计引进亿元以上项目{count}个。",
    "签约仪式上,双方就项目建设进度、技术研发合作和人才培养等事项进行了深入交流。",
    "该项目被列入今年全市重大产业项目,是开发区推动产业转型升级的重要抓手。",
    "下一步,开发区将加快项目建设节奏,确保项目早开工、早投产、早见效。",
    "与会人员还参观了企业展厅,详细了解了{product}的研发进展和市场应用情况。",
]
PRODUCTS = [
    "新能源汽车电池",
    "工业机器人",
    "医疗器械",
    "集成电路封装",
    "高端轴承",
    "光伏组件",
    "生物制药",
    "智能传感器",
]
EDITS = [("签约仪式", "签约活动"), ("正式", ""), ("进一步", ""), ("深入交流", "充分交流"), ("加快", "加速")]
SERIES = (
    "{year}年{quarter},{zone}实现地区生产总值{gdp}亿元,同比增长{g1}%。其中,规模以上工业增加值{ind}亿元,"
    "同比增长{g2}%;固定资产投资{inv}亿元,同比增长{g3}%。\n"
    "{quarter},开发区新签约亿元以上项目{proj}个,实际使用外资{fdi}亿美元,进出口总额{trade}亿元。"
    "重点产业保持平稳增长,高端装备、新一代信息技术和生物医药三大主导产业产值占比达到{share}%。\n"
    "下阶段,开发区将坚持稳中求进工作总基调,狠抓项目建设和招商引资,全力推动经济运行持续向好。"
)
QUARTERS = ["一季度", "上半年", "前三季度", "全年"]


@dataclass(frozen=True, slots=True)
class Labeled:
    key: str
    label: str  # the true story
    title: str
    body: str  # paragraphs separated by blank lines
    date: str  # YYYY-MM-DD
    link: str
    cls: str = "original"  # original | repost | series | excerpt | edited | notice | event | anchors | nolink | footer
    link_fallback: bool = False  # the entry had no link of its own: ``link`` is the channel's

    @property
    def source(self) -> str:
        """Each site is a source of its own."""
        return self.link.split("/")[2]


def _story(rng: random.Random, n: int, zone: str) -> tuple[str, list[str], str, dict[str, object]]:
    company, project, product = rng.choice(COMPANIES), rng.choice(PROJECTS), rng.choice(PRODUCTS)
    day = rng.randint(1, 28)
    month = rng.randint(1, 12)
    date = f"2020-{month:02d}-{day:02d}"
    fill = {
        "company": company,
        "project": project,
        "product": product,
        "zone": zone,
        "date": f"{month}月{day}日",
        "amount": rng.randint(2, 80),
        "year": rng.randint(2021, 2024),
        "value": rng.randint(5, 120),
        "tax": rng.randint(1, 9),
        "jobs": rng.randint(100, 2000),
        "founded": rng.randint(1990, 2015),
        "markets": rng.randint(10, 90),
        "area": rng.randint(50, 600),
        "count": rng.randint(20, 150),
    }
    sentences = [s.format(**fill) for s in rng.sample(DETAILS, 8)]
    paragraphs = [rng.choice(OPENERS).format(**fill)]
    paragraphs += [sentences[i] + sentences[i + 1] for i in range(0, 8, 2)]
    if rng.random() < 0.5:
        paragraphs.insert(1, INTROS[zone])  # shared boilerplate: same for every story of the zone
    title = f"{company}{project}项目{rng.choice(['签约落户', '正式签约', '开工建设', '落户'])}{zone[:2]}"
    return title, paragraphs, date, fill


def _repost(rng: random.Random, title: str, paragraphs: list[str], kind: int) -> tuple[str, list[str]]:
    ps = list(paragraphs)
    if kind == 0:  # another title, byline and editor added
        title = "【转载】" + title.replace("项目", "")
        ps[0] = "(记者 王明 通讯员 李华)" + ps[0]
        ps.append("责任编辑:张蕾")
    elif kind == 1:  # last paragraph trimmed, new title
        ps = ps[:-1]
        title = title + "(图)"
    elif kind == 2:  # two middle paragraphs swapped
        ps[1], ps[2] = ps[2], ps[1]
        title = "区内" + title
    elif kind == 3:  # punctuation width and spacing changed
        ps = [p.replace(",", ",").replace(";", ";").replace(":", ":") + " " for p in ps]
    else:  # a few words reworded
        for old, new in rng.sample(EDITS, 2):
            ps = [p.replace(old, new) for p in ps]
        title = title.replace("签约", "签下")
    return title, ps


def corpus(stories: int = 60, seed: int = 7) -> list[Labeled]:
    """At least ``stories`` x 3 articles: each story with 1-4 re-posts, plus series reports."""
    rng = random.Random(seed)
    out: list[Labeled] = []
    bases: list[tuple[int, str, str, list[str], str, dict[str, object]]] = []
    for n in range(stories):
        zone = ZONES[n % len(ZONES)]
        title, paragraphs, date, fill = _story(rng, n, zone)
        label = f"story-{n}"
        out.append(Labeled(f"s{n}-0", label, title, "\n\n".join(paragraphs), date, f"https://a.example/{n}.html"))
        for k, kind in enumerate(rng.sample(range(5), rng.randint(1, 4)), start=1):
            t, ps = _repost(rng, title, paragraphs, kind)
            out.append(
                Labeled(f"s{n}-{k}", label, t, "\n\n".join(ps), date, f"https://site{k}.example/{n}.html", "repost")
            )
        bases.append((n, label, title, paragraphs, date, fill))
    for z, zone in enumerate(ZONES):
        for q, quarter in enumerate(QUARTERS):
            fill = {
                "year": 2020,
                "quarter": quarter,
                "zone": zone,
                "gdp": rng.randint(80, 900),
                "g1": round(rng.uniform(1, 12), 1),
                "ind": rng.randint(30, 400),
                "g2": round(rng.uniform(1, 15), 1),
                "inv": rng.randint(20, 300),
                "g3": round(rng.uniform(-5, 20), 1),
                "proj": rng.randint(3, 60),
                "fdi": round(rng.uniform(0.5, 9), 2),
                "trade": rng.randint(50, 2000),
                "share": rng.randint(40, 80),
            }
            body = SERIES.format(**fill)
            title = f"{zone}2020年{quarter}经济运行情况"
            date = f"2020-{3 * (q + 1) + 1:02d}-15" if q < 3 else "2021-01-15"
            out.append(Labeled(f"r{z}-{q}", f"series-{z}-{q}", title, body, date, f"https://a.example/r{z}{q}.html"))
            # the same report re-posted by a second site
            out.append(
                Labeled(
                    f"r{z}-{q}-b",
                    f"series-{z}-{q}",
                    "转:" + title,
                    "(来源:开发区经发局)" + body,
                    date,
                    f"https://b.example/r{z}{q}.html",
                    "series",
                )
            )
    # The classes real feeds add, from a generator of their own (the articles above stay as they were).
    more = random.Random(seed + 1)
    for n, label, title, paragraphs, date, fill in bases:
        if n % 3 == 0:
            out.append(_excerpt(n, label, title, paragraphs, date, (0.25, 0.30, 0.35, 0.45)[n // 3 % 4]))
        elif n % 3 == 1:
            out.append(_edited(more, n, label, title, paragraphs, date, fill))
        if n % 4 == 2:
            out.append(_event(n, date, fill))
    out += _notices(more, stories // 3)
    out += _anchors(more, 50)
    out += _no_links(more)
    out += _footer(more, 20)
    return out


# Rewordings of DETAILS sentences (same index): the same facts and figures, other words.
REWORDED = {
    0: "该项目拟投入资金{amount}亿元,重点建设{product}生产线和相关配套,计划{year}年投入使用。",
    1: "按照规划,项目全面投产以后年产值约{value}亿元,每年上缴税收{tax}亿元,提供就业岗位{jobs}个。",
    3: "本次签下的项目将补齐区内{product}产业链条,吸引上下游企业加快集聚。",
    5: "谈到选址原因,企业方面说,这里配套完善、服务高效、交通便捷。",
    6: "为保障项目顺利推进,开发区专门组建服务团队,全程跟进审批、要素和人才等事项。",
    8: "仪式现场,双方围绕工程进度、研发合作、人才培育等内容作了交流。",
    10: "接下来,开发区会加快推进建设,力争项目尽早开工投产、发挥效益。",
}


def _excerpt(n: int, label: str, title: str, paragraphs: list[str], date: str, share: float) -> Labeled:
    """The lead of the release, verbatim, ending at the sentence where ``share`` of its text is reached."""
    text = "".join(paragraphs)
    cut = text.index("。", int(len(text) * share)) + 1
    lead, body = text[:cut], []
    for p in paragraphs:  # the lead keeps the original's paragraphs
        if not lead:
            break
        body.append(p[: len(lead)])
        lead = lead[len(p) :]
    own_title = f"速览|{title[:8]}…"
    return Labeled(f"x{n}", label, own_title, "\n\n".join(body), date, f"https://brief.example/{n}.html", "excerpt")


def _edited(
    rng: random.Random, n: int, label: str, title: str, paragraphs: list[str], date: str, fill: dict[str, object]
) -> Labeled:
    """One sentence reworded and one paragraph dropped; no figure or date of its own."""
    ps = list(paragraphs)
    for i, sentence in rng.sample(sorted(REWORDED.items()), len(REWORDED)):
        original = DETAILS[i].format(**fill)
        where = [k for k, p in enumerate(ps) if original in p]
        if where:
            ps[where[0]] = ps[where[0]].replace(original, sentence.format(**fill))
            break
    dropped = rng.choice([k for k in range(2, len(ps)) if k != (where[0] if where else -1)])
    del ps[dropped]
    return Labeled(
        f"e{n}",
        label,
        title.replace("项目", "项目顺利"),
        "\n\n".join(ps),
        date,
        f"https://edit.example/{n}.html",
        "edited",
    )


def _event(n: int, date: str, fill: dict[str, object]) -> Labeled:
    """An independent report of the same signing: the same facts, its own words; another story."""
    body = (
        f"{fill['zone']}招商引资再添新成果。{fill['company']}日前与{fill['zone']}达成合作,决定投资{fill['amount']}亿元"
        f"布局{fill['project']}。\n\n记者了解到,新项目聚焦{fill['product']},规划{fill['year']}年前后形成产能,全部达产后"
        f"年产值有望突破{fill['value']}亿元。\n\n园区方面表示,将以此为契机持续深耕产业链招商,为企业发展营造更好环境。"
    )
    return Labeled(
        f"v{n}",
        f"event-{n}",
        f"{fill['company']}布局{fill['zone'][:2]}",
        body,
        date,
        f"https://report.example/{n}.html",
        "event",
    )


ROADS = ["长江路", "黄河路", "太湖大道", "新华路", "锡兴路", "春笋路", "清源路", "菱湖大道"]
TOPICS = ["安全生产", "招商引资", "环境保护", "消防安全", "人才引进", "防汛防台"]
NOTICES = [
    ("{road}停电通知", "因电力线路检修,{m}月{d}日{h1}:00至{h2}:00{road}沿线企业停电,请提前做好准备。"),
    ("关于召开{topic}工作会议的通知", "{zone}定于{m}月{d}日{h1}:00召开{topic}工作会议,请各企业负责人准时参加。"),
    ("{road}施工交通管制", "{m}月{d}日至{m}月{d2}日{road}进行道路施工,每日{h1}:00至{h2}:00封闭交通,请绕行。"),
]
# How a second site re-posts a notice: words added or dropped around the same text.
NOTICE_REPOSTS = [
    lambda b: "各有关企业:" + b,
    lambda b: b + "特此通知。",
    lambda b: b.replace("请", "敬请"),
    lambda b: b,
]


def _notices(rng: random.Random, count: int) -> list[Labeled]:
    """Short notices: each re-posted the same or the next day under another title, and beside each another
    notice of the same zone, the same day and hours, differing in the road or the topic."""
    out = []
    for n in range(count):
        zone = ZONES[n % len(ZONES)]
        template_title, template = NOTICES[n % len(NOTICES)]
        m, d = rng.randint(1, 12), rng.randint(1, 26)
        h1 = rng.randint(7, 10)
        roads, topics = rng.sample(ROADS, 2), rng.sample(TOPICS, 2)
        fill = {"zone": zone[:4] + "管委会", "m": m, "d": d, "d2": d + 2, "h1": h1, "h2": h1 + 8}
        for k in range(2):
            values = {**fill, "road": roads[k], "topic": topics[k]}
            body, title = template.format(**values), template_title.format(**values)
            date = f"2020-{m:02d}-{d:02d}"
            out.append(
                Labeled(
                    f"n{n}-{k}", f"notice-{n}-{k}", title, body, date, f"https://gov.example/n{n}{k}.html", "notice"
                )
            )
        repost = NOTICE_REPOSTS[n % len(NOTICE_REPOSTS)](template.format(**fill, road=roads[0], topic=topics[0]))
        next_day = f"2020-{m:02d}-{d + n % 2:02d}"
        retitled = "转发:" + zone[:2] + "发布" + template_title.format(road=roads[0], topic=topics[0])[:6]
        out.append(
            Labeled(f"n{n}-r", f"notice-{n}-0", retitled, repost, next_day, f"https://news.example/n{n}.html", "notice")
        )
    return out


DIARY = [
    "今天走访了{company},车间里的{product}生产线正在满负荷运转,订单已经排到了{m}月。",
    "下午参加{zone}{topic}培训,讲师用{k}个案例讲清了企业最容易忽视的问题。",
    "{road}边新开了一家咖啡馆,不少园区企业的年轻人中午都会去坐坐。",
    "和{company}的工程师聊了聊,他们今年新招了{k}名应届毕业生,大多来自本地高校。",
    "傍晚在{road}散步,看到新建的口袋公园已经开放,周边企业员工多了一个休息的去处。",
]


def _diary(rng: random.Random, seen: set[str]) -> str:
    """A line of a post no other post of the corpus has word for word (two identical texts are one)."""
    while True:
        line = rng.choice(DIARY).format(
            company=rng.choice(COMPANIES),
            product=rng.choice(PRODUCTS),
            zone=rng.choice(ZONES)[:4],
            topic=rng.choice(TOPICS),
            road=rng.choice(ROADS),
            m=rng.randint(1, 12),
            k=rng.randint(3, 90),
        )
        if line not in seen:
            seen.add(line)
            return line


def _anchors(rng: random.Random, count: int) -> list[Labeled]:
    """A blog whose posts are anchors of one page: one link, a different fragment each; every post its own."""
    page = "https://blog.example/2020/10/notes.html"
    out: list[Labeled] = []
    seen: set[str] = set()
    for n in range(count):
        body = "\n\n".join(_diary(rng, seen) for _ in range(1 + n % 3))
        out.append(
            Labeled(
                f"b{n}",
                f"blog-{n}",
                f"园区日记{n + 1}",
                body,
                f"2020-10-{1 + n % 28:02d}",
                f"{page}#post-{n + 1}",
                "anchors",
            )
        )
    return out


def _no_links(rng: random.Random) -> list[Labeled]:
    """Two feeds of one site whose entries carry no link: each falls back on the channel's link."""
    out: list[Labeled] = []
    seen: set[str] = set()
    for feed in ("a", "b"):
        for n in range(8):
            body = "\n\n".join(_diary(rng, seen) for _ in range(2))
            out.append(
                Labeled(
                    f"l{feed}{n}",
                    f"nolink-{feed}-{n}",
                    f"工作动态{feed}{n}",
                    body,
                    "2020-11-02",
                    f"https://nolink-{feed}.example/",
                    "nolink",
                    link_fallback=True,
                )
            )
    # ...and both channels link the site's home page
    return [Labeled(x.key, x.label, x.title, x.body, x.date, "https://nolink.example/", x.cls, True) for x in out]


FOOTER = (
    "免责声明:本网站所载文章仅供参考,转载请注明来源,如涉及版权问题请与本网联系,我们将及时处理。"
    "欢迎关注开发区发布微信公众号,获取最新招商政策、项目动态和营商环境信息,服务热线每个工作日为企业答疑解惑。"
    "本网站由开发区管委会主办,开发区信息中心承办,联系地址为开发区行政服务中心三楼。"
)


def _footer(rng: random.Random, count: int) -> list[Labeled]:
    """Short posts of one source, each followed by the same long footer: every post its own story."""
    out: list[Labeled] = []
    seen: set[str] = set()
    for n in range(count):
        body = _diary(rng, seen) + "\n\n" + FOOTER
        out.append(
            Labeled(
                f"f{n}",
                f"footer-{n}",
                f"简讯{n + 1}",
                body,
                f"2020-09-{1 + n:02d}",
                f"https://footer.example/{n}.html",
                "footer",
            )
        )
    return out


def evaluate(items: list[Labeled], predicted: dict[str, str]) -> tuple[float, float, int, int]:
    """Pairwise precision and recall of predicted stories (key → story) against the labels.
    Returns (precision, recall, false merges, missed merges)."""
    tp = fp = fn = 0
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            same_true = a.label == b.label
            same_pred = predicted[a.key] == predicted[b.key]
            tp += same_true and same_pred
            fp += same_pred and not same_true
            fn += same_true and not same_pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, fp, fn


def evaluate_by_class(items: list[Labeled], predicted: dict[str, str]) -> dict[str, tuple[float, float, int, int]]:
    """``evaluate`` per class: the pairs with at least one article of the class (an excerpt and its
    original, a footer post and every other article)."""
    result = {}
    for cls in sorted({it.cls for it in items}):
        tp = fp = fn = 0
        for i, a in enumerate(items):
            for b in items[i + 1 :]:
                if a.cls != cls and b.cls != cls:
                    continue
                same_true, same_pred = a.label == b.label, predicted[a.key] == predicted[b.key]
                tp += same_true and same_pred
                fp += same_pred and not same_true
                fn += same_true and not same_pred
        result[cls] = (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0, fp, fn)
    return result
