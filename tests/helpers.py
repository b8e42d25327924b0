"""Small test helpers: a hand-moved clock and a page writer in the platform's text format."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def page(
    title: str = "锡山经开区举办青年干部专题培训班",
    date: str = "2020-10-19",
    source: str = "锡山区宣传部",
    zone: str = "锡山经济技术开发区",
    city: str = "无锡",
    category: str = "文字新闻",
    body: tuple[str, ...] = ("第一段正文。", "第二段正文。"),
    colon: str = ":",
) -> str:
    """A page in the platform's text format, with chrome before and after the article."""
    meta = f"发布时间{colon}{date}  来源{colon}{source}  发布开发区{colon}{zone}"
    paragraphs = "\n\n".join(f"  {p}" for p in body)
    return (
        "打造网上国际投资促进平台 致力于中国投资促进事业\n"
        f"您现在的位置:首页 > 开发区新闻 > {city} > {category}\n"
        f"{title}\n{meta}\n\n{paragraphs}\n\n"
        "上一条:上一篇文章\n下一条:下一篇文章\n与我们联系\n"
        "  • 联系电话:+86-0000-00000000\nCopyright © 2015-2024 示例平台 All Rights Reserved."
    )
