"""The CMS table as a source, on a real SQLite file and a real PostgreSQL table: incremental, paged,
read-only, mapped like the directory source."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from syndicate import pipeline, status
from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.pipeline import Context
from syndicate.sources.sql import rows_read
from syndicate.types import SourceState

from .helpers import SHANGHAI, FixedClock
from .storeviews import zone_articles

META = MetaData()
NEWS = Table(
    "news_article",
    META,
    Column("id", Integer, primary_key=True),
    Column("title", String(200)),
    Column("content", Text),
    Column("pub_date", DateTime),
    Column("origin", String(100)),
    Column("zone_name", String(100)),
    Column("category", String(100)),
    Column("url", String(300)),
    Column("modified_at", DateTime),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'cms.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    META.create_all(engine)
    yield url, engine
    engine.dispose()


def row(i: int, modified: int, **kw: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": i,
        "title": f"第{i}条新闻",
        "content": f"<p>正文{i}</p><script>x()</script>",
        "pub_date": datetime(2020, 10, i, 8, 0),
        "origin": "管委会",
        "zone_name": "锡山开发区",
        "category": "文字新闻",
        "url": f"https://cms.example/news/{i}.html",
        "modified_at": datetime(2020, 11, 1, 0, modified),
    }
    values.update(kw)
    return values


SOURCE = """
[[sources]]
id = "cms"
kind = "sql"
url = "{url}"
table = "news_article"
page_size = 2
[sources.columns]
id = "id"
title = "title"
body = "content"
published = "pub_date"
source = "origin"
zone = "zone_name"
category = "category"
link = "url"
updated = "modified_at"
"""


@pytest.fixture
def ctx(cms: tuple[str, Engine], write_config: Callable[..., Path], clock: FixedClock) -> Iterator[Context]:
    c = Context.open(load_config(write_config(SOURCE.format(url=cms[0]))), clock)
    yield c
    c.close()


def test_incremental_paged_reads(cms: tuple[str, Engine], ctx: Context) -> None:
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(i, i) for i in range(1, 6)])
    [first] = pipeline.fetch(ctx, ["cms"])
    assert (first.new, first.updated, first.unchanged, first.errors) == (5, 0, 0, ())

    [idle] = pipeline.fetch(ctx, ["cms"])
    assert (idle.new, idle.updated, idle.unchanged) == (0, 0, 0)  # nothing re-read

    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(6, 30)])
        conn.execute(
            update(NEWS).where(NEWS.c.id == 2).values(title="改过的标题", modified_at=datetime(2020, 11, 1, 0, 31))
        )
    [later] = pipeline.fetch(ctx, ["cms"])
    assert (later.new, later.updated, later.unchanged) == (1, 1, 0)

    stored = {s.article.key: s for s in zone_articles(ctx.store, "xishan", 10)}
    assert set(stored) == {"1", "2", "3", "4", "5", "6"}
    a = stored["2"].article
    assert a.title == "改过的标题"
    assert a.link == "https://cms.example/news/2.html"
    assert a.published == datetime(2020, 10, 2, 8, 0, tzinfo=SHANGHAI)
    assert a.author == "管委会"
    assert "script" not in a.body_html
    assert a.body_html == "<p>正文2</p>"


def test_rows_with_equal_updated_are_not_skipped(cms: tuple[str, Engine], ctx: Context) -> None:
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(i, 1) for i in range(1, 4)])  # one timestamp, page size 2
    assert pipeline.fetch(ctx, ["cms"])[0].new == 3
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(4, 1)])  # same timestamp, higher id
    assert pipeline.fetch(ctx, ["cms"])[0].new == 1


def test_bad_rows_are_reported_the_rest_stored(cms: tuple[str, Engine], ctx: Context) -> None:
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(1, 1), row(2, 2, title=""), row(3, 3, url="/relative")])
    [report] = pipeline.fetch(ctx, ["cms"])
    assert report.new == 1
    assert len(report.errors) == 2
    assert any("id=2" in e and "title" in e for e in report.errors)


def test_rows_whose_updated_is_empty_are_read_once_and_later_edits_apply(cms: tuple[str, Engine], ctx: Context) -> None:
    """A CMS that leaves modified_at NULL until a row is first edited: its new rows are read by id (three,
    over two pages), once; when an edit sets modified_at the row comes through the updated order and is
    updated in place."""
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(1, 1), *(row(i, 0, modified_at=None) for i in (2, 3, 4))])
    [first] = pipeline.fetch(ctx, ["cms"])
    assert (first.new, first.errors) == (4, ())
    [idle] = pipeline.fetch(ctx, ["cms"])
    assert (idle.new, idle.updated, idle.unchanged) == (0, 0, 0)

    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(5, 0, modified_at=None)])
        conn.execute(
            update(NEWS).where(NEWS.c.id == 3).values(title="第3条（更正）", modified_at=datetime(2020, 11, 2, 9, 0))
        )
    [later] = pipeline.fetch(ctx, ["cms"])
    assert (later.new, later.updated) == (1, 1)
    stored = {s.article.key: s.article for s in zone_articles(ctx.store, "xishan", 10)}
    assert sorted(stored, key=int) == ["1", "2", "3", "4", "5"]
    assert stored["3"].title == "第3条（更正）"
    assert rows_read(ctx.store.source_states()["cms"].cursor) == {"updated": 2, "null": 4}
    shown = CliRunner().invoke(cli, ["--config", str(ctx.config.path), "sources"], env={"COLUMNS": "100"})
    assert "cms: rows read: 2 by their updated time, 4 with it empty (by id)" in shown.stdout


def test_a_bad_row_stays_listed_until_fixed_then_loads(cms: tuple[str, Engine], ctx: Context) -> None:
    """A row without a title is reported once, then kept in the source's warning at every run (also for
    `status`), until it is fixed (and loads) or deleted."""
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(1, 1), row(2, 2, title=None), row(3, 0, modified_at=None, pub_date=None)])
    [first] = pipeline.fetch(ctx, ["cms"])
    assert first.new == 1
    assert len(first.errors) == 2 and any("id=2" in e and "title" in e for e in first.errors)
    [again] = pipeline.fetch(ctx, ["cms"])
    assert again.errors == ()  # reported once ...
    warning = ctx.store.source_states()["cms"].warning or ""
    assert warning.startswith("2 rows not loaded until fixed") and "id=2" in warning and "id=3" in warning
    assert any("id=2" in w for w in status.overview(ctx).warnings)  # ... and listed until fixed

    with engine.begin() as conn:  # fixed without touching modified_at; the other deleted
        conn.execute(update(NEWS).where(NEWS.c.id == 2).values(title="补上的标题"))
        conn.execute(delete(NEWS).where(NEWS.c.id == 3))
    [fixed] = pipeline.fetch(ctx, ["cms"])
    assert (fixed.new, fixed.errors) == (1, ())
    assert ctx.store.source_states()["cms"].warning is None
    assert {s.article.title for s in zone_articles(ctx.store, "xishan", 10)} == {"第1条新闻", "补上的标题"}


def test_a_cursor_of_the_earlier_form_goes_on_and_reads_the_undated_rows(cms: tuple[str, Engine], ctx: Context) -> None:
    """A cursor stored by an earlier version ({"id", "updated"}) is read as the last row read; the rows it
    skipped because their updated was empty are read now."""
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(1, 1), row(2, 0, modified_at=None)])
    ctx.store.migrate()
    cursor = '{"id": 1, "updated": {"datetime": "2020-11-01T00:01:00"}}'
    earlier = SourceState("cms", config_url=cms[0], url=cms[0], cursor=cursor)
    ctx.store.save_source_states([earlier])
    [report] = pipeline.fetch(ctx, ["cms"])
    assert report.new == 1
    assert [s.article.key for s in zone_articles(ctx.store, "xishan", 10)] == ["2"]


def test_never_writes(cms: tuple[str, Engine], ctx: Context) -> None:
    _, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(1, 1)])
        before = conn.execute(select(NEWS)).all()
    pipeline.fetch(ctx, ["cms"])
    with engine.connect() as conn:
        assert conn.execute(select(NEWS)).all() == before


def test_missing_table_is_the_sources_error(
    write_config: Callable[..., Path], clock: FixedClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).dispose()
    (tmp_path / "empty.db").touch()
    text = SOURCE.format(url=url).replace("news_article", "no_such_table")
    with Context.open(load_config(write_config(text)), clock) as c:
        [report] = pipeline.fetch(c, ["cms"])
        assert report.failed
        assert "no_such_table" in report.errors[0]
        assert c.store.source_states()["cms"].consecutive_errors == 1


def test_missing_password_env(write_config: Callable[..., Path], clock: FixedClock, tmp_path: Path) -> None:
    text = SOURCE.format(url="postgresql+psycopg://reader@127.0.0.1/cms").replace(
        "page_size = 2", 'page_size = 2\npassword_env = "SYNDICATE_TEST_UNSET_VAR"'
    )
    with Context.open(load_config(write_config(text)), clock) as c:
        [report] = pipeline.fetch(c, ["cms"])
        assert "SYNDICATE_TEST_UNSET_VAR" in report.errors[0]


def test_cursor_survives_restart(cms: tuple[str, Engine], write_config: Callable[..., Path], clock: FixedClock) -> None:
    url, engine = cms
    with engine.begin() as conn:
        conn.execute(insert(NEWS), [row(1, 1), row(2, 2)])
    config = load_config(write_config(SOURCE.format(url=url)))
    with Context.open(config, clock) as c:
        assert pipeline.fetch(c, ["cms"])[0].new == 2
    with Context.open(config, clock) as c:
        report = pipeline.fetch(c, ["cms"])[0]
        assert (report.new, report.unchanged) == (0, 0)
        assert c.store.source_states()["cms"].last_success == datetime(2020, 12, 1, 8, 0, tzinfo=UTC)
