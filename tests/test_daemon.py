"""`syndicate run` as a daemon, in a real process: scheduled polling, publishing after changes, digests once,
reload on SIGHUP, clean stop on SIGTERM, one daemon per database, status and metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree

from syndicate.cli import cli
from syndicate.files import TEMP_PREFIX
from syndicate.publish import websub

from .helpers import HangingHub, free_port, page

ROOT = Path(__file__).parent.parent


class Running:
    """A daemon process and the JSON log lines it has written so far."""

    def __init__(self, config: Path, port: int, *extra: str, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "syndicate", "--config", str(config), "--log-level", "info", "--log-json"]
        command += ["run", "--port", str(port), *extra]
        self.port = port
        self.stopped = False
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stderr.readline, "")))  # type: ignore[union-attr]
        self._reader.start()

    def events(self, name: str, **fields: object) -> list[dict[str, object]]:
        out = []
        for line in list(self.lines):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("event") == name and all(doc.get(k) == v for k, v in fields.items()):
                out.append(doc)
        return out

    def get(self, path: str, **kw: object) -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        self.stopped = True
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            assert self.proc.stderr is not None
            self.proc.stderr.close()
        return code, time.monotonic() - start


def wait_for(check: Callable[[], object], seconds: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def daemons() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for d in started:
        if not d.stopped:
            d.stop(signal.SIGKILL)


def article(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir(exist_ok=True)
    (tmp_path / "articles" / "a.txt").write_text(page(), encoding="utf-8")


def _config(write_config: Callable[..., Path], extra: str = "", db_url: str | None = None) -> Path:
    # The first line continues the local source's table: it is read every second.
    return write_config('interval = "1s"\n' + extra, db_url=db_url)


RECIPIENT = """
[digest]
send_at = "00:00"
outbox_dir = "outbox"

