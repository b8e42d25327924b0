"""Outages and races with real parts: two runs at once, a locked or unreachable database, a full disk,
secrets that must never leak. Each case recovers on the next run with nothing lost and says what happened.
(The SMTP server down, then up: tests/test_digest.py.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syndicate import pipeline, web
from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.files import TEMP_PREFIX
from syndicate.pipeline import Context
from syndicate.store import Store

from .helpers import page
from .smtp_sink import Sink, start
from .storeviews import source_articles
from .test_digest import body

ZONE = ("锡山经济技术开发区", "无锡")


def articles(folder: Path, n: int, prefix: str = "a") -> None:
    folder.mkdir(exist_ok=True)
    for i in range(n):
        text = page(title=f"文章{prefix}{i}", zone=ZONE[0], city=ZONE[1], body=body(f"{prefix}{i}"))
        (folder / f"{prefix}{i}.txt").write_text(text, encoding="utf-8")


def syndicate(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_two_fetches_at_once_both_finish_and_store_each_article_once(
    write_config: Callable[..., Path], db_url: str, tmp_path: Path
) -> None:
    config = write_config(db_url=db_url)
    articles(tmp_path / "articles", 200)
    with Store(db_url) as store:
        store.migrate()
    procs = [syndicate(config, "fetch") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert not any("Traceback" in err for _, err in results)
    with Context.open(load_config(config)) as ctx:
        stored = source_articles(ctx.store, "local")
        assert len(stored) == 200
        assert len({a.guid for a in stored}) == 200
        assert all(a.story_id == a.id for a in stored)  # decided once: each its own story


def test_a_locked_sqlite_database_makes_a_run_wait_not_fail(write_config: Callable[..., Path], tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    config = write_config(db_url=f"sqlite:///{db}")
    articles(tmp_path / "articles", 5)
    with Store(f"sqlite:///{db}") as store:
        store.migrate()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the database
    proc = syndicate(config, "fetch")
    time.sleep(2)
    assert proc.poll() is None  # waiting for the lock...
    holder.execute("COMMIT")
    holder.close()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err  # ...then done
    with Store(f"sqlite:///{db}") as store:
        assert store.count_articles() == 5


def test_an_unreachable_database_fails_the_run_clearly_and_the_next_run_loses_nothing(
    write_config: Callable[..., Path], tmp_path: Path, pg_url: str
) -> None:
    articles(tmp_path / "articles", 5)
    down = write_config(db_url="postgresql+psycopg://syndicate:hunter2@127.0.0.1:1/nowhere")
    result = CliRunner().invoke(cli, ["--config", str(down), "fetch"])
    assert result.exit_code == 1
    assert "unreachable" in result.output and "127.0.0.1:1/nowhere" in result.output
    assert "hunter2" not in result.output  # the password is never shown
    assert "Traceback" not in result.output
    up = write_config(db_url=pg_url)
    assert CliRunner().invoke(cli, ["--config", str(up), "fetch"]).exit_code == 0
    with Store(pg_url) as store:
        assert store.count_articles() == 5


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real ENOSPC at the write boundary."""
    folder = tmp_path / "public"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_fails_publish_clearly_keeps_old_files_and_the_next_run_completes(
    write_config: Callable[..., Path], tmp_path: Path, small_disk: Path
) -> None:
    config_path = write_config()
    articles(tmp_path / "articles", 3)
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config_path), "fetch"]).exit_code == 0
    assert runner.invoke(cli, ["--config", str(config_path), "publish"]).exit_code == 0
    articles(tmp_path / "articles", 150, prefix="big")  # hundreds of archive pages: far more than 256 KiB
    assert runner.invoke(cli, ["--config", str(config_path), "fetch"]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(config_path), "publish"])
    assert result.exit_code == 1
    assert "No space left on device" in result.output and str(small_disk) in result.output
    assert list(small_disk.rglob(f"{TEMP_PREFIX}*")) == []
    # Every feed file is a whole document: the old one where the new could not be written.
    for path in small_disk.rglob("*.xml"):
        etree.fromstring(path.read_bytes())
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    result = runner.invoke(cli, ["--config", str(config_path), "publish"])
    assert result.exit_code == 0, result.output
    with Context.open(load_config(config_path)) as ctx:
        report = pipeline.publish(ctx, full=True)
    assert report.written == []  # the recovering run had already written everything there is
    # Nothing lost: the feed of everything and its archive pages hold all 153 articles, once each.
    atom = "{http://www.w3.org/2005/Atom}"
    ids = [
        e.findtext(f"{atom}id")
        for page in [small_disk / "all/atom.xml", *sorted((small_disk / "all/archive").glob("*.xml"))]
        for e in etree.parse(str(page)).getroot().iter(f"{atom}entry")
    ]
    assert len(ids) == len(set(ids)) == 153


