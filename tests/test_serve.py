"""The feed server over real HTTP on 127.0.0.1 (uvicorn in a thread): types, ETag/304, HEAD, gzip,
traversal, /healthz, WebSub Link headers, replaced files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicate import pipeline, web
from syndicate.config import load_config
from syndicate.files import atomic_write
from syndicate.pipeline import Context
from syndicate.status import store_health

from .helpers import page


@pytest.fixture
def published(write_config: Callable[..., Path], tmp_path: Path) -> Iterator[Context]:
    path = write_config()
    (tmp_path / "articles" / "a.txt").write_text(
        page(body=tuple(f"第{i}段正文,足够长以便压缩。" * 20 for i in range(5))), encoding="utf-8"
    )
    for n in range(4):
        (tmp_path / "articles" / f"b{n}.txt").write_text(
            page(title=f"另一篇{n}", body=(f"不同的正文{n}。",)), encoding="utf-8"
        )
    ctx = Context.open(load_config(path))
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    yield ctx
    ctx.close()


def app_for(ctx: Context, **kw: Any) -> web.FeedApp:
    return web.FeedApp(
        ctx.config.publish.output_dir,
        base_url=ctx.config.site.base_url,
        health=lambda: store_health(ctx),
        **kw,
    )


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/zones/xishan/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/zones/xishan/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/zones/xishan/archive/1.xml", "application/atom+xml; charset=utf-8"),
        ("/zones/xishan/feed.json", "application/feed+json; charset=utf-8"),
        ("/feeds.opml", "text/x-opml; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/feed.xsl", "text/xsl; charset=utf-8"),
    ],
)
def test_content_types(published: Context, start_server: Callable[[web.FeedApp], str], path: str, ctype: str) -> None:
    base = start_server(app_for(published))
    r = httpx.get(base + path)
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.headers["cache-control"] == "public, max-age=300"
    on_disk = published.config.publish.output_dir / (path.lstrip("/") or "index.html")
    assert r.content == on_disk.read_bytes()


def test_etag_last_modified_head_and_gzip(published: Context, start_server: Callable[[web.FeedApp], str]) -> None:
    base = start_server(app_for(published))
    url = base + "/zones/xishan/rss.xml"
    with httpx.Client(headers={"Accept-Encoding": "identity"}) as plain:
        first = plain.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert plain.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert plain.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        not_modified = plain.get(url, headers={"If-Modified-Since": modified})
        assert not_modified.status_code == 304
        assert not_modified.content == b""
        head = plain.head(url)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(first.content))
    raw = httpx.get(url, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == first.content  # httpx decodes it
    assert raw.headers["etag"] != etag  # each representation has its own strong ETag
    assert httpx.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": raw.headers["etag"]}).status_code == 304
    assert int(raw.headers["content-length"]) < len(first.content) / 2  # what crossed the wire was compressed


@pytest.mark.parametrize(
    "path",
    [
        "/../syndicate.toml",
        "/%2e%2e/syndicate.toml",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/zones/%2e%2e/%2e%2e/syndicate.toml",
        "/%252e%252e/syndicate.toml",
        "//etc/passwd",
        "/zones/..%2fsyndicate.toml",
        "/link-out/syndicate.toml",
        "/secret.toml",
        "/nope.xml",
        "/%00",
    ],
)
def test_nothing_outside_is_served(published: Context, start_server: Callable[[web.FeedApp], str], path: str) -> None:
    out = published.config.publish.output_dir
    assert published.config.path is not None
    link = out / "link-out"
    if not link.exists():
        os.symlink(published.config.path.parent, link)
    (out / "secret.toml").write_text("password = 1")  # not a type the server serves
    base = start_server(app_for(published))
    with httpx.Client() as client:
        request = client.build_request("GET", base)
        request.url = request.url.copy_with(raw_path=path.encode())
        r = client.send(request)
    assert r.status_code == 404
    assert b"password" not in r.content


def test_healthz(
    published: Context, start_server: Callable[[web.FeedApp], str], write_config: Callable[..., Path]
) -> None:
    base = start_server(app_for(published))
    r = httpx.get(base + "/healthz")
    assert r.status_code == 200
    assert r.json()["articles"] == 5
    assert r.json()["status"] == "ok"
    gone = Context.open(load_config(write_config(db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")))
    try:
        base2 = start_server(web.FeedApp(published.config.publish.output_dir, health=lambda: store_health(gone)))
        r = httpx.get(base2 + "/healthz")
        assert r.status_code == 503
        assert r.json()["status"] == "unavailable"
    finally:
        gone.close()


def test_websub_link_headers(published: Context, start_server: Callable[[web.FeedApp], str]) -> None:
    base = start_server(app_for(published, hubs=("https://hub.example.org/",)))
    r = httpx.get(base + "/zones/xishan/atom.xml")
    assert r.headers["link"] == (
        '<https://hub.example.org/>; rel="hub", <http://feeds.example.org/zones/xishan/atom.xml>; rel="self"'
    )
    assert "link" not in httpx.get(base + "/index.html").headers


def test_a_replaced_file_is_served_new(published: Context, start_server: Callable[[web.FeedApp], str]) -> None:
    base = start_server(app_for(published))
    url = base + "/zones/sip/rss.xml"
    before = httpx.get(url)
    path = published.config.publish.output_dir / "zones/sip/rss.xml"
    atomic_write(path, before.content.replace(b"</channel>", b"<!-- new --></channel>"))
    deadline = time.monotonic() + 10
    while (r := httpx.get(url)).content == before.content:
        assert time.monotonic() < deadline, "the new file was never served"
        time.sleep(0.1)
    assert r.headers["etag"] != before.headers["etag"]
    assert r.content == path.read_bytes()
