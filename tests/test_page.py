"""The local store's article formats: page text (.txt) and front matter (.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from syndicate.sources import DirectorySource, parse_front_matter, parse_page
from syndicate.sources.local import decode_text

from .helpers import SHANGHAI, page


@pytest.mark.parametrize("colon", [":", "："])
def test_page_every_field(colon: str) -> None:
    fields = parse_page(page(colon=colon, body=("甲段。", "乙段 <b>&</b>")), SHANGHAI)
    assert fields.title == "锡山经开区举办青年干部专题培训班"
    assert fields.published == datetime(2020, 10, 19, tzinfo=SHANGHAI)
    assert fields.source == "锡山区宣传部"
    assert fields.zones == ("锡山经济技术开发区",)
    assert fields.city == "无锡"
    assert fields.category == "文字新闻"
    # Paragraphs become escaped <p> elements; chrome, 上一条/下一条 and the footer are dropped.
    assert fields.body_html == "<p>甲段。</p><p>乙段 &lt;b&gt;&amp;&lt;/b&gt;</p>"


def test_page_with_time_and_chinese_date() -> None:
    fields = parse_page(page(date="2020年10月19日 08:30"), SHANGHAI)
    assert fields.published == datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)


def test_page_without_breadcrumbs_or_zone() -> None:
    text = "标题一行\n发布时间:2020-01-02 来源:某局\n\n正文。\n上一条:无"
    fields = parse_page(text, SHANGHAI)
    assert (fields.title, fields.source, fields.zones, fields.city) == ("标题一行", "某局", (), None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (page().replace("发布时间:2020-10-19", "时间 2020-10-19"), "missing field 发布时间"),
        (page(date="2020-02-30"), "field 发布时间"),
        (page(date="昨天"), "field 发布时间"),
        (page(body=()), "missing body"),
        ("发布时间:2020-10-19 来源:x\n正文", "missing field title"),
    ],
)
def test_page_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_page(text, SHANGHAI)


FRONT = """+++
title = "昆山经开区组团参加对接活动"
published = 2020-11-12T14:00:00+08:00
source = "昆山经开区管委会"
zone = ["昆山经开区", "苏州工业园区"]
city = "苏州"
category = "招商动态"
link = "https://www.example.org/a.html"
+++

第一段,**加粗**。

<script>alert(1)</script>
"""


def test_front_matter_every_field() -> None:
    f = parse_front_matter(FRONT, SHANGHAI)
    assert f.title == "昆山经开区组团参加对接活动"
    assert f.published == datetime(2020, 11, 12, 14, 0, tzinfo=SHANGHAI)
    assert (f.source, f.city, f.category) == ("昆山经开区管委会", "苏州", "招商动态")
    assert f.zones == ("昆山经开区", "苏州工业园区")
    assert f.link == "https://www.example.org/a.html"
    assert "<strong>加粗</strong>" in f.body_html


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2020-11-12", datetime(2020, 11, 12, tzinfo=SHANGHAI)),
        ('"2020年11月12日 10:00"', datetime(2020, 11, 12, 10, 0, tzinfo=SHANGHAI)),
        ("2020-11-12T10:00:00", datetime(2020, 11, 12, 10, 0, tzinfo=SHANGHAI)),
    ],
)
def test_front_matter_dates(published: str, expected: datetime) -> None:
    f = parse_front_matter(f'+++\ntitle = "t"\npublished = {published}\n+++\nbody', SHANGHAI)
    assert f.published == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title = 't'", "must begin with a \\+\\+\\+ line"),
        ("+++\ntitle = 't'\npublished = 2020-01-01\nbody", "not closed"),
        ("+++\npublished = 2020-01-01\n+++\nbody", "missing field title"),
        ("+++\ntitle = 't'\n+++\nbody", "missing field published"),
        ("+++\ntitle = 't'\npublished = 2020-01-01\nzone = 3\n+++\nbody", "field zone"),
        ("+++\ntitle = 't'\npublished = 2020-01-01\nauthor = 'x'\n+++\nbody", "unknown front matter key 'author'"),
        ("+++\ntitle = 't'\npublished = 2020-01-01\n+++\n", "missing body"),
        ("+++\ntitle = \n+++\nbody", "not valid TOML"),
    ],
)
def test_front_matter_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_front_matter(text, SHANGHAI)


def test_decode_gbk_file() -> None:
    assert decode_text("锡山经开区".encode("gbk")) == "锡山经开区"
    assert decode_text("\ufeff锡山".encode()) == "锡山"


def test_directory_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(page(), encoding="utf-8")
    (tmp_path / "nodate.txt").write_text(page().replace("发布时间", "时间"), encoding="utf-8")
    (tmp_path / "good2.md").write_text(FRONT, encoding="utf-8")
    (tmp_path / "notes.docx").write_bytes(b"ignored")
    result = DirectorySource("local", tmp_path, "https://x.example/{stem}.html", SHANGHAI).scan()
    assert [a.key for a in result.articles] == ["good", "good2"]
    assert len(result.problems) == 1
    assert "nodate.txt" in result.problems[0]
    assert "发布时间" in result.problems[0]
    assert result.error is None
    good = result.articles[0]
    assert good.link == "https://x.example/good.html"
    # The .md body's script is gone with its content; its link comes from front matter.
    assert "script" not in result.articles[1].body_html
    assert "alert" not in result.articles[1].body_html
    assert result.articles[1].link == "https://www.example.org/a.html"


def test_directory_missing_folder_is_the_source_error(tmp_path: Path) -> None:
    result = DirectorySource("local", tmp_path / "nope", "https://x.example/{stem}", SHANGHAI).scan()
    assert result.articles == ()
    assert result.error is not None
    assert "nope" in result.error
    assert "not found" in result.error


def test_same_stem_twice_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(page(), encoding="utf-8")
    (tmp_path / "a.md").write_text(FRONT, encoding="utf-8")
    result = DirectorySource("local", tmp_path, "https://x.example/{stem}", SHANGHAI).scan()
    assert len(result.articles) == 1
    assert "same name" in result.problems[0]
