"""Small test helpers: a hand-moved clock and a page writer in the platform's text format."""

from __future__ import annotations

import socket
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
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


def rss(
    items: list[dict[str, str]], title: str = "合作伙伴", link: str = "http://partner.example/", encoding: str = "utf-8"
) -> bytes:
    """An RSS 2.0 document. Item keys: title, link, guid, date (RFC 822), body (HTML), category, author."""
    from xml.sax.saxutils import escape

    parts = []
    for it in items:
        x = [f"<title>{escape(it['title'])}</title>"] if "title" in it else []
        if "link" in it:
            x.append(f"<link>{escape(it['link'])}</link>")
        if "guid" in it:
            x.append(f'<guid isPermaLink="false">{escape(it["guid"])}</guid>')
        if "date" in it:
            x.append(f"<pubDate>{it['date']}</pubDate>")
        if "body" in it:
            x.append(f"<description>{escape(it['body'])}</description>")
        if "category" in it:
            x.append(f"<category>{escape(it['category'])}</category>")
        if "author" in it:
            x.append(f"<author>{escape(it['author'])}</author>")
        parts.append("<item>" + "".join(x) + "</item>")
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>{escape(link)}</link><description>d</description>{''.join(parts)}</channel></rss>"
    )
    return doc.encode("gb18030" if encoding.lower() in ("gbk", "gb2312", "gb18030") else encoding)


def atom(items: list[dict[str, str]], title: str = "合作伙伴", link: str = "http://partner.example/") -> bytes:
    """An Atom 1.0 document with the same item keys as ``rss`` (date in RFC 3339)."""
    from xml.sax.saxutils import escape

    parts = []
    for it in items:
        x = [f"<title>{escape(it['title'])}</title>"] if "title" in it else []
        if "link" in it:
            x.append(f'<link href="{escape(it["link"])}"/>')
        if "guid" in it:
            x.append(f"<id>{escape(it['guid'])}</id>")
        if "date" in it:
            x.append(f"<published>{it['date']}</published><updated>{it['date']}</updated>")
        if "body" in it:
            x.append(f'<content type="html">{escape(it["body"])}</content>')
        if "category" in it:
            x.append(f'<category term="{escape(it["category"])}"/>')
        if "author" in it:
            x.append(f"<author><name>{escape(it['author'])}</name></author>")
        parts.append("<entry>" + "".join(x) + "</entry>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:x</id><updated>2020-10-19T00:00:00Z</updated>"
        f'<link href="{escape(link)}"/>{"".join(parts)}</feed>'
    ).encode()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HangingHub:
    """A hub on loopback that accepts connections and reads requests but answers none until released;
    afterwards it answers 204 and records what it was told."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.told: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                if not hub.released.wait(timeout=60):
                    return
                hub.told += parse_qs(body)["hub.url"]
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
