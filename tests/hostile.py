"""The hostile partner corpus (tests/data/hostile/manifest.toml) run end to end: each case served over
real HTTP on 127.0.0.1 beside a well-behaved partner, then fetch, publish and digest, then the outputs
parsed and checked. Used by tests/test_hostile.py and by bench/hostile.py (which prints peak memory)."""

from __future__ import annotations

import textwrap
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Response

from syndicate import delivery, pipeline
from syndicate.config import load_config
from syndicate.pipeline import Context
from syndicate.types import FetchReport

from .safety import mail_problems, published_problems
from .storeviews import source_articles

HOSTILE = Path(__file__).parent / "data" / "hostile"
CASES: list[dict[str, Any]] = tomllib.loads((HOSTILE / "manifest.toml").read_text(encoding="utf-8"))["case"]
NOW = datetime(2020, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai: digests are due

GOOD = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Good partner</title><link>http://good.example/</link>
<item><title>\xe6\xad\xa3\xe5\xb8\xb8\xe6\x96\xb0\xe9\x97\xbb\xe4\xb8\x80</title><link>http://good.example/1.html</link>
<guid>g1</guid><pubDate>Mon, 30 Nov 2020 08:00:00 +0800</pubDate><description>good one</description></item>
<item><title>\xe6\xad\xa3\xe5\xb8\xb8\xe6\x96\xb0\xe9\x97\xbb\xe4\xba\x8c</title><link>http://good.example/2.html</link>
<guid>g2</guid><pubDate>Mon, 30 Nov 2020 09:00:00 +0800</pubDate><description>good two</description></item>
</channel></rss>
"""


def _rss(items: str | bytes) -> bytes:
    # Made as bytes: the generated cases are large, and the peak memory bench/hostile.py reports is the
    # process's, generator included.
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>h</title>'
    items = items.encode() if isinstance(items, str) else items
    return head + b"<link>http://hostile.example/</link>" + items + b"</channel></rss>"


def _huge() -> Iterator[bytes]:
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
    chunk = b"A" * (1024 * 1024)
    for _ in range(100):  # 100 MB
        yield chunk


def _drip() -> Iterator[bytes]:
    for byte in b"<?xml version='1.0'?><rss>":
        time.sleep(1)
        yield bytes([byte])


def serve(case: dict[str, Any], server: HTTPServer, public: HTTPServer) -> str:
    """Register the case on the servers; returns the URL the source is configured with."""
    name = case["name"]
    path = f"/{name}"
    kind = case.get("generate")
    if kind is None:
        server.expect_request(path).respond_with_data((HOSTILE / case["file"]).read_bytes(), content_type="text/xml")
    elif kind == "huge":
        server.expect_request(path).respond_with_handler(lambda _r: Response(_huge(), content_type="text/xml"))
    elif kind == "drip":
        server.expect_request(path).respond_with_handler(lambda _r: Response(_drip(), content_type="text/xml"))
    elif kind == "loop":
        server.expect_request(path).respond_with_data("", status=302, headers={"Location": f"{path}-b"})
        server.expect_request(f"{path}-b").respond_with_data("", status=302, headers={"Location": path})
    elif kind == "private":
        server.expect_request("/secret").respond_with_data(GOOD, content_type="text/xml")
        public.expect_request(path).respond_with_data("", status=302, headers={"Location": server.url_for("/secret")})
        return public.url_for(path)
    elif kind == "long-title":
        title = "长".encode() * 10 + b"A" * 10_000_000
        body = _rss(
            b"<item><title>"
            + title
            + b"</title><link>http://hostile.example/t</link><description>d</description></item>"
        )
        server.expect_request(path).respond_with_data(body, content_type="text/xml")
    elif kind == "many":
        items = "".join(
            f"<item><title>t{i}</title><link>http://hostile.example/{i}</link></item>" for i in range(100_000)
        )
        server.expect_request(path).respond_with_data(_rss(items), content_type="text/xml")
    elif kind == "unresolvable":
        server.expect_request(path).respond_with_data(
            "", status=302, headers={"Location": "http://feed.partner.invalid/rss.xml"}
        )
    elif kind in ("retry-huge", "retry-odd"):
        wait = "99999999999999" if kind == "retry-huge" else "\u00b2"
        server.expect_request(path).respond_with_data("busy", status=503, headers={"Retry-After": wait})
    elif kind == "brotli":
        server.expect_request(path).respond_with_data(
            (HOSTILE / "brotli-bomb.br").read_bytes(), content_type="text/xml", headers={"Content-Encoding": "br"}
        )
    elif kind == "deep":
        depth = 40_000
        body = "<ul><li>" * depth + "深" + "</li></ul>" * depth  # 720 KB
        item = f"<item><title>深层嵌套</title><link>http://hostile.example/deep</link><description><![CDATA[{body}]]></description></item>"
        server.expect_request(path).respond_with_data(_rss(item), content_type="text/xml")
    elif kind == "prefixed":
        entries = "".join(f"<x:entry><x:id>e{i}</x:id><x:title>t{i}</x:title></x:entry>" for i in range(100_000))
        doc = f'<?xml version="1.0" encoding="utf-8"?><x:feed xmlns:x="http://www.w3.org/2005/Atom"><x:title>p</x:title>{entries}</x:feed>'
        server.expect_request(path).respond_with_data(doc.encode(), content_type="application/atom+xml")
    else:
        raise ValueError(f"unknown generator {kind!r}")
    return server.url_for(path)


def respond_good(server: HTTPServer) -> str:
    server.expect_request("/good").respond_with_data(GOOD, content_type="application/rss+xml")
    return server.url_for("/good")


@dataclass
class Outcome:
    case: dict[str, Any]
    hostile: FetchReport
    good: FetchReport
    titles: list[str]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_case(case: dict[str, Any], folder: Path, server: HTTPServer, public: HTTPServer) -> Outcome:
    """Fetch the case and the good partner together, publish, send digests to the outbox, check outputs."""
    url = serve(case, server, public)
    good = respond_good(server)
    config_path = folder / "syndicate.toml"
    config_path.write_text(
        textwrap.dedent(
            f"""
            [site]
            title = "测试平台"
            base_url = "http://feeds.example.org/"

            [database]
            url = "sqlite:///{folder / "db.sqlite"}"

            [publish]
            output_dir = "public"

            [digest]
            send_at = "08:00"
            outbox_dir = "outbox"

            [[zones]]
            slug = "xishan"
            name = "锡山经济技术开发区"
            city = "无锡"

            [[sources]]
            id = "hostile"
            kind = "feed"
            url = "{url}"
            zone = "xishan"
            timeout = "3s"

            [[sources]]
            id = "good"
            kind = "feed"
            url = "{good}"
            zone = "xishan"

            [[recipients]]
            email = "zhang@example.org"
            zones = ["xishan"]
            """
        ),
        encoding="utf-8",
    )
    started = time.perf_counter()
    # 127.0.0.2 plays a public host: only a redirect from it into 127.0.0.1 crosses into a private network.
    with Context.open(load_config(config_path), lambda: NOW, is_private=lambda ip: ip != "127.0.0.2") as ctx:
        reports = {r.source_id: r for r in pipeline.fetch(ctx)}
        pipeline.publish(ctx)
        delivery.digest(ctx)
        titles = [a.article.title for a in source_articles(ctx.store, "hostile")]
    problems = published_problems(folder / "public") + mail_problems(folder / "outbox")
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".xml", ".json", ".html", ".eml") and b"root:x:0:0" in path.read_bytes():
            problems.append(f"{path}: holds /etc/passwd")
    return Outcome(case, reports["hostile"], reports["good"], titles, problems, time.perf_counter() - started)


def verdict(outcome: Outcome) -> list[str]:
    """What is wrong with an outcome, by the manifest (an empty list when it is as it must be)."""
    case, hostile, good = outcome.case, outcome.hostile, outcome.good
    wrong = list(outcome.problems)
    if good.failed or good.new != 2:
        wrong.append(f"the good partner was affected: {good}")
    reason = case.get("reason")
    if case["outcome"] == "error":
        if not hostile.failed:
            wrong.append(f"expected an error, got {hostile}")
        elif reason and not any(reason in e for e in hostile.errors):
            wrong.append(f"expected {reason!r} in the error, got {hostile.errors}")
        if outcome.titles:
            wrong.append(f"stored {len(outcome.titles)} articles of a failed read")
    else:
        if hostile.failed:
            wrong.append(f"expected success, got {hostile.errors}")
        if hostile.new != case["entries"]:
            wrong.append(f"expected {case['entries']} entries, stored {hostile.new}")
        if reason and not any(reason in w for w in hostile.warnings):
            wrong.append(f"expected {reason!r} among the warnings, got {hostile.warnings}")
        if "title" in case and case["title"] not in outcome.titles:
            wrong.append(f"expected the title {case['title']!r}, got {outcome.titles}")
        if any(len(t) > 1000 for t in outcome.titles):
            wrong.append("a title longer than 1000 characters was stored")
    return wrong


def server_pair() -> tuple[HTTPServer, HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    public = HTTPServer(host="127.0.0.2", threaded=True)
    server.start()
    public.start()
    return server, public
