"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, configs written to tmp folders.

PostgreSQL: each test gets a database of its own, created on the server at SYNDICATE_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/test, the maintenance database to connect to) and dropped afterwards.
When the server cannot be reached the PostgreSQL variants are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from syndicate import web
from syndicate.config import Config, load_config
from syndicate.pipeline import Context
from syndicate.store import Store

from .helpers import FixedClock, free_port

PG_ADMIN = os.environ.get("SYNDICATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DATA = Path(__file__).parent / "data"


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return str(e).strip()


@pytest.fixture(scope="session")
def pg_admin() -> str:
    problem = _pg_available()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI but unreachable at {PG_ADMIN}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN}: {problem}")
    return PG_ADMIN


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"syndicate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(pg_admin)
    host, port, user = info.get("host", "127.0.0.1"), info.get("port", "5432"), info.get("user", "postgres")
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syndicate.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2020, 12, 1, 8, 0, tzinfo=UTC))


ZONES_TOML = """
[[zones]]
slug = "xishan"
name = "锡山经济技术开发区"
city = "无锡"
province = "江苏"
aliases = ["锡山经开区", "锡山开发区"]

[[zones]]
slug = "wuxi-hitech"
name = "无锡高新技术产业开发区"
city = "无锡"
aliases = ["无锡高新区"]

[[zones]]
slug = "sip"
name = "苏州工业园区"
city = "苏州"
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file into tmp_path: site, database, publish, the test zones, plus ``extra``."""

    def write(extra: str = "", db_url: str | None = None, articles: str = "articles") -> Path:
        (tmp_path / articles).mkdir(exist_ok=True)
        text = f"""
[site]
title = "测试平台"
base_url = "http://feeds.example.org/"

[database]
url = "{db_url or "sqlite:///var/syndicate.db"}"

[publish]
output_dir = "public"
items_per_feed = 3
{ZONES_TOML}
[[sources]]
id = "local"
kind = "directory"
path = "{articles}"
link_template = "https://www.example.org/news/{{stem}}.html"
{textwrap.dedent(extra)}
"""
        path = tmp_path / "syndicate.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_context(write_config: Callable[..., Path], db_url: str, clock: FixedClock) -> Iterator[Callable[..., Context]]:
    opened: list[Context] = []

    def make(extra: str = "") -> Context:
        config: Config = load_config(write_config(extra, db_url=db_url))
        ctx = Context.open(config, clock)
        ctx.store.ensure_ready()
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@pytest.fixture
def start_server() -> Iterator[Callable[..., str]]:
    servers: list[tuple[Any, threading.Thread]] = []

    def start(app: web.FeedApp, port: int | None = None, **kw: Any) -> str:
        port = port or free_port()
        server = web.serve(app, "127.0.0.1", port, **kw)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def ctx_for(write_config: Callable[..., Path], clock: FixedClock) -> Iterator[Callable[..., Context]]:
    """Contexts on a config with these extra sources (TOML), closed after the test. ``at``: another clock."""
    opened: list[Context] = []

    def make(sources: str, at: Callable[[], datetime] | None = None, **kw: Any) -> Context:
        ctx = Context.open(load_config(write_config(sources)), at or clock, **kw)
        opened.append(ctx)
        return ctx

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (never a browser download of Playwright's own)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is not installed: `make test` installs it")
        pytest.skip("Debian's chromium is not installed (`make test` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()
