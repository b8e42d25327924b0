"""Config loading: defaults, path resolution, and errors that name the key."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from syndicate.config import DirectorySourceConfig, load_config, parse_duration
from syndicate.exceptions import ConfigError

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert len(config.zones) >= 3
    assert len({z.city for z in config.zones}) >= 2
    source = config.sources[0]
    assert isinstance(source, DirectorySourceConfig)
    assert source.path == EXAMPLE.parent.resolve() / "examples/articles"


def test_relative_paths_resolve_against_the_config_folder(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config()
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.publish.output_dir == tmp_path / "public"
    assert config.database.url == f"sqlite:///{tmp_path}/var/syndicate.db"
    assert config.sources[0].path == tmp_path / "articles"  # type: ignore[union-attr]
    assert config.site.base_url == "http://feeds.example.org/"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[serving]\nport = 1\n", "serving"),
        ("[serve]\nport = 0\n", "serve.port"),
        (
            "[[sources]]\nid = 'x'\nkind = 'directory'\npath = 'a'\nlink_template = 'https://x/{stem}'\nbogus = 1\n",
            "sources[1].bogus",
        ),
        (
            "[[sources]]\nid = 'Bad Id'\nkind = 'directory'\npath = 'a'\nlink_template = 'https://x/{stem}'\n",
            "sources[1].id",
        ),
        (
            "[[sources]]\nid = 'x'\nkind = 'directory'\npath = 'a'\nlink_template = 'https://x/{id}'\n",
            "sources[1].link_template",
        ),
        ("[[sources]]\nid = 'x'\nkind = 'carrier-pigeon'\n", "sources[1]"),
        (
            "[[sources]]\nid = 'local'\nkind = 'directory'\npath = 'a'\nlink_template = 'https://x/{stem}'\n",
            "sources[1].id: 'local' is already used by sources[0]",
        ),
        ("[[zones]]\nslug = 'xishan'\nname = '另一个'\ncity = '某'\n", "zones[3].slug"),
        ("[[zones]]\nslug = 'UPPER'\nname = 'n'\ncity = 'c'\n", "zones[3].slug"),
        ("[[zones]]\nslug = 'ok'\nname = 'n'\n", "zones[3].city"),
        (
            "[[sources]]\nid = 'x'\nkind = 'directory'\npath = 'a'\nlink_template = 'https://x/{stem}'\n"
            "interval = 'often'\n",
            "sources[1].interval",
        ),
        ("[digest]\nsubject = '{day} 日报'\n", "digest.subject: Value error, may use only the placeholder {date}"),
    ],
)
def test_errors_name_the_key(write_config: Callable[..., Path], extra: str, key: str) -> None:
    path = write_config(extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = re.sub(r" \(line \d+\)", "", str(info.value))  # lines: tests/test_cli.py
    assert str(path) in message
    assert key in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[site]\nlanguage = 'zh_CN'\n", "site.language"),
        ("[site]\ntimezone = 'Mars/Olympus'\n", "site.timezone"),
        ("[site]\nbase_url = 'feeds.example.org'\n", "site.base_url"),
        ("[publish]\nitems_per_feed = 0\n", "publish.items_per_feed"),
    ],
)
def test_site_errors(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[publish]\nitems_per_fed = 5\n",
            "publish.items_per_fed: unknown key 'items_per_fed'; did you mean 'items_per_feed'?",
        ),
        ("[digest]\nsendat = '08:00'\n", "digest.sendat: unknown key 'sendat'; did you mean 'send_at'?"),
        ("[publish]\nwhatever = 1\n", "publish.whatever: unknown key 'whatever'"),
        (
            "[[zones]]\nslug = 'Xi Shan!'\nname = 'n'\ncity = 'c'\n",
            "zones[0].slug: String should match pattern '^[a-z0-9]+(?:-[a-z0-9]+)*$'; got 'Xi Shan!'",
        ),
        (
            "[smtp]\nhost = 'h'\nsecurity = 'ssl'\n",
            "smtp.security: Input should be 'none', 'starttls' or 'tls'; got 'ssl'",
        ),
    ],
)
def test_config_errors_read_plainly(tmp_path: Path, text: str, said: str) -> None:
    """Unknown keys with their likely meaning, patterns as written, the value that was given."""
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert said in [re.sub(r" \(line \d+\)", "", p) for p in info.value.problems]
    key = said.split(":")[0]
    assert any(p.startswith(f"{key} (line ") for p in info.value.problems)  # each names its line
    assert "Extra inputs are not permitted" not in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("500ms", timedelta(milliseconds=500)),
        (90, timedelta(seconds=90)),
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_the_example_config_documents_every_key() -> None:
    """Each key of each section appears (set or commented out) in config.example.toml."""
    import re

    from syndicate import config as c

    text = (Path(__file__).parent.parent / "config.example.toml").read_text(encoding="utf-8")
    models = [
        c.SiteConfig,
        c.DatabaseConfig,
        c.PublishConfig,
        c.FetchConfig,
        c.ZonesRegistryConfig,
        c.ServeConfig,
        c.DigestConfig,
        c.SmtpConfig,
        c.RecipientConfig,
        c.ZoneConfig,
        c.DirectorySourceConfig,
        c.FeedSourceConfig,
        c.SqlSourceConfig,
    ]
    missing = [
        f"{model.__name__}.{field.alias or name}"
        for model in models
        for name, field in model.model_fields.items()
        if not re.search(rf"^\s*#?\s*{re.escape(field.alias or name)}\s*=", text, re.M)
    ]
    assert missing == []
