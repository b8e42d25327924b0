"""A labeled corpus for deduplication, generated deterministically (written for syndicate's tests and
bench/dedupe.py; no text is copied from anywhere).

Each base story is a press release in the style of a development zone's news. From it come true re-posts
(another title, a byline and editor line added, the last paragraph trimmed, paragraphs reordered,
punctuation width changed, a sentence reworded), and hard negatives: other stories of the same zone that
share its boilerplate introduction, and periodic reports built from one template whose figures change.
``label`` is the true story of every article.
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


def _story(rng: random.Random, n: int, zone: str) -> tuple[str, list[str], str]:
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
    return title, paragraphs, date


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
    for n in range(stories):
        zone = ZONES[n % len(ZONES)]
        title, paragraphs, date = _story(rng, n, zone)
        label = f"story-{n}"
        out.append(Labeled(f"s{n}-0", label, title, "\n\n".join(paragraphs), date, f"https://a.example/{n}.html"))
        for k, kind in enumerate(rng.sample(range(5), rng.randint(1, 4)), start=1):
            t, ps = _repost(rng, title, paragraphs, kind)
            out.append(Labeled(f"s{n}-{k}", label, t, "\n\n".join(ps), date, f"https://site{k}.example/{n}.html"))
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
