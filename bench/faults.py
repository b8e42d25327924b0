"""Crash test: kill -9 syndicate at random points of fetch, publish and digest, restart it, and check that
nothing was lost, stored twice or sent twice.

    python bench/faults.py [--kills 100] [--sources 50] [--articles 2000] [--recipients 20] [--seed 1]

The workload: --sources sources (half folders of the platform's pages, half partner feed files: partners
that publish first and partners that re-post), with the articles arriving in --kills waves, one in ten a
re-post of an earlier story; --recipients
staff following two or three of ten zones; a real SMTP server (aiosmtpd, in a process of its own that
outlives every kill) keeping each message it accepts. Each wave: `fetch`, `publish`, `digest --force` as
separate processes; one of them, chosen at random, is killed with SIGKILL at a random moment of its run,
then the three are run again to completion. At the end the same articles go through a clean run on a new
database, and:

- every article is stored once (and the same ones as the clean run);
- every feed is a complete, valid document, and each feed with its archive pages holds the same items as
  the clean run's;
- each recipient received each story of their zones exactly once across all digests (a message the server
  accepted just before a kill may arrive twice with the same Message-ID; such resends are counted apart);
- no temporary file is left.

Prints the counts; exits 1 if anything is lost, duplicated or invalid.
"""

from __future__ import annotations

import argparse
import collections
import email
import email.policy
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

ROOT = Path(__file__).parent.parent
ATOM = "{http://www.w3.org/2005/Atom}"
ZONES = [(f"z{i}", f"第{i}号经济开发区", f"城市{i // 3}") for i in range(10)]
_POOL = "经济开发区园区项目企业投资合作产业发展创新科技服务建设签约招商引资制造智能医药新能源材料平台人才政策市场贸易"

SINK = r"""
import sys, time, uuid, os
from pathlib import Path
from aiosmtpd.controller import Controller

folder = Path(sys.argv[1])

class Keep:
    async def handle_DATA(self, server, session, envelope):
        name = folder / f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
        tmp = folder / ("." + name.name)
        tmp.write_bytes(envelope.original_content or envelope.content)
        os.replace(tmp, name)
        return "250 kept"

c = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[2]))
c.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    c.stop()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_POOL) for _ in range(n)) + "。"


def page(title: str, zone: tuple[str, str, str], day: int, body: str) -> str:
    return (
        f"首页 > 开发区新闻 > {zone[2]} > 文字新闻\n{title}\n"
        f"发布时间:2020-11-{day:02d}  来源:管委会  发布开发区:{zone[1]}\n\n  {body}\n\n上一条:无\n下一条:无\n"
    )


def rss(items: list[tuple[str, str, str, int, str]]) -> str:
    from xml.sax.saxutils import escape

    parts = [
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(guid)}</guid>"
        f"<pubDate>Mon, {day:02d} Nov 2020 08:00:00 +0800</pubDate><description>{escape(body)}</description></item>"
        for t, link, guid, day, body in items
    ]
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>p</title><link>http://p.example/</link>{"".join(parts)}</channel></rss>'


class Workload:
    def __init__(self, folder: Path, args: argparse.Namespace) -> None:
        self.folder = folder
        self.rng = random.Random(args.seed)
        self.sources = args.sources
        self.dirs = [f"d{i}" for i in range((args.sources + 1) // 2)]
        feeds = args.sources // 2
        # Partners that publish stories first, and partners that re-post them (lower priority): which
        # version of a story is published then never depends on the order sources happened to be read.
        self.feeds = [f"f{i}" for i in range((feeds + 1) // 2)]
        self.reposters = [f"r{i}" for i in range(feeds // 2)]
        self.feed_items: dict[str, list[tuple[str, str, str, int, str]]] = {f: [] for f in self.feeds + self.reposters}
        self.stories: list[tuple[str, tuple[str, str, str], str, str]] = []  # (link, zone, title, body)
        self.count = 0
        for d in self.dirs:
            (folder / "sources" / d).mkdir(parents=True, exist_ok=True)
        (folder / "sources" / "feeds").mkdir(parents=True, exist_ok=True)
        self.recipients = [
            (f"r{i}@example.org", self.rng.sample([z[0] for z in ZONES], self.rng.choice([2, 3])))
            for i in range(args.recipients)
        ]

    def config(self, db: str, public: str, outbox: str, port: int) -> str:
        zones = "".join(f'[[zones]]\nslug = "{s}"\nname = "{n}"\ncity = "{c}"\n\n' for s, n, c in ZONES)
        sources = "".join(
            f'[[sources]]\nid = "{d}"\nkind = "directory"\npath = "sources/{d}"\n'
            f'link_template = "https://www.example.org/{d}/{{stem}}.html"\n\n'
            for d in self.dirs
        )
        sources += "".join(
            f'[[sources]]\nid = "{f}"\nkind = "feed"\nurl = "sources/feeds/{f}.xml"\nzone = "z0"\n'
            f"priority = {10 if f in self.reposters else 50}\n\n"
            for f in self.feeds + self.reposters
        )
        recipients = "".join(
            f'[[recipients]]\nemail = "{e}"\nzones = {json.dumps(zs)}\n\n' for e, zs in self.recipients
        )
        return (
            f'[site]\nbase_url = "http://feeds.example.org/"\n\n[database]\nurl = "{db}"\n\n'
            f'[publish]\noutput_dir = "{public}"\nitems_per_feed = 20\n\n'
            f'[digest]\nsend_at = "00:00"\noutbox_dir = "{outbox}"\nmax_items = 10000\n\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nrate_per_minute = 1000000\n\n'
            f"{zones}{sources}{recipients}"
        )

    def wave(self, n: int) -> None:
        """Add n articles: most new stories on folders, one in ten a partner's re-post of an earlier one."""
        for _ in range(n):
            self.count += 1
            k = self.count
            if self.stories and self.reposters and self.rng.random() < 0.1:
                _link, zone, title, body = self.rng.choice(self.stories)
                feed = self.rng.choice(self.reposters)
                # A re-post names its zone in the text, so it lands where the story does.
                self.feed_items[feed].append((f"转载:{title}", f"https://p.example/{feed}/{k}", f"g{k}", 20, body))
                continue
            zone = self.rng.choice(ZONES)
            title = f"{zone[1]}新闻{k}"
            body = f"{zone[1]}:" + text(self.rng, 120)
            if self.feeds and self.rng.random() < 0.3:
                feed = self.rng.choice(self.feeds)
                self.feed_items[feed].append((title, f"https://p.example/{feed}/{k}", f"g{k}", 20, body))
                # Partner stories are in zone z0 (the feeds' default) unless their text names another.
                self.stories.append((f"https://p.example/{feed}/{k}", zone, title, body))
                continue
            d = self.rng.choice(self.dirs)
            (self.folder / "sources" / d / f"a{k}.txt").write_text(
                page(title, zone, 1 + k % 28, body), encoding="utf-8"
            )
            self.stories.append((f"https://www.example.org/{d}/a{k}.html", zone, title, body))
        for feed, items in self.feed_items.items():
            path = self.folder / "sources" / "feeds" / f"{feed}.xml"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(rss(items[-200:]), encoding="utf-8")
            os.replace(tmp, path)


