"""Data flows one way: the import graph of the package is checked, so it stays that way.

types/exceptions and the pure helpers (text, dates) import nothing of ours but each other; step modules
import only those; the run context imports the steps, and pipeline, delivery and status build on it; the
thin edges (cli, web, app, scheduler) import those; nothing imports the edges but the command line, which
starts them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import syndicate

PACKAGE = Path(syndicate.__file__).parent
LEAVES = {"types", "exceptions", "text", "dates", "logs", "urls", "files", "templating", "configerrors", "console"}
STEPS = {"config", "sources", "store", "zones", "publish", "dedupe", "registry", "data", "mail"}
ORCHESTRATOR = {
    "context",
    "parsing",
    "gather",
    "joining",
    "publisher",
    "pipeline",
    "recipients",
    "delivery",
    "subscriptions",
    "status",
}
EDGES = {"cli", "web", "httpserver", "app", "scheduler"}


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _module_or_init(name: str) -> str:
    """``from syndicate import X``: X is a module, or a name defined in ``__init__``."""
    is_module = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()
    return name if is_module else "__init__"


def _imports(path: Path) -> set[str]:
    """The top-level syndicate modules that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _top(path)
    depth_of_file = len(path.relative_to(PACKAGE).parts) - 1
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("syndicate."):
                    found.add(node.module.split(".")[1])
                elif node.module == "syndicate":
                    found |= {_module_or_init(a.name) for a in node.names}
                continue
            if node.level - 1 < depth_of_file:
                continue  # relative import inside the same subpackage
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found |= {_module_or_init(a.name) for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("syndicate.")}
    found.discard(own)
    return found


def test_layers() -> None:
    allowed = {
        **dict.fromkeys(LEAVES, LEAVES),
        **dict.fromkeys(STEPS, LEAVES),
        # The run context is the base of the orchestrators; they build on it, not on each other, except
        # the status overview, which reads each recipient's next digest from delivery, and the
        # self-service pages, which read who gets digests and sign links the way delivery does.
        "context": LEAVES | STEPS | {"__init__"},
        # pipeline puts the three steps of a run in order: gather, joining (dedupe), publisher.
        "pipeline": LEAVES | STEPS | {"__init__", "context", "parsing", "gather", "joining", "publisher"},
        # parsing runs in worker processes: the steps it calls, nothing of the run's context.
        "parsing": LEAVES | STEPS,
        "gather": LEAVES | STEPS | {"__init__", "context", "parsing"},
        "joining": LEAVES | STEPS | {"__init__", "context", "parsing"},
        "publisher": LEAVES | STEPS | {"__init__", "context"},
        # who gets digests (the config merged with saved preferences): read by the three below.
        "recipients": LEAVES | STEPS | {"__init__", "context"},
        "delivery": LEAVES | STEPS | {"__init__", "context", "recipients"},
        "status": LEAVES | STEPS | {"__init__", "context", "recipients", "delivery"},
        "subscriptions": LEAVES | STEPS | {"__init__", "context", "recipients", "delivery"},
        **dict.fromkeys(EDGES, LEAVES | STEPS | ORCHESTRATOR | {"__init__"}),
        "__init__": LEAVES | {"config"},
        "__main__": {"cli"},
        # The web app starts its server (uvicorn with limits and direct answers to polls).
        "web": LEAVES | STEPS | ORCHESTRATOR | {"__init__", "httpserver"},
        "httpserver": set(),
        # The HTTP app (of serve and run) wraps the server; the daemon runs it in its process.
        "app": LEAVES | STEPS | ORCHESTRATOR | {"__init__", "web"},
        "scheduler": LEAVES | STEPS | ORCHESTRATOR | {"__init__", "web", "app"},
        # The command line is the outermost edge: it may start the server and the scheduler.
        "cli": LEAVES | STEPS | ORCHESTRATOR | EDGES | {"__init__"},
    }
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        top = _top(path)
        assert top in allowed, f"{path}: module {top!r} has no layer; add it to test_architecture"
        extra = _imports(path) - allowed[top]
        if extra:
            problems.append(f"{path.relative_to(PACKAGE)} imports {sorted(extra)}")
    assert problems == [], problems


def test_public_surface() -> None:
    assert set(syndicate.__all__) == {
        "Article",
        "Config",
        "ConfigError",
        "PublishError",
        "StoreError",
        "StoredArticle",
        "SyndicateError",
        "Zone",
        "__version__",
        "load_config",
    }


# What most commands never need; `syndicate --help` and an idle `publish` must not import them.
HEAVY = ("sqlalchemy", "pydantic", "alembic", "pypinyin", "jinja2", "httpx", "feedparser", "numpy", "rich", "uvicorn")


def _loaded_after(code: str) -> set[str]:
    import subprocess
    import sys

    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_command_line_imports_nothing_heavy_until_a_command_runs() -> None:
    loaded = _loaded_after("import syndicate.cli")
    assert "click" in loaded  # the probe sees imports at all
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_parsing_workers_import_the_parsers_alone() -> None:
    """The workers' server process imports what parsing and fingerprinting use, before any worker can
    start: not the HTTP client, the database layer or the other kinds' readers."""
    loaded = _loaded_after("import importlib, syndicate.parsing as p\nfor m in p._PARSERS: importlib.import_module(m)")
    assert {"feedparser", "numpy"} <= loaded
    unused = {"httpx", "httpcore", "sqlalchemy", "markdown_it", "rich", "jinja2", "pydantic"}
    assert loaded.isdisjoint(unused), sorted(loaded & unused)


def test_a_fetch_loads_neither_publishing_nor_the_parsers() -> None:
    """What a fetch's own process runs (gathering, storing, joining) imports no feed writer or page
    templates, and no feed parser: the parsing workers parse."""
    loaded = _loaded_after("import syndicate.pipeline, syndicate.gather, syndicate.joining, syndicate.cli")
    assert {"sqlalchemy", "httpx", "numpy"} <= loaded
    elsewhere = {"feedgen", "jinja2", "feedparser", "markdown_it"}
    assert loaded.isdisjoint(elsewhere), sorted(loaded & elsewhere)


def test_an_idle_publish_loads_no_source_reader_dedupe_migrations_or_pinyin(tmp_path: Path) -> None:
    from .conftest import ZONES_TOML

    (tmp_path / "articles").mkdir()
    config = tmp_path / "syndicate.toml"
    config.write_text(
        '[site]\nbase_url = "http://feeds.example.org/"\n[database]\nurl = "sqlite:///var/s.db"\n'
        f'[publish]\noutput_dir = "public"\n{ZONES_TOML}\n[[sources]]\nid = "local"\nkind = "directory"\n'
        'path = "articles"\nlink_template = "https://www.example.org/{stem}.html"\n',
        encoding="utf-8",
    )
    run = (
        "from syndicate.cli import cli\n"
        f"try:\n    cli(['--config', {str(config)!r}, 'publish'])\nexcept SystemExit:\n    pass"
    )
    first = _loaded_after(run)
    assert "pypinyin" in first  # the first publish makes the city slugs
    idle = _loaded_after(run)
    for heavy in ("pypinyin", "alembic", "numpy", "feedparser", "httpx", "uvicorn"):
        assert heavy not in idle, heavy
