"""Which feeds exist and what each holds (publish/catalog.py): pure, tested with plain values."""

from __future__ import annotations

from typing import NamedTuple

from syndicate.publish import catalog
from syndicate.types import Zone

ZONES = [
    Zone("xishan", "锡山经济技术开发区", "无锡"),
    Zone("wuxi-hitech", "无锡高新区", "无锡"),
    Zone("sip", "苏州工业园区", "苏州"),
]
SLUGS = {"无锡": "wuxi", "苏州": "suzhou", "文字新闻": "wenzixinwen", "文字·新闻": "wenzixinwen"}


class M(NamedTuple):
    canonical: bool
    zones: set[str]
    category: str | None


def slug(name: str) -> str:
    return SLUGS[name]


def test_zone_city_category_and_all_selections() -> None:
    selections = [
        *catalog.zone_and_city_selections("平台", ZONES, slug),
        *catalog.category_selections("平台", ["文字新闻", "文字·新闻"], slug),
        catalog.all_selection("平台"),
    ]
    paths = [s.spec.path for s in selections]
    assert paths == [
        "zones/xishan",
        "zones/wuxi-hitech",
        "zones/sip",
        "cities/suzhou",
        "cities/wuxi",
        "categories/wenzixinwen-2",
        "categories/wenzixinwen",
        "all",
    ]  # fmt: skip: clashing slugs are numbered in sorted order of the names ("文字·新闻" < "文字新闻")
    by_path = {s.spec.path: s for s in selections}
    assert by_path["cities/wuxi"].zones == ("xishan", "wuxi-hitech")
    assert by_path["zones/sip"].city == "苏州"
    assert by_path["all"].zones is None and by_path["all"].category is None


def test_membership_rule_and_one_pass_listing() -> None:
    selections = [*catalog.zone_and_city_selections("平台", ZONES, slug), catalog.all_selection("平台")]
    selections += catalog.category_selections("平台", ["文字新闻"], slug)
    members = {
        1: M(True, {"xishan"}, "文字新闻"),
        2: M(False, {"xishan"}, "文字新闻"),  # a duplicate: in no feed
        3: M(True, {"sip", "wuxi-hitech"}, None),
        4: M(True, set(), "文字新闻"),
    }
    listed = catalog.list_feeds(selections, members)
    assert listed["zones/xishan"] == [1]
    assert listed["cities/wuxi"] == [1, 3]
    assert listed["cities/suzhou"] == [3]
    assert listed["categories/wenzixinwen"] == [1, 4]
    assert listed["all"] == [1, 3, 4]
    for selection in selections:  # the one-pass listing and the rule agree
        assert listed[selection.spec.path] == [i for i, m in members.items() if catalog.holds(selection, m)]


def test_other_sources_names_each_once_without_the_article_own() -> None:
    titles = {"a": "甲站", "b": "乙站"}
    assert catalog.other_sources(titles, ["a", "b", "b", "c"], "a") == ("乙站", "c")
    assert catalog.other_sources(titles, None, "a") == ()
