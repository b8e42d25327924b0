"""Generated partner feeds for the benchmarks: Chinese text, RSS 2.0, deterministic per seed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

WORDS = [
    "开发区",
    "招商",
    "项目",
    "签约",
    "投资",
    "企业",
    "产业",
    "园区",
    "智能制造",
    "集成电路",
    "生物医药",
    "新能源",
    "营商环境",
    "服务",
    "政策",
    "人才",
    "创新",
    "平台",
    "合作",
    "对接",
    "论坛",
    "开工",
    "竣工",
    "投产",
    "产值",
    "亿元",
    "外资",
    "出口",
    "科技",
    "研发",
    "基金",
    "数字经济",
    "管委会",
    "座谈会",
    "推进会",
    "调研",
    "考察",
    "落户",
    "增长",
    "同比",
    "季度",
    "规划",
    "建设",
    "配套",
    "基础设施",
    "绿色",
    "低碳",
]
ZONES = ["锡山经济技术开发区", "无锡高新技术产业开发区", "苏州工业园区", "昆山经济技术开发区"]


def sentence(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) + "。"


def rss_feed(index: int, entries: int = 50, seed: int = 0) -> bytes:
    rng = random.Random(seed * 100_003 + index)
    start = datetime(2020, 10, 1, tzinfo=UTC)
    items = []
    for n in range(entries):
        when = start + timedelta(hours=n * 7 + index)
        body = "".join(f"<p>{sentence(rng)}{sentence(rng)}{sentence(rng)}</p>" for _ in range(rng.randint(3, 8)))
        items.append(
            "<item>"
            f"<title>{escape(sentence(rng)[:30])}</title>"
            f"<link>https://partner{index}.example.org/news/{n}.html</link>"
            f'<guid isPermaLink="false">partner{index}-{n}</guid>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<category>{rng.choice(ZONES)}</category>"
            f"<description>{escape(body)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>合作站点{index}</title><link>https://partner{index}.example.org/</link>"
        f"<description>示例</description>{''.join(items)}</channel></rss>"
    ).encode()