def run(folder: Path, config: str, *args: str, kill_after: float | None = None) -> tuple[int, bool]:
    """Run one syndicate command; with kill_after, SIGKILL it then if still running. (exit code, killed)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--config", config, *args],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
            return -9, True
    _, err = proc.communicate()
    if proc.returncode not in (0, 1):
        print(f"  {' '.join(args)} exited {proc.returncode}: {err[-500:]}", file=sys.stderr)
    return proc.returncode, False


STEPS = (("fetch",), ("publish",), ("digest", "--force"))


def feed_items(public: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """Feed folder → {entry id: (title, content)} over its Atom document and archive pages; raises when a
    document is not complete, valid XML."""
    schema = etree.RelaxNG(etree.parse(str(ROOT / "tests" / "data" / "atom.rng")))
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for atom in public.rglob("atom.xml"):
        folder = atom.parent
        pages = [atom, *sorted((folder / "archive").glob("*.xml"))] if (folder / "archive").is_dir() else [atom]
        items: dict[str, tuple[str, str]] = {}
        for p in pages:
            doc = etree.parse(str(p))
            if not schema.validate(doc):
                raise ValueError(f"{p}: not valid Atom: {schema.error_log.last_error}")
            for e in doc.getroot().iter(f"{ATOM}entry"):
                items[e.findtext(f"{ATOM}id") or ""] = (
                    e.findtext(f"{ATOM}title") or "",
                    e.findtext(f"{ATOM}content") or "",
                )
        for other in ("rss.xml", "feed.json"):
            data = (folder / other).read_bytes()
            json.loads(data) if other.endswith(".json") else etree.fromstring(data)
        out[str(folder.relative_to(public))] = items
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--recipients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mail = folder / "received"
        mail.mkdir()
        port = free_port()
        sink = subprocess.Popen([sys.executable, "-c", SINK, str(mail), str(port)], stdout=subprocess.PIPE, text=True)
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        try:
            work = Workload(folder, args)
            (folder / "crash.toml").write_text(
                work.config("sqlite:///crash.db", "public", "outbox", port), encoding="utf-8"
            )
            rng = random.Random(args.seed + 1)
            per_wave = args.articles // args.kills
            durations = {s[0]: 1.0 for s in STEPS}
            kills: collections.Counter[str] = collections.Counter()
            for wave in range(args.kills):
                work.wave(per_wave + (args.articles % args.kills if wave == args.kills - 1 else 0))
                victim = rng.randrange(len(STEPS))
                for i, step in enumerate(STEPS):
                    t0 = time.monotonic()
                    if i == victim:
                        _, killed = run(folder, "crash.toml", *step, kill_after=rng.uniform(0.05, durations[step[0]]))
                        if killed:
                            kills[step[0]] += 1
                    else:
                        run(folder, "crash.toml", *step)
                        durations[step[0]] = max(0.2, time.monotonic() - t0)
                for step in STEPS:  # restart: everything again, to completion
                    run(folder, "crash.toml", *step)
                if (wave + 1) % 10 == 0:
                    print(f"  wave {wave + 1}/{args.kills}: {sum(kills.values())} kills so far", flush=True)
            time.sleep(0.5)

            # The clean run: the same final articles, a new database, no kills, no mail.
            (folder / "clean.toml").write_text(
                work.config("sqlite:///clean.db", "clean-public", "clean-outbox", 1), encoding="utf-8"
            )
            run(folder, "clean.toml", "fetch")
            run(folder, "clean.toml", "publish")
            report = check(folder, work, mail, kills)
        finally:
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=10)
    report["minutes"] = round((time.monotonic() - started) / 60, 1)
    for key, value in report.items():
        print(f"{key}: {value}")
    bad = report["articles stored twice"] or report["articles lost"] or report["feeds differing from a clean run"]
    bad = bad or report["invalid documents"] or report["stories delivered twice"] or report["stories never delivered"]
    bad = bad or report["temporary files left"]
    bad = bad or report["deliveries of anything not in the recipient's zones or not canonical"]
    sys.exit(1 if bad else 0)


def check(folder: Path, work: Workload, mail: Path, kills: collections.Counter[str]) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from syndicate.store import Store

    crash = Store(f"sqlite:///{folder / 'crash.db'}")
    clean = Store(f"sqlite:///{folder / 'clean.db'}")
    from syndicate.store.models import ArticleRow, ArticleZoneRow

    with crash._session() as s:
        rows = s.query(ArticleRow.id, ArticleRow.guid, ArticleRow.link, ArticleRow.canonical).all()
        zones_of: dict[int, set[str]] = collections.defaultdict(set)
        for aid, slug in s.query(ArticleZoneRow.article_id, ArticleZoneRow.zone_slug).all():
            zones_of[aid].add(slug)
    with clean._session() as s:
        clean_guids = {g for (g,) in s.query(ArticleRow.guid).all()}
    guids = [r[1] for r in rows]
    crash.close()
    clean.close()

    invalid = 0
    try:
        got = feed_items(folder / "public")
        want = feed_items(folder / "clean-public")
    except (ValueError, etree.XMLSyntaxError) as e:
        print(f"invalid document: {e}", file=sys.stderr)
        invalid, got, want = 1, {}, {}
    differing = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    for k in differing[:3]:
        a, b = got.get(k, {}), want.get(k, {})
        only_a = [a[i][0] for i in a.keys() - b.keys()][:3]
        only_b = [b[i][0] for i in b.keys() - a.keys()][:3]
        changed = [i for i in a.keys() & b.keys() if a[i] != b[i]][:2]
        print(f"  {k}: only after crashes {only_a}, only in the clean run {only_b}", file=sys.stderr)
        for i in changed:
            print(f"    {i}: {a[i][0]!r} vs {b[i][0]!r}; same content: {a[i][1] == b[i][1]}", file=sys.stderr)

    # Mail: per recipient, per story link, the distinct messages that carried it.
    carried: dict[str, dict[str, set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
    ids = collections.Counter()
    for path in sorted(mail.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        to = msg["To"].addresses[0].addr_spec
        mid = msg["Message-ID"]
        ids[mid] += 1
        html = msg.get_body(("html",)).get_content()
        for a in lxml_html.fromstring(html).xpath("//a[@class='title']"):
            carried[to][a.get("href")].add(mid)
    twice = sum(1 for r in carried.values() for mids in r.values() if len(mids) > 1)
    never = unexpected = 0
    for addr, zones in work.recipients:
        expected = {link for aid, _g, link, canonical in rows if canonical and zones_of[aid] & set(zones)}
        never += len(expected - set(carried[addr]))
        unexpected += len(set(carried[addr]) - expected)
    temps = [p for p in folder.rglob(".syndicate-tmp-*")]
    return {
        "kills": f"{sum(kills.values())} (fetch {kills['fetch']}, publish {kills['publish']}, "
        f"digest {kills['digest']})",
        "articles written": work.count,
        "articles stored": len(guids),
        "articles stored twice": len(guids) - len(set(guids)),
        "articles lost": len(clean_guids - set(guids)) + (work.count - len(set(guids))),
        "feeds compared with a clean run": len(set(got) | set(want)),
        "feeds differing from a clean run": len(differing),
        "invalid documents": invalid,
        "digests received": sum(ids.values()),
        "resent with the same Message-ID": sum(n - 1 for n in ids.values()),
        "stories delivered twice": twice,
        "stories never delivered": never,
        "deliveries of anything not in the recipient's zones or not canonical": unexpected,
        "temporary files left": len(temps),
    }


if __name__ == "__main__":
    main()
