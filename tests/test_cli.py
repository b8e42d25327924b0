"""The ``syndicate`` command, through click's test runner, on a real SQLite file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from syndicate.cli import cli

from .helpers import page, rss


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def cells(out: str, first: str) -> list[str]:
    """The cells of the table row of ``out`` whose first cell is ``first`` (columns are set apart by at
    least two spaces; no cell holds two in a row)."""
    for line in out.splitlines():
        found = re.split(r"\s{2,}", line.strip())
        if found[0] == first:
            return found
    raise AssertionError(f"no row {first!r} in:\n{out}")


def test_check_ok_and_bad(write_config: Callable[..., Path]) -> None:
    path = write_config()
    code, out, _ = run(path, "check")
    assert code == 0
    assert "ok (3 zones, 1 sources)" in out
    path = write_config("[publish2]\nx = 1\n")
    code, _, err = run(path, "check")
    assert code == 2
    assert "publish2" in err
    assert str(path) in err


def test_config_from_environment(write_config: Callable[..., Path]) -> None:
    path = write_config()
    result = CliRunner().invoke(cli, ["check"], env={"SYNDICATE_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout


def test_init_fetch_publish(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config()
    (tmp_path / "articles" / "a.txt").write_text(page(), encoding="utf-8")
    assert run(path, "init")[1].strip() == "database created"
    assert run(path, "init")[1].strip() == "database is current"
    code, out, _ = run(path, "fetch")
    assert code == 0
    assert cells(out, "local") == ["local", "read", "1", "0", "0", "0"]
    code, out, _ = run(path, "publish")
    assert code == 0
    assert "31 files written" in out  # 3 zones, 2 cities, 1 category, all: RSS, Atom, JSON, page; index, OPML, XSL
    assert (tmp_path / "public/zones/xishan/rss.xml").exists()


def test_fetch_without_init_creates_the_database(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config()
    code, _, _ = run(path, "fetch")
    assert code == 0
    assert (tmp_path / "var/syndicate.db").exists()


def test_broken_file_fails_the_fetch_but_the_rest_is_stored(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config()
    (tmp_path / "articles" / "good.txt").write_text(page(), encoding="utf-8")
    (tmp_path / "articles" / "bad.txt").write_text("no article here", encoding="utf-8")
    code, out, err = run(path, "fetch")
    assert code == 1
    assert "bad.txt" in err
    assert "发布时间" in err
    assert cells(out, "local") == ["local", "read", "1", "0", "0", "1"]


def test_unknown_source_id(write_config: Callable[..., Path]) -> None:
    code, _, err = run(write_config(), "fetch", "nope")
    assert code == 2
    assert "'nope'" in err


def test_unreachable_database_is_a_clear_error(write_config: Callable[..., Path]) -> None:
    path = write_config(db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, _, err = run(path, "fetch")
    assert code == 1
    assert "unreachable" in err
    assert "Traceback" not in err


def test_serve_on_a_busy_port_says_so_before_claiming_to_serve(write_config: Callable[..., Path]) -> None:
    import socket

    path = write_config()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = run(path, "serve", "--port", str(port))
    assert code == 1
    assert "serving" not in out
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in err


def test_fetch_says_not_modified_for_a_304(write_config: Callable[..., Path], httpserver: HTTPServer) -> None:
    """A partner answering 304 is "not modified", not a row of zeros that reads as an empty feed."""
    from werkzeug import Request, Response

    doc = rss([{"title": "t", "link": "http://p.example/1", "body": "b"}])

    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(doc, headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"})

    httpserver.expect_request("/p.xml").respond_with_handler(answer)
    path = write_config(f'[[sources]]\nid = "p"\nkind = "feed"\nurl = "{httpserver.url_for("/p.xml")}"\n')

    def row() -> list[str]:
        code, out, _ = run(path, "fetch", "p")
        assert code == 0
        return cells(out, "p")

    assert row() == ["p", "read", "1", "0", "0", "0"]
    assert row() == ["p", "not modified", "0", "0", "0", "0"]


def test_fetch_counts_many_sources_with_nothing_new_in_one_line(
    write_config: Callable[..., Path], httpserver: HTTPServer
) -> None:
    """Thirty partners: most answer 304 to their ETag, one CMS sends the same GBK document again without
    validators, one starts failing with an HTML error page, one has news. The news and the failure keep
    their rows; the twenty-eight with nothing new are counted in one line."""
    from werkzeug import Request, Response

    versions = {f"/p{i}.xml": 1 for i in range(30)}
    down = set()
    gbk = (
        '<?xml version="1.0" encoding="gbk"?>\n<rss version="2.0"><channel><title>锡山区门户</title>'
        "<link>http://gov.example/</link><description></description><item><title>招商动态</title>"
        "<link>http://gov.example/a.html#top</link><description>&lt;p&gt;正文&lt;/p&gt;</description>"
        "</item></channel></rss>"
    ).encode("gbk")

    def answer(request: Request) -> Response:
        if request.path in down:
            return Response("<html><body><h1>503 Service Unavailable</h1></body></html>", 503, content_type="text/html")
        if request.path == "/p3.xml":
            return Response(gbk, content_type="text/xml")  # no ETag, no Last-Modified
        version = versions[request.path]
        etag = f'"v{version}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        items = [{"title": f"t{n}", "link": f"http://p.example{request.path}/{n}", "body": "b"} for n in range(version)]
        return Response(rss(items), headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    for path in versions:
        httpserver.expect_request(path).respond_with_handler(answer)
    path = write_config(
        "".join(
            f'[[sources]]\nid = "p{i}"\nkind = "feed"\nurl = "{httpserver.url_for(f"/p{i}.xml")}"\n' for i in range(30)
        )
    )
    code, out, _ = run(path, "fetch")
    assert code == 0
    assert cells(out, "p7") == ["p7", "read", "1", "0", "0", "0"]  # a first read: every row shown
    versions["/p7.xml"] = 2
    down.add("/p5.xml")
    code, out, err = run(path, "fetch")
    assert code == 1  # a source failed
    assert cells(out, "p7")[:3] == ["p7", "read", "1"]  # its row: it has something to say
    assert cells(out, "p5")[:2] == ["p5", "failed"]
    assert "error: p5:" in err
    assert "p8 " not in out and "p29" not in out and "p3 " not in out
    assert "28 more sources with nothing new: 27 not modified, 1 same document" in out


def test_sources_shows_health(write_config: Callable[..., Path], tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data(
        rss([{"title": "t", "link": "http://p.example/1", "body": "b"}])
    )
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    path = write_config(
        f'[[sources]]\nid = "moved"\nkind = "feed"\nurl = "{httpserver.url_for("/old")}"\n'
        f'[[sources]]\nid = "broken"\nkind = "feed"\nurl = "{httpserver.url_for("/broken")}"\n'
    )
    code, _, err = run(path, "fetch", "moved", "broken")
    assert code == 1
    assert "broken: http: HTTP 500" in err
    result = CliRunner().invoke(cli, ["--config", str(path), "sources", "--wide"])
    assert result.exit_code == 0
    # source, kind, last attempt, last success, status, errors, last error, next due, entries
    assert cells(result.stdout, "local")[2] == "never"
    moved = cells(result.stdout, "moved")
    assert moved[1] == "feed" and moved[4] == "200" and moved[5] == "0" and moved[8] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST", moved[2])  # full, with its zone
    broken = cells(result.stdout, "broken")
    assert broken[4] == "500 (failing)" and broken[5] == "1" and "HTTP 500" in broken[6]
    # At 80 columns: nothing cut, every line fits; the zone named once; the error in full below.
    narrow = CliRunner().invoke(cli, ["--config", str(path), "sources"], env={"COLUMNS": "80"}).stdout
    table = narrow.split("times in")[0]
    assert all(len(line) <= 80 for line in table.splitlines()), narrow
    assert "…" not in narrow
    assert cells(narrow, "broken")[:4] == ["broken", "feed", "500 (failing)", "1"]
    assert cells(narrow, "local")[2] == "never read"
    assert re.fullmatch(r"\d\d:\d\d", cells(narrow, "moved")[4])  # today: the time of day
    assert "times in Asia/Shanghai (CST)" in narrow
    assert any(line.startswith("broken: http: HTTP 500") for line in narrow.splitlines())
    assert f"moved permanently from {httpserver.url_for('/old')} to {httpserver.url_for('/new')}" in result.stdout


def test_sources_names_the_feeds_of_a_web_page_given_as_a_feed(
    write_config: Callable[..., Path], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/news/").respond_with_data(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>新闻中心</title>'
        '<link rel="alternate" type="application/rss+xml" href="/news/rss.xml"></head><body>…</body></html>',
        content_type="text/html; charset=utf-8",
    )
    path = write_config(f'[[sources]]\nid = "site"\nkind = "feed"\nurl = "{httpserver.url_for("/news/")}"\n')
    code, _, err = run(path, "fetch", "site")
    assert code == 1
    expected = f"this is a web page, not a feed; its feeds are: {httpserver.url_for('/news/rss.xml')}"
    assert expected in err
    result = CliRunner().invoke(cli, ["--config", str(path), "sources"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert f"site: parse: {expected}" in result.stdout  # whole, however narrow the terminal


def test_check_with_the_builtin_registry_reports_dropped_aliases(write_config: Callable[..., Path]) -> None:
    path = write_config(
        '[zones_registry]\nbuiltin = "national-2018"\n'
        '[[zones]]\nslug = "test-zone"\nname = "测试开发区"\ncity = "无锡"\naliases = ["宜兴经开区"]\n'
    )
    code, out, err = run(path, "check")
    assert code == 0, err
    assert "ok (376 zones" in out  # 375 built-in, the 3 test zones override theirs by name, 1 added
    assert "alias '宜兴经开区' of yixing-etdz also names test-zone: dropped" in err


def test_check_prints_patterns_intact_and_suggests_keys(write_config: Callable[..., Path]) -> None:
    """The terminal shows what the config error says: rich markup must not swallow ``[a-z0-9]``."""
    path = write_config("[[zones]]\nslug = 'Xi Shan'\nname = 'n'\ncity = 'c'\n")
    text = path.read_text(encoding="utf-8").replace("items_per_feed = 3", "items_per_fed = 3")
    path.write_text(text, encoding="utf-8")
    code, _, err = run(path, "check")
    assert code == 2
    assert "String should match pattern '^[a-z0-9]+(?:-[a-z0-9]+)*$'; got 'Xi Shan'" in err
    assert "unknown key 'items_per_fed'; did you mean 'items_per_feed'?" in err


def test_config_problems_name_their_line_and_the_allowed_kinds(write_config: Callable[..., Path]) -> None:
    path = write_config('[[sources]]\nid = "p"\nkind = "feeed"\nurl = "p.xml"\n')
    text = path.read_text(encoding="utf-8").replace("items_per_feed = 3", "items_per_fed = 3")
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    code, _, err = run(path, "check")
    assert code == 2
    fed = lines.index("items_per_fed = 3") + 1
    kind = lines.index('kind = "feeed"') + 1
    assert f"publish.items_per_fed (line {fed}): unknown key 'items_per_fed'" in err
    # The second [[sources]] table: the line of its kind, and what kind may be.
    assert f"sources[1] (line {kind}): kind = 'feeed' is none of 'directory', 'feed', 'sql'" in err


def test_check_unknown_source_zone(write_config: Callable[..., Path]) -> None:
    path = write_config('[[sources]]\nid = "p"\nkind = "feed"\nurl = "p.xml"\nzone = "nowhere"\n')
    code, _, err = run(path, "check")
    assert code == 2
    assert "sources[1].zone: 'nowhere' is no zone slug" in err


def test_dupes_and_split(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config()
    body = tuple(f"第{i}段:开发区今天举行重大项目集中签约活动,共签约项目二十个,总投资超过一百亿元。" for i in range(4))
    (tmp_path / "articles" / "a.txt").write_text(page(title="原稿", body=body), encoding="utf-8")
    (tmp_path / "articles" / "b.txt").write_text(page(title="转载稿", body=body), encoding="utf-8")
    run(path, "fetch")
    result = CliRunner().invoke(cli, ["--config", str(path), "dupes"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "原稿" in line or "转载稿" in line]
    assert len(rows) == 2
    assert "body 1.00 with 1" in next(r for r in rows if "转载稿" in r)
    assert next(r for r in rows if "原稿" in r).split("│")[1].strip() == "*"

    code, out, _ = run(path, "dupes", "split", "2")
    assert code == 0
    assert "now story 2 on its own" in out
    run(path, "fetch")
    assert "no story has more than one version" in run(path, "dupes")[1]
    code, _, err = run(path, "dupes", "split", "999")
    assert code == 2
    assert "no article '999'" in err


def test_dupes_names_an_excerpt_and_its_figure(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """A partner re-posts only the lead of a release: `dupes` says it joined as an excerpt, and how much of
    it the original contains."""
    extra = '[[sources]]\nid = "brief"\nkind = "directory"\npath = "brief"\n'
    path = write_config(extra + 'link_template = "https://brief.example/{stem}.html"\n')
    (tmp_path / "brief").mkdir()
    body = (
        "11月2日,一家集成电路封装测试企业与锡山经济技术开发区签订投资协议,项目计划总投资二十亿元。",
        "项目将建设晶圆级封装生产线及研发中心,达产后预计年产值三十亿元,新增就业岗位一千二百个。",
        "企业成立于二〇〇八年,是国内领先的封装测试服务商,产品广泛应用于通信、汽车电子和工业控制领域。",
        "企业负责人表示,选择落户开发区,看中的是完善的产业生态、高效的政务服务和优越的人才环境。",
        "下一步,开发区将成立项目服务专班,在规划审批、要素保障和人才引进等方面提供全程服务。",
    )
    (tmp_path / "articles" / "a.txt").write_text(page(title="原稿", body=body), encoding="utf-8")
    (tmp_path / "brief" / "x.txt").write_text(page(title="速览", body=body[:2]), encoding="utf-8")
    assert run(path, "fetch")[0] == 0
    result = CliRunner().invoke(cli, ["--config", str(path), "dupes"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if "速览" in line)
    assert "excerpt 1.00 with 1" in row


def test_digest_resubscribe_needs_a_recipient_and_a_known_one(write_config: Callable[..., Path]) -> None:
    path = write_config('[[recipients]]\nemail = "a@example.org"\nzones = ["xishan"]\n')
    code, _, err = run(path, "digest", "--resubscribe")
    assert code == 2 and "--recipient" in err
    code, _, err = run(path, "digest", "--recipient", "a@example.org", "--resubscribe")
    assert code == 2 and "no recipient 'a@example.org' has been sent a digest yet" in err
    assert run(path, "digest", "--dry-run")[0] == 0  # now it is known
    code, out, _ = run(path, "digest", "--recipient", "a@example.org", "--resubscribe")
    assert code == 0 and "subscribed again" in out
