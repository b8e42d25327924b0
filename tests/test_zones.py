"""Zone matching by official name and alias: exact, never by part of a name."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from syndicate.types import Article, Zone
from syndicate.zones import ZoneIndex

from .helpers import SHANGHAI

ZONES = [
    Zone("xishan", "锡山经济技术开发区", "无锡", "江苏", ("锡山经开区", "锡山开发区")),
    Zone("wuxi-hitech", "无锡高新技术产业开发区", "无锡", "江苏", ("无锡高新区",)),
    Zone("sip", "苏州工业园区", "苏州", "江苏"),
]


def named(*names: str) -> Article:
    return Article("s", "k", "t", "https://x/", datetime(2020, 1, 1, tzinfo=SHANGHAI), "<p>b</p>", zone_names=names)


@pytest.mark.parametrize(
    ("names", "slugs", "unmatched"),
    [
        (("锡山经济技术开发区",), ("xishan",), ()),
        (("锡山经开区",), ("xishan",), ()),
        ((" 锡山开发区 ",), ("xishan",), ()),
        (("无锡高新区", "苏州工业园区"), ("wuxi-hitech", "sip"), ()),
        (("锡山",), (), ("锡山",)),  # part of a name is not the zone
        (("无锡",), (), ("无锡",)),  # a city is not a zone
        (("锡山经开区", "锡山经济技术开发区"), ("xishan",), ()),  # one zone named twice counts once
        (("ＳＩＰ",), (), ("ＳＩＰ",)),
        ((), (), ()),
    ],
)
def test_assign(names: tuple[str, ...], slugs: tuple[str, ...], unmatched: tuple[str, ...]) -> None:
    got = ZoneIndex(ZONES).assign(named(*names))
    assert (got.slugs, got.unmatched) == (slugs, unmatched)


def test_full_width_forms_fold() -> None:
    zones = [Zone("z", "ＡＢＣ开发区", "某市")]
    assert ZoneIndex(zones).assign(named("ABC开发区")).slugs == ("z",)


def test_alias_never_shadows_another_zones_name() -> None:
    zones = [Zone("a", "甲开发区", "某", aliases=("乙开发区",)), Zone("b", "乙开发区", "某")]
    assert ZoneIndex(zones).assign(named("乙开发区")).slugs == ("b",)


# -- text mentions (Aho-Corasick) ----------------------------------------------------------------------

MORE = [
    *ZONES,
    Zone("kunshan", "昆山经济技术开发区", "苏州", "江苏", ("昆山经开区",)),
    Zone("wujiang", "吴江经济技术开发区", "苏州", "江苏", ("吴江经开区",)),
    Zone("xiangcheng", "相城经济技术开发区", "苏州", "江苏", ("相城经开区",)),
    Zone("wuzhong", "吴中经济技术开发区", "苏州", "江苏", ("吴中经开区",)),
]


@pytest.mark.parametrize(
    ("text", "slugs"),
    [
        ("锡山经开区召开座谈会", ("xishan",)),
        ("锡山区召开座谈会", ()),  # 锡山 alone is not the zone
        ("无锡高新区与苏州工业园区签约", ("wuxi-hitech", "sip")),
        ("无锡市召开会议", ()),  # a city is no zone
        ("锡 山 经 开 区", ("xishan",)),  # spacing folded
        ("苏州工业园区苏州工业园区", ("sip",)),
    ],
)
def test_mentions(text: str, slugs: tuple[str, ...]) -> None:
    assert ZoneIndex(MORE).mentions(text) == slugs


def test_a_name_inside_a_longer_name_is_not_a_mention() -> None:
    zones = [Zone("a", "无锡高新区", "无锡"), Zone("b", "高新区", "某")]
    assert ZoneIndex(zones).mentions("无锡高新区发布公告") == ("a",)
    assert ZoneIndex(zones).mentions("高新区发布公告") == ("b",)


def test_a_list_of_many_zones_pulls_the_article_into_none() -> None:
    index = ZoneIndex(MORE, max_mentions=5)
    listing = "名单:锡山经开区、无锡高新区、苏州工业园区、昆山经开区、吴江经开区、相城经开区。"
    assert len(index.mentions(listing)) == 6
    assert index.assign(named(), text=listing).slugs == ()
    # Metadata still counts, and five mentions are not yet a list.
    assert index.assign(named("吴中经开区"), text=listing).slugs == ("wuzhong",)
    five = "锡山经开区、无锡高新区、苏州工业园区、昆山经开区、吴江经开区"
    assert len(index.assign(named(), text=five).slugs) == 5


def test_metadata_default_and_text_add_up() -> None:
    got = ZoneIndex(MORE).assign(named("锡山开发区"), default="sip", text="与昆山经开区合作")
    assert got.slugs == ("xishan", "sip", "kunshan")


# -- the built-in registry ------------------------------------------------------------------------------


def test_builtin_registry_slugs_are_pinyin_unique_and_stable() -> None:
    from syndicate.registry import load_builtin

    zones = load_builtin("national-2018")
    assert len(zones) == 375
    assert len({z.slug for z in zones}) == 375
    by_name = {z.name: z for z in zones}
    assert by_name["锡山经济技术开发区"].slug == "xishan-etdz"
    assert by_name["无锡高新技术产业开发区"].slug == "wuxi-htz"
    assert by_name["苏州浒墅关经济技术开发区"].slug == "suzhouxushuguan-etdz"
    assert by_name["锡山经济技术开发区"].city == "无锡"
    assert by_name["锡山经济技术开发区"].province == "江苏"
    assert "锡山经开区" in by_name["锡山经济技术开发区"].aliases
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", z.slug) for z in zones)


def test_config_overrides_by_name_and_candidates_colliding_with_it_are_dropped() -> None:
    from syndicate.registry import merge_zones

    builtin = [
        Zone("xishan-etdz", "锡山经济技术开发区", "无锡", "江苏", ("锡山经开区", "锡山开发区")),
        Zone("other-etdz", "另一个经济技术开发区", "某市", "某省", ("锡山园区", "另一个经开区")),
    ]
    configured = [Zone("xishan", "锡山经济技术开发区", "无锡", "江苏", ("锡山园区",)), Zone("new", "新开发区", "新城")]
    merged = merge_zones(builtin, configured)
    slugs = {z.slug: z for z in merged.zones}
    assert set(slugs) == {"xishan", "other-etdz", "new"}  # overridden by name, keeping the config's slug
    assert slugs["xishan"].aliases == ("锡山园区",)  # the operator's aliases are exact and kept
    assert slugs["other-etdz"].aliases == ("另一个经开区",)  # the candidate naming xishan too is dropped
    assert merged.dropped_aliases == ("alias '锡山园区' of other-etdz also names xishan: dropped",)


def test_candidate_alias_naming_two_builtin_zones_is_dropped_from_both() -> None:
    from syndicate.registry import merge_zones

    builtin = [
        Zone("a-etdz", "甲经济技术开发区", "某", aliases=("甲开发区", "通用开发区")),
        Zone("b-etdz", "乙经济技术开发区", "某", aliases=("乙开发区", "通用开发区")),
    ]
    merged = merge_zones(builtin, [])
    assert [z.aliases for z in merged.zones] == [("甲开发区",), ("乙开发区",)]
    assert len(merged.dropped_aliases) == 2
    assert all("通用开发区" in m for m in merged.dropped_aliases)