[[recipients]]
email = "zhang@example.org"
zones = ["xishan"]
"""


def test_run_once_on_the_example_config_writes_feeds_and_outbox_digests(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert 'send_at = "00:00"' in text  # the example's digests are due at its first round, whatever the hour
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 0, result.output
    rss = tmp_path / "var/public/zones/xishan/rss.xml"
    assert rss.exists() and "锡山" in rss.read_text(encoding="utf-8")
    assert (tmp_path / "var/public/index.html").exists()
    # Partner feeds read from files are credited as partners: by their title (configured, else the feed's
    # own), at the site their articles link to; the platform's own articles by the platform.
    doc = etree.parse(str(tmp_path / "var/public/all/rss.xml"))
    credits = {(el.text, el.get("url")) for el in doc.iter("source")}
    assert ("新吴区新闻", "https://xinwu.example.org/") in credits
    assert ("园区动态(示例合作平台)", "https://sip-partner.example.org/") in credits
    assert not any(url and "examples/" in url for _, url in credits)
    outbox = sorted(p.name for p in (tmp_path / "var/outbox").glob("*.eml"))
    assert len(outbox) == 2 and any("zhang@example.org" in n for n in outbox)
    # Once more: nothing new is due, nothing is sent twice.
    assert CliRunner().invoke(cli, ["--config", str(config), "run", "--once"]).exit_code == 0
    assert len(list((tmp_path / "var/outbox").glob("*.eml"))) == 2


def test_polls_on_the_interval_publishes_after_a_change_and_stops_on_sigterm(
    write_config: Callable[..., Path], tmp_path: Path, daemons: list[Running]
) -> None:
    article(tmp_path)
    d = Running(_config(write_config), free_port())
    daemons.append(d)
    wait_for(lambda: len(d.events("fetch.source", source="local")) >= 2, what="two polls of the source")
    first = d.events("fetch.source", source="local")[0]
    assert first["new"] == 1 and first["outcome"] == "ok"
    wait_for(lambda: (tmp_path / "public/zones/xishan/atom.xml").exists(), what="the feed")
    # A change while it runs: published shortly after the poll that stored it.
    (tmp_path / "articles" / "b.txt").write_text(page(title="运行中新增", body=("新的正文。",)), encoding="utf-8")
    wait_for(lambda: "运行中新增" in (tmp_path / "public/all/rss.xml").read_text(encoding="utf-8"), what="publish")
    assert d.events("job.done", job="publish")
    code, took = d.stop(signal.SIGTERM)
    assert code == 0
    assert took < 10
    assert d.events("daemon.stopped")
    assert list(tmp_path.rglob(f"{TEMP_PREFIX}*")) == []
    assert not any("Traceback" in line for line in d.lines)


def test_a_hub_that_never_answers_holds_up_no_publish(
    write_config: Callable[..., Path], tmp_path: Path, daemons: list[Running]
) -> None:
    """The daemon sends WebSub notifications from a job of their own: with a hub that accepts connections
    and never answers, each publish takes its own time, and the notifications are given up at their
    deadline (and queued) by the push job."""
    hub = HangingHub()
    try:
        article(tmp_path)
        path = _config(write_config)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("items_per_feed = 3\n", f'items_per_feed = 3\nwebsub_hubs = ["{hub.url}"]\n'))
        d = Running(path, free_port())
        daemons.append(d)
        wait_for(lambda: d.events("job.done", job="publish"), what="the first publish")
        (tmp_path / "articles" / "b.txt").write_text(page(title="运行中新增", body=("新的正文。",)), encoding="utf-8")
        wait_for(lambda: len(d.events("job.done", job="publish")) >= 2, what="the second publish")
        wait_for(lambda: d.events("websub.failed"), seconds=30, what="the hub given up")
        for done in d.events("job.done", job="publish"):
            assert float(done["seconds"]) < websub.DEADLINE  # in the publish, each waited the deadline
        assert all("no answer within" in str(e["error"]) for e in d.events("websub.failed"))
        code, _ = d.stop(signal.SIGTERM)
        assert code == 0
    finally:
        hub.close()


def test_a_second_daemon_on_the_same_database_refuses_to_start(
    write_config: Callable[..., Path], daemons: list[Running]
) -> None:
    config = _config(write_config)
    first = Running(config, free_port())
    daemons.append(first)
    wait_for(lambda: first.events("daemon.started"), what="the first daemon")
    second = Running(config, free_port())
    daemons.append(second)
    assert second.proc.wait(timeout=30) == 1
    second.stop()
    holder = str(first.events("daemon.started")[0]["holder"])
    assert any("another syndicate daemon runs on this database: " + holder in line for line in second.lines)
    assert not second.events("serve.started") and not second.events("daemon.started")
    assert first.proc.poll() is None
    assert first.stop()[0] == 0
    # Released on exit: a new daemon starts at once.
    third = Running(config, free_port())
    daemons.append(third)
    wait_for(lambda: third.events("daemon.started"), what="a daemon after the first stopped")
    assert third.stop()[0] == 0


def test_a_killed_daemons_lock_expires(write_config: Callable[..., Path], db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from syndicate.store import Store

    store = Store(db_url)
    store.migrate()
    now = datetime.now(UTC)
    assert store.acquire_lock("daemon", "dead:1", now, timedelta(seconds=60)) == (True, None)
    taken, holder = store.acquire_lock("daemon", "new:2", now + timedelta(seconds=30), timedelta(seconds=60))
    assert not taken and holder is not None and "dead:1" in holder
    assert store.acquire_lock("daemon", "new:2", now + timedelta(seconds=61), timedelta(seconds=60)) == (True, None)
    assert not store.renew_lock("daemon", "dead:1", now + timedelta(seconds=62), timedelta(seconds=60))
    store.close()


def test_sighup_adds_a_source_and_refuses_a_broken_config(
    write_config: Callable[..., Path], tmp_path: Path, daemons: list[Running]
) -> None:
    config = _config(write_config)
    d = Running(config, free_port())
    daemons.append(d)
    wait_for(lambda: d.events("daemon.started"), what="start")
    more = tmp_path / "more"
    more.mkdir()
    (more / "m.txt").write_text(page(title="新来源的文章", body=("新来源正文。",)), encoding="utf-8")
    good = config.read_text(encoding="utf-8") + (
        '\n[[sources]]\nid = "more"\nkind = "directory"\npath = "more"\n'
        'link_template = "https://more.example.org/{stem}.html"\ninterval = "1s"\n'
    )
    config.write_text(good, encoding="utf-8")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: d.events("config.reloaded"), what="the reload")
    assert d.events("config.reloaded")[0]["added"] == ["more"]
    wait_for(lambda: d.events("fetch.source", source="more", new=1), what="the new source polled")

    config.write_text(good + "\n[site]\nnonsense = 1\n", encoding="utf-8")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: d.events("config.reload_refused"), what="the refusal")
    assert "invalid" in str(d.events("config.reload_refused")[0]["error"])
    polls = len(d.events("fetch.source", source="more"))
    wait_for(lambda: len(d.events("fetch.source", source="more")) > polls, what="polling on with the old config")
    r = d.get("/healthz")
    assert r is not None and r.status_code == 200
    assert d.stop()[0] == 0


def test_digest_catch_up_after_a_late_start_sends_once(
    write_config: Callable[..., Path], tmp_path: Path, daemons: list[Running]
) -> None:
    article(tmp_path)
    config = _config(write_config, RECIPIENT)  # send_at 00:00: any start is a late one
    d = Running(config, free_port())
    daemons.append(d)
    outbox = tmp_path / "outbox"
    wait_for(lambda: list(outbox.glob("*.eml")), what="the digest")
    wait_for(lambda: len(d.events("fetch.source", source="local")) >= 3, what="more polls")
    assert d.stop()[0] == 0
    d2 = Running(config, free_port())  # a restart the same day
    daemons.append(d2)
    wait_for(lambda: d2.events("job.done", job="digest"), what="the restarted daemon's digest run")
    assert d2.stop()[0] == 0
    assert len(list(outbox.glob("*.eml"))) == 1


def test_status_and_metrics_answer_loopback_or_a_token(
    write_config: Callable[..., Path], tmp_path: Path, daemons: list[Running]
) -> None:
    article(tmp_path)
    d = Running(_config(write_config), free_port())
    daemons.append(d)
    wait_for(lambda: d.events("job.done", job="publish") and d.events("fetch.source"), what="a fetch and a publish")
    status = d.get("/status")
    assert status is not None and status.status_code == 200
    assert "local" in status.text and "运行状态" in status.text
    metrics = d.get("/metrics")
    assert metrics is not None and metrics.status_code == 200
    found = re.search(r'^syndicate_fetches_total\{outcome="ok"\} (\d+)', metrics.text, re.M)
    assert found and int(found.group(1)) >= 1
    assert re.search(r"^syndicate_job_seconds_count\{job=\"publish\"\} [1-9]", metrics.text, re.M)
    assert d.stop()[0] == 0

    config = _config(write_config, '\n[serve]\nadmin_token_env = "TEST_ADMIN_TOKEN"\n')
    d = Running(config, free_port(), env={"TEST_ADMIN_TOKEN": "s3cret"})
    daemons.append(d)
    wait_for(lambda: d.get("/healthz") is not None, what="the server")
    assert d.get("/metrics").status_code == 401  # type: ignore[union-attr]
    assert d.get("/status", headers={"authorization": "Bearer wrong"}).status_code == 401  # type: ignore[union-attr]
    assert d.get("/status", headers={"authorization": "Bearer s3cret"}).status_code == 200  # type: ignore[union-attr]
    assert d.stop()[0] == 0
    assert not any("s3cret" in line for line in d.lines)


def test_status_command(write_config: Callable[..., Path], tmp_path: Path) -> None:
    article(tmp_path)
    config = write_config(RECIPIENT)
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "run", "--once", "--no-serve"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(config), "status"])
    assert result.exit_code == 0, result.output
    assert "articles 1, stories 1, duplicates 0" in result.output
    assert "zhang@example.org" in result.output
    assert "local" in result.output


def test_a_source_in_a_word_for_status_and_the_status_page() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from syndicate.publish import SiteInfo, render_status
    from syndicate.status import SourceHealth, Status
    from syndicate.types import SourceState

    rows = [
        SourceHealth("new", "feed", "https://a.example.org/rss", None, 0),
        SourceHealth("good", "feed", "https://b.example.org/rss", SourceState("good"), 3),
        SourceHealth("bad", "feed", "https://c.example.org/rss", SourceState("bad", consecutive_errors=2), 1),
        SourceHealth("gone", "feed", "https://d.example.org/rss", SourceState("gone", disabled="410 Gone"), 0),
    ]
    assert [r.health for r in rows] == ["never read", "ok", "failing", "disabled"]
    site = SiteInfo("投促", "https://feeds.example.org/", "zh-CN", ZoneInfo("Asia/Shanghai"), "0")
    counts = {"articles": 4, "stories": 4, "duplicates": 0}
    now = datetime(2020, 10, 19, tzinfo=UTC)
    status = Status(now=now, sources=rows, last_publish=None, next_digests={}, counts=counts, digests=[], errors=[])
    page = render_status(ROOT / "templates", site, status).decode()
    cells = re.findall(r'<td class="(ok|bad)">([^<]*)</td>', page)
    assert cells == [("ok", "ok"), ("bad", "failing"), ("bad", "disabled")]


def test_check_names_a_template_that_does_not_load(write_config: Callable[..., Path], tmp_path: Path) -> None:
    templates = tmp_path / "tpl"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "digest.html.j2").write_text("{% for x in %}", encoding="utf-8")
    (templates / "status.html.j2").unlink()
    config = write_config('\n[digest]\ntemplates_dir = "tpl"\n', db_url=None)
    text = config.read_text(encoding="utf-8").replace("[publish]\n", '[publish]\ntemplates_dir = "tpl"\n')
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2
    assert "digest.templates_dir:" in result.output and "digest.html.j2: TemplateSyntaxError" in result.output
    assert "publish.templates_dir:" in result.output and "status.html.j2: TemplateNotFound" in result.output


def test_timers_decide_publish_and_digests_from_now_alone() -> None:
    from datetime import UTC, datetime, timedelta

    from syndicate.scheduler import Timers

    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    s = timedelta(seconds=1)
    t = Timers(publish_delay=2 * s, digest_every=300 * s, full_publish_every=86400 * s)
    assert t.publish_due(t0) is True  # a full publish at the first tick
    t.published(t0, full=True)
    assert t.publish_due(t0 + s) is None
    assert not t.digest_due(t0)  # digests wait for the first fetch
    t.fetched(t0 + s, stored=True)
    assert t.digest_due(t0 + s)
    t.fetched(t0 + 2 * s, stored=True)  # a second storing fetch joins the publish already asked for
    assert t.publish_due(t0 + 2 * s) is None and t.publish_due(t0 + 3 * s) is False
    t.published(t0 + 3 * s, full=False)
    assert t.publish_due(t0 + 4 * s) is None
    t.fetched(t0 + 5 * s, stored=False)  # nothing stored: nothing to publish
    assert t.publish_due(t0 + 100 * s) is None
    t.digested(t0 + 5 * s)
    assert not t.digest_due(t0 + 304 * s) and t.digest_due(t0 + 305 * s)
    assert t.publish_due(t0 + 86400 * s) is True  # the daily full publish
