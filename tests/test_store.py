"""The store on SQLite and PostgreSQL: saving, change detection, GUID stability, zones, migrations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syndicate.exceptions import StoreError
from syndicate.store import Store
from syndicate.store.models import Base
from syndicate.types import Article

from .helpers import SHANGHAI
from .storeviews import article_by_guid, zone_articles

T0 = datetime(2020, 12, 1, tzinfo=UTC)


def art(key: str = "a", title: str = "标题", day: int = 19, **kw: object) -> Article:
    fields: dict[str, object] = {
        "source_id": "local",
        "key": key,
        "title": title,
        "link": f"https://www.example.org/{key}.html",
        "published": datetime(2020, 10, day, 8, 30, tzinfo=SHANGHAI),
        "body_html": "<p>正文</p>",
        "author": "锡山区宣传部",
        "zone_names": ("锡山经济技术开发区",),
        "city": "无锡",
        "category": "文字新闻",
    }
    fields.update(kw)
    return Article(**fields)  # type: ignore[arg-type]


def test_new_then_unchanged(store: Store) -> None:
    items = [(art("a"), ("xishan",)), (art("b", day=20), ("xishan", "sip"))]
    assert store.save_articles("local", items, T0) == (2, 0, 0)
    assert store.save_articles("local", items, T0 + timedelta(hours=1)) == (0, 0, 2)
    assert store.count_articles() == 2


def test_roundtrip_keeps_every_field_and_the_zone_of_dates(store: Store) -> None:
    a = art("a")
    store.save_articles("local", [(a, ("xishan",))], T0)
    got = article_by_guid(store, a.guid)
    assert got is not None
    assert got.article == a
    assert got.article.published.utcoffset() is not None
    assert got.article.published == datetime(2020, 10, 19, 0, 30, tzinfo=UTC)
    assert got.zones == ("xishan",)
    assert got.first_seen == got.updated == T0


def test_edit_keeps_guid_and_first_seen(store: Store) -> None:
    a = art("a")
    store.save_articles("local", [(a, ("xishan",))], T0)
    edited = replace(a, title="新标题", body_html="<p>改过的正文</p>", link="https://www.example.org/moved.html")
    assert store.save_articles("local", [(edited, ("xishan",))], T0 + timedelta(days=1)) == (0, 1, 0)
    got = article_by_guid(store, a.guid)
    assert got is not None
    assert edited.guid == a.guid
    assert got.article.title == "新标题"
    assert got.first_seen == T0
    assert got.updated == T0 + timedelta(days=1)
    assert store.count_articles() == 1


def test_zone_change_is_an_update(store: Store) -> None:
    a = art("a")
    store.save_articles("local", [(a, ("xishan",))], T0)
    assert store.save_articles("local", [(a, ("sip",))], T0) == (0, 1, 0)
    assert [s.guid for s in zone_articles(store, "sip", 10)] == [a.guid]
    assert zone_articles(store, "xishan", 10) == []


def test_zone_articles_newest_first_and_limited(store: Store) -> None:
    items = [(art(f"k{d}", day=d), ("xishan",)) for d in (3, 9, 5, 7)]
    items.append((art("other", day=30), ("sip",)))
    store.save_articles("local", items, T0)
    got = zone_articles(store, "xishan", 3)
    assert [g.article.key for g in got] == ["k9", "k7", "k5"]


def test_same_key_in_two_sources_is_two_articles(store: Store) -> None:
    a = art("a")
    b = replace(a, source_id="other")
    store.save_articles("local", [(a, ())], T0)
    store.save_articles("other", [(b, ())], T0)
    assert store.count_articles() == 2
    assert a.guid != b.guid


def test_schema_states(db_url: str) -> None:
    s = Store(db_url)
    try:
        assert s.schema_state() == "new"
        with pytest.raises(StoreError, match="unreachable or failed"):
            s.count_articles()
        s.ensure_ready()
        assert s.schema_state() == "current"
        s.ensure_ready()  # idempotent
    finally:
        s.close()


def test_models_match_migrations(store: Store) -> None:
    """The ORM classes and the newest migration describe the same schema."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_unreachable_database_is_a_store_error() -> None:
    s = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="unreachable"):
        s.schema_state()


def test_a_setting_made_once_is_kept(store: Store, db_url: str) -> None:
    made: list[str] = []

    def make(value: str) -> str:
        made.append(value)
        return value

    assert store.setting_or_init("digest.secret", lambda: make("first")) == "first"
    other = Store(db_url)  # another process on the same database
    try:
        assert other.setting_or_init("digest.secret", lambda: make("second")) == "first"
    finally:
        other.close()
    assert made == ["first"]
    assert store.setting("digest.secret") == "first"


def test_the_schema_revisions_read_from_the_scripts_agree_with_alembic() -> None:
    from alembic.script import ScriptDirectory

    from syndicate.store.schema import alembic_config, migrations

    script = ScriptDirectory.from_config(alembic_config())
    head, known = migrations()
    assert head == script.get_current_head()
    assert known == {rev.revision for rev in script.walk_revisions()}
