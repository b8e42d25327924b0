"""The feed server over real HTTP on 127.0.0.1 (uvicorn in a thread): types, ETag/304, HEAD, gzip,
traversal, /healthz, WebSub Link headers, replaced files."""

from __future__ import annotations

import os
import socket
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


def _responses(sock: Any, count: int, heads: frozenset[int] = frozenset()) -> list[tuple[int, dict[str, str], bytes]]:
    """Read ``count`` HTTP/1.1 responses (with content-length) from a socket, in order; those numbered in
    ``heads`` answer HEAD requests (no body whatever their length says)."""
    data = b""
    out = []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(out)} responses"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = 0 if lines[0].split()[1] == "304" or len(out) in heads else int(headers["content-length"])
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk, f"closed in response {len(out) + 1}"
            data += chunk
        out.append((int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return out


FEED = "/zones/xishan/rss.xml"


def _polled_socket(base: str, feed: str) -> tuple[socket.socket, str]:
    """A raw connection to the server at ``base``, once ``feed`` was asked for (so it is cached), and the
    feed's ETag."""
    etag = httpx.get(base + feed, headers={"Accept-Encoding": "identity"}).headers["etag"]
    return socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10), etag


def _request(path: str, *headers: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: feeds.example.org", *headers, "", ""]
    return "\r\n".join(lines).encode()


def test_a_poll_answered_directly_is_the_answer_the_app_gives(
    published: Context, start_server: Callable[[web.FeedApp], str]
) -> None:
    """The first request of a path goes through the app; later ones within the second are answered by the
    server from the same cached headers: the same status, headers (but the date) and bytes."""
    base = start_server(app_for(published))
    url = base + "/zones/xishan/rss.xml"
    with httpx.Client() as client:
        for headers in ({}, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "identity"}):
            first = client.get(url, headers=headers)
            again = client.get(url, headers=headers)
            assert again.status_code == first.status_code == 200
            assert again.content == first.content
            assert {**again.headers, "date": ""} == {**first.headers, "date": ""}
            etag = first.headers["etag"]
            polls = [client.get(url, headers={**headers, "If-None-Match": etag}) for _ in range(2)]
            assert [p.status_code for p in polls] == [304, 304]
            assert {**polls[0].headers, "date": ""} == {**polls[1].headers, "date": ""}
            assert polls[1].headers["etag"] == etag and polls[1].content == b""
            head = client.head(url, headers=headers)
            assert head.content == b"" and head.headers["content-length"] == first.headers["content-length"]


def test_pipelined_requests_are_answered_in_order_whichever_way_each_goes(
    published: Context, start_server: Callable[[web.FeedApp], str]
) -> None:
    sock, etag = _polled_socket(start_server(app_for(published)), FEED)
    with sock:
        sock.sendall(
            _request(FEED, "Accept-Encoding: identity", f"If-None-Match: {etag}")  # cached: direct
            + _request("/healthz")  # through the app
            + _request(FEED, "Accept-Encoding: identity", f"If-None-Match: {etag}")  # behind it: queued
            + _request("/nope.xml")  # through the app: 404
            + _request(FEED, "Accept-Encoding: identity", "Content-Length: 5")
            + b"hello"  # a body: the app
            + _request(FEED, "Accept-Encoding: identity", method="HEAD")
        )
        answers = _responses(sock, 6, heads=frozenset({5}))
    assert [status for status, _, _ in answers] == [304, 200, 304, 404, 200, 200]
    assert b'"status"' in answers[1][2]
    on_disk = (published.config.publish.output_dir / FEED.lstrip("/")).read_bytes()
    assert answers[4][2] == on_disk
    assert answers[5][2] == b"" and answers[5][1]["content-length"] == str(len(on_disk))


def test_an_http_1_0_poll_is_answered_and_the_connection_closed(
    published: Context, start_server: Callable[[web.FeedApp], str]
) -> None:
    sock, etag = _polled_socket(start_server(app_for(published)), FEED)
    with sock:
        sock.sendall(_request(FEED, "Accept-Encoding: identity", f"If-None-Match: {etag}", version="1.0"))
        [(status, headers, _)] = _responses(sock, 1)
        assert status == 304 and headers["connection"] == "close"
        assert sock.recv(100) == b""  # closed by the server
