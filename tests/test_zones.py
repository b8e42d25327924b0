"""Zone matching by official name and alias: exact, never by part of a name."""

from __future__ import annotations

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