def test_secrets_are_never_served_logged_or_written_to_the_outbox(
    write_config: Callable[..., Path], tmp_path: Path, start_server: Callable[[web.FeedApp], str]
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    server = Sink()
    from .helpers import free_port

    port = free_port()
    controller = start(server, port)
    try:
        config_path = write_config(
            f"""
[digest]
send_at = "00:00"
outbox_dir = "outbox"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
username = "news"
password_env = "TEST_SMTP_PASSWORD"

[[recipients]]
email = "zhang@example.org"
zones = ["xishan"]
"""
        )
        articles(tmp_path / "articles", 2)
        env = {"TEST_SMTP_PASSWORD": secret}
        procs = [
            syndicate(config_path, "--log-level", "debug", *args, env=env).communicate(timeout=120)
            for args in (["fetch"], ["publish"], ["digest", "--force"])
        ]
        # The server offers no AUTH over plain text, so the login is refused: reported, never the password.
        logs = "".join(out + err for out, err in procs)
        assert "login" in logs or "AUTH" in logs or "auth" in logs.lower()
        assert secret not in logs
        for path in tmp_path.rglob("*"):
            if path.is_file() and path.suffix in (".eml", ".xml", ".json", ".html", ".opml", ".log", ".txt"):
                assert secret.encode() not in path.read_bytes(), path
        # The config file is never served, even from inside the output folder.
        (tmp_path / "public" / "syndicate.toml").write_bytes(config_path.read_bytes())
        base = start_server(web.FeedApp(tmp_path / "public"))
        for path in ("/syndicate.toml", "/../syndicate.toml", "/%2e%2e/syndicate.toml"):
            assert httpx.get(base + path).status_code == 404
    finally:
        controller.stop()


def test_a_killed_digest_run_leaves_no_partial_outbox_file(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """The outbox writer is atomic: a reader (a mail pickup) never sees half a message."""
    recipient = '[[recipients]]\nemail = "a@example.org"\nzones = ["xishan"]\n'
    config_path = write_config('[digest]\nsend_at = "00:00"\noutbox_dir = "outbox"\n\n' + recipient)
    articles(tmp_path / "articles", 30)
    assert CliRunner().invoke(cli, ["--config", str(config_path), "fetch"]).exit_code == 0
    seen: list[bytes] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for f in (tmp_path / "outbox").glob("*.eml") if (tmp_path / "outbox").exists() else []:
                data = f.read_bytes()
                seen.append(data)
            time.sleep(0.001)

    t = threading.Thread(target=watch)
    t.start()
    result = CliRunner().invoke(cli, ["--config", str(config_path), "digest"])
    stop.set()
    t.join()
    assert result.exit_code == 0
    assert seen and all(d.rstrip().endswith(b"--") for d in seen)  # every read saw a whole multipart message


def test_kill_9_at_random_points_loses_nothing_and_sends_nothing_twice() -> None:
    """The short version of `make faults` (bench/faults.py): three kills over a small workload."""
    root = Path(__file__).parent.parent
    small = ["--kills", "3", "--sources", "4", "--articles", "60", "--recipients", "3", "--seed", "7"]
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "faults.py"), *small],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line and not line.startswith(" "))
    assert counts["articles stored"] == "60"
    for key in ("articles stored twice", "articles lost", "feeds differing from a clean run", "invalid documents"):
        assert counts[key] == "0", key
    assert counts["stories delivered twice"] == "0" and counts["stories never delivered"] == "0"
    assert int(counts["digests received"]) >= 3


def _processes() -> dict[int, int]:
    """Every live process (zombies left out) with its parent's id, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if state != "Z":
                parents[int(entry.name)] = int(parent)
    return parents


def _below(pid: int) -> set[int]:
    """The live processes under ``pid``."""
    parents = _processes()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the processes in /proc")
def test_a_killed_fetch_leaves_no_parsing_process_behind(
    write_config: Callable[..., Path], tmp_path: Path, httpserver: HTTPServer
) -> None:
    """kill -9 of a fetch (the OOM killer, an operator) ends its parsing workers and their server too,
    even while they wait for a document: they never outlive the command, idle and holding memory."""

    def slow(request: Request) -> Response:
        time.sleep(5)
        return Response("<rss/>", content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(slow)
    extra = f'[[sources]]\nid = "slow"\nkind = "feed"\nurl = "{httpserver.url_for("/feed.xml")}"\n'
    command = [sys.executable, "-m", "syndicate", "--config", str(write_config(extra)), "fetch"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    below: set[int] = set()
    deadline = time.monotonic() + 60
    while len(below) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        below = _below(proc.pid)  # the workers' server, a worker per core, the resource tracker
    assert len(below) >= 3, (below, proc.poll())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while below & _processes().keys() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = below & _processes().keys()
    for pid in left:  # not to leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left
