"""The ``syndicate`` command. Thin: each command loads the config, builds a context, calls the pipeline,
and prints the result. Exit codes: 0 success, 1 a source or step failed, 2 the config is invalid.
"""

from __future__ import annotations

import gc
import importlib
import os
import socket
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .console import add_row as _add_row
from .console import err as _err
from .console import error_text as _error_text
from .console import local as _local
from .console import out as _out
from .console import print_table as _print_table
from .console import short as _short
from .console import table as _table
from .console import times_note as _times_note
from .exceptions import ConfigError, SyndicateError
from .logs import configure_logging

# Each command imports what it uses when it runs: `syndicate --help` or an idle `publish` must not pay for
# the digest stack, the web server, Alembic, the pinyin dictionary or rich's tables (bench/cli.py;
# tests/test_architecture.py keeps them out of this module's import).
if TYPE_CHECKING:
    from . import delivery, pipeline, subscriptions, web
    from . import status as health
    from .config import Config
    from .types import FetchReport
else:

    class _Lazy:
        """A module imported on first use of one of its names."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    delivery = _Lazy("syndicate.delivery")
    pipeline = _Lazy("syndicate.pipeline")
    subscriptions = _Lazy("syndicate.subscriptions")
    web = _Lazy("syndicate.web")
    health = _Lazy("syndicate.status")

__all__ = ["main"]

T = TypeVar("T")


class _State:
    def __init__(self, config_path: Path | None, log_json: bool = False) -> None:
        self._path = config_path
        self.log_json = log_json
        self._config: Config | None = None

    @property
    def config_path(self) -> Path:
        """``--config``, else ``$SYNDICATE_CONFIG``, else ``./syndicate.toml``."""
        if self._path is None:
            from .config import default_config_path

            self._path = default_config_path()
        return self._path

    @property
    def config(self) -> Config:
        if self._config is None:
            from .config import load_config

            self._config = load_config(self.config_path)
        return self._config


@contextmanager
def _errors() -> Iterator[None]:
    """Turn syndicate's errors into a clear message and an exit code; never a traceback."""
    try:
        yield
    except ConfigError as e:
        _err.print(_error_text(e))
        sys.exit(2)
    except SyndicateError as e:
        _err.print(_error_text(e))
        sys.exit(1)


def _with_context(state: _State, fn: Callable[[pipeline.Context], T]) -> T:
    with pipeline.Context.open(state.config) as ctx, _progress() as progress:
        ctx.progress = progress
        return fn(ctx)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar per long step on a terminal; on anything else, nothing (the log says what happened)."""
    if not _err.console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err.console,
        transient=True,
    ) as bar:

        def advance(step: str, done: int, total: int) -> None:
            if total < 20:
                return  # short steps need no bar
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield advance


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="syndicate", prog_name="syndicate")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file. Default: $SYNDICATE_CONFIG, else ./syndicate.toml.",
)
@click.option("--log-level", default="warning", show_default=True, help="debug, info, warning or error.")
@click.option("--log-json", is_flag=True, help="Log one JSON object a line.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_level: str, log_json: bool) -> None:
    """Gather partner news, publish per-zone feeds, send daily digests."""
    configure_logging(log_level, log_json)
    ctx.obj = _State(config_path, log_json)


pass_state = click.make_pass_decorator(_State)


@cli.command()
@pass_state
def check(state: _State) -> None:
    """Validate the config; name each wrong key. Exits 2 on error."""
    with _errors():
        config = state.config
        problems, warnings = pipeline.check(config)
        problems += delivery.check_recipients(config)
    for message in warnings:
        _err.print(f"warning: {message}", markup=False)
    if problems:
        _err.print(f"error: {config.path}: invalid config", markup=False)
        for message in problems:
            _err.print(f"  - {message}", markup=False)
        sys.exit(2)
    zones = len(pipeline.zone_set(config).zones)
    _out.print(f"{config.path}: ok ({zones} zones, {len(config.sources)} sources)", markup=False)


@cli.command()
@pass_state
def init(state: _State) -> None:
    """Create the database, or migrate it to this version's schema."""
    with _errors():
        found = _with_context(state, pipeline.init)
    _out.print({"new": "database created", "behind": "database migrated"}.get(found, "database is current"))


@cli.command()
@click.argument("source_ids", nargs=-1)
@pass_state
def fetch(state: _State, source_ids: tuple[str, ...]) -> None:
    """Read every source (or the named ones) once and store new and changed articles."""
    with _errors():
        if any(s.kind == "feed" and (not source_ids or s.id in source_ids) for s in state.config.sources):
            from .parsing import warm

            warm()  # the parsing workers start while the rest of syndicate is imported
        reports = _with_context(state, lambda ctx: pipeline.fetch(ctx, source_ids))
    _print_fetch(reports)
    if any(r.failed for r in reports):
        sys.exit(1)


# How a source's read went, in the fetch table: a 304 is not an empty feed.
_FETCH_WORDS = {"ok": "read", "not_modified": "not modified", "unchanged": "same document", "error": "failed"}


# Beyond this many sources with nothing to say (not modified or the same document, nothing new or
# updated, no error or warning), those are counted in one line under the table instead of a row each:
# a thousand rows of zeros hide the few that matter (and took a second to draw).
_QUIET_ROWS = 20


def _print_fetch(reports: list[FetchReport]) -> None:
    quiet = [
        not (r.new or r.updated or r.errors or r.warnings) and r.status in ("not_modified", "unchanged")
        for r in reports
    ]
    hide = sum(quiet) > _QUIET_ROWS
    shown = [r for r, q in zip(reports, quiet, strict=True) if not (hide and q)]
    hidden = [r for r, q in zip(reports, quiet, strict=True) if hide and q]
    if shown:
        table = _table("source", "result", "new", "updated", "unchanged", "errors")
        for r in shown:
            result = _FETCH_WORDS.get(r.status, r.status)
            _add_row(table, r.source_id, result, str(r.new), str(r.updated), str(r.unchanged), str(len(r.errors)))
        _out.print(table)
    if hidden:
        counts = Counter(_FETCH_WORDS[r.status] for r in hidden)
        words = ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))
        more = " more" if shown else ""
        _out.print(f"{len(hidden)}{more} sources with nothing new: {words}", markup=False)
    for r in reports:
        for message in r.errors:
            _err.print(f"error: {r.source_id}: {message}", markup=False)
        for message in r.warnings:
            _err.print(f"warning: {r.source_id}: {message}", markup=False)


@cli.command()
@click.option("--wide", is_flag=True, help="Every column and full dates, however wide the terminal.")
@pass_state
def sources(state: _State, wide: bool) -> None:
    """Each source's health: status, errors, last success, next due time, entries (--wide: also the last
    attempt and last error, full dates); the errors in full below the table."""
    with _errors():
        rows = _with_context(state, health.source_health)
        tz = state.config.site.tz
    now = datetime.now(tz)
    if wide:
        table = _table(
            "source", "kind", "last attempt", "last success", "status", "errors", "last error", "next due", "entries"
        )
    else:
        table = _table("source", "kind", "status", "errors", "last success", "next due", "entries")
    notes: list[str] = []

    def when(value: datetime | None) -> str:
        return _local(value, tz) if wide else _short(value, tz, now)

    def add(*cells: str) -> None:
        # (source, kind, last attempt, last success, status, errors, last error, next due, entries)
        _add_row(table, *(cells if wide else (cells[0], cells[1], cells[4], cells[5], cells[3], cells[7], cells[8])))

    for row in rows:
        st = row.state
        if st is None:
            add(row.id, row.kind, "never", "-", "never read", "0", "-", "now", str(row.entries))
            continue
        status = "disabled" if st.disabled else (str(st.http_status) if st.http_status else "ok")
        if st.consecutive_errors and not st.disabled:
            status = f"{status} (failing)" if st.http_status else "failing"
        add(
            row.id,
            row.kind,
            when(st.last_attempt),
            when(st.last_success),
            status,
            str(st.consecutive_errors),
            f"{st.last_error_kind}: {st.last_error}" if st.last_error else "-",
            "disabled" if st.disabled else when(st.next_due),
            str(row.entries),
        )
        if st.last_error and st.consecutive_errors:
            # In full below the table: a narrow terminal cuts the column, and the error is what to act on.
            notes.append(f"{row.id}: {st.last_error_kind}: {st.last_error}")
        if st.moved_from and st.url:
            notes.append(f"{row.id}: moved permanently from {st.moved_from} to {st.url}; update the config's url")
        if st.disabled:
            notes.append(f"{row.id}: disabled: {st.disabled}")
        if st.warning:
            notes.append(f"{row.id}: warning: {st.warning}")
        if row.kind == "sql" and st.cursor:
            notes.append(f"{row.id}: {_rows_read(st.cursor)}")
    _print_table(table, wide)
    _times_note(tz, wide)
    for note in notes:
        _out.print(note, markup=False)


def _rows_read(cursor: str) -> str:
    from .sources.sql import rows_read

    words = {
        "updated": "by their updated time",
        "null": "with it empty (by id)",
        "id": "by id",
        "retried": "read again while waiting to be fixed",
    }
    n = rows_read(cursor)
    return "rows read: " + (", ".join(f"{n[way]} {said}" for way, said in words.items() if way in n) or "none")


@cli.command()
@click.argument("args", nargs=-1, metavar="[ARTICLE] | split ARTICLE")
@pass_state
def dupes(state: _State, args: tuple[str, ...]) -> None:
    """List stories told by several sources, or one ARTICLE's story (id, GUID or link), with the rule and
    similarity that joined each version. `dupes split ARTICLE` takes a wrongly merged article out of its
    story for good."""
    if len(args) > 2 or (len(args) == 2 and args[0] != "split") or args == ("split",):
        raise click.UsageError("give nothing, an ARTICLE, or: split ARTICLE")
    with _errors():
        if args and args[0] == "split" and len(args) == 2:
            new_story, found = _with_context(
                state, lambda ctx: (pipeline.split(ctx, args[1]), pipeline.stories(ctx, args[1]))
            )
            _out.print(f"{args[1]}: now story {new_story} on its own; later fetches keep it apart", markup=False)
        else:
            found = _with_context(state, lambda ctx: pipeline.stories(ctx, args[0] if args else None))
        tz = state.config.site.tz
    if not found:
        _out.print("no story has more than one version", markup=False)
    for story in found:
        from rich.table import Table

        table = Table("", "article", "source", "published", "title", "joined by", title=f"story {story.id}")
        for v in story.versions:
            if v.rule == "split":
                how = "split by operator"
            elif v.rule:
                how = f"{v.rule} {v.similarity:.2f} with {v.dup_of}" if v.dup_of else f"{v.rule} {v.similarity:.2f}"
            else:
                how = "first seen"
            _add_row(
                table,
                "*" if v.canonical else "",
                str(v.id),
                v.source_id,
                v.published.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                v.title,
                how,
            )
        _out.print(table)
    if found:
        _out.print("* the version published in feeds and digests", markup=False)


@cli.command()
@click.option("--all", "full", is_flag=True, help="Rebuild every feed, not only those whose items changed.")
@pass_state
def publish(state: _State, full: bool) -> None:
    """Write the feeds (zones, cities, categories, all; RSS, Atom, JSON Feed) whose items changed, and
    the discovery page, OPML and stylesheet, under publish.output_dir."""
    with _errors():
        report = _with_context(state, lambda ctx: pipeline.publish(ctx, full=full))
    _out.print(
        f"{len(report.written)} files written, {len(report.unchanged)} unchanged, "
        f"{report.skipped} feeds without changes skipped",
        markup=False,
    )
    for guid, why in report.unwritable.items():
        _err.print(f"article {guid} left out of every feed: {why}", markup=False)


def _count(n: int, noun: str) -> str:
    """``1 article``, ``2 articles``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_DIGEST_WORDS = {
    "sent": "sent",
    "empty": "nothing new",
    "waiting": "an earlier digest waits to be retried",
    "retry": "will retry",
    "failed": "failed for good",
    "blocked": "skipped: an earlier send failed for good",
    "unsubscribed": "unsubscribed",
    "paused": "paused by the recipient",
    "taken": "sent by another run",
    "dry-run": "rendered (dry run)",
}


@cli.group(invoke_without_command=True)
@click.option("--recipient", "recipient", metavar="EMAIL", default=None, help="Only this recipient.")
@click.option("--force", is_flag=True, help="Send now whatever the schedule: what is new since the last digest.")
@click.option("--dry-run", is_flag=True, help="Render to the outbox folder; record and send nothing.")
@click.option("--resubscribe", is_flag=True, help="With --recipient: send digests again after an unsubscription.")
@click.pass_context
def digest(click_ctx: click.Context, recipient: str | None, force: bool, dry_run: bool, resubscribe: bool) -> None:
    """Send every daily digest that is due now (each recipient once a day at or after [digest] send_at,
    in their time zone). Without [smtp], messages are written to [digest] outbox_dir as .eml files."""
    if click_ctx.invoked_subcommand is not None:
        return
    state = click_ctx.find_object(_State)
    assert state is not None
    if resubscribe:
        if recipient is None:
            raise click.UsageError("--resubscribe needs --recipient EMAIL")
        with _errors():
            _with_context(state, lambda ctx: subscriptions.resubscribe(ctx, recipient))
        _out.print(f"{recipient}: subscribed again; unsubscribe links sent before now no longer work", markup=False)
        return
    with _errors():
        report, upcoming = _with_context(
            state,
            lambda ctx: (delivery.digest(ctx, recipient, force=force, dry_run=dry_run), delivery.next_digests(ctx)),
        )
    table = _table("recipient", "outcome", "articles", "to", "error")
    for o in report.outcomes:
        _add_row(
            table, o.recipient, _DIGEST_WORDS.get(o.status, o.status), str(o.items), o.where or "-", o.error or "-"
        )
    if report.outcomes:
        _out.print(table)
    sent = report.count("sent") + report.count("dry-run")
    by_status: dict[str, int] = {}
    for o in report.outcomes:
        if o.status not in ("sent", "dry-run"):
            word = _DIGEST_WORDS.get(o.status, o.status)
            by_status[word] = by_status.get(word, 0) + 1
    rest = "".join(f", {n} {word}" for word, n in by_status.items())
    _out.print(f"{_count(sent, 'digest')} {'rendered' if dry_run else 'sent'}{rest}", markup=False)
    if not report.outcomes:
        # Nothing was due: say who is due when, and how to see a digest now.
        tz = state.config.site.tz
        due = {e: at for e, at in upcoming.items() if at is not None and (recipient is None or e == recipient)}
        if due:
            times = "; ".join(f"{e} at {at.astimezone(tz):%Y-%m-%d %H:%M %Z}" for e, at in sorted(due.items()))
            _out.print(f"nothing due now; next: {times}", markup=False)
        _out.print("to see a digest now: syndicate digest --dry-run --force", markup=False)
    if report.failed:
        sys.exit(1)


@digest.command("preview")
@click.argument("email")
@click.option(
    "--out",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the files. Default: [digest] outbox_dir/preview.",
)
@pass_state
def digest_preview(state: _State, email: str, folder: Path | None) -> None:
    """Write EMAIL's digest as it would be now (HTML and text) to files and print their paths."""
    with _errors():
        target = folder or state.config.digest.outbox_dir / "preview"
        html_path, text_path, count = _with_context(state, lambda ctx: delivery.preview(ctx, email, target))
    _out.print(str(html_path), markup=False)
    _out.print(str(text_path), markup=False)
    _err.print(f"{_count(count, 'article')} new to {email}", markup=False)


def _app(config: Config) -> tuple[web.FeedApp, pipeline.Context]:
    from .app import feed_app

    ctx = pipeline.Context.open(config)
    return feed_app(config, lambda: ctx), ctx


@cli.command()
@click.option("--host", default=None, help="Default: [serve] host.")
@click.option("--port", type=int, default=None, help="Default: [serve] port.")
@pass_state
def serve(state: _State, host: str | None, port: int | None) -> None:
    """Serve publish.output_dir over HTTP (ETag, 304, gzip, /healthz) until interrupted."""
    with _errors():
        config = state.config
        app, ctx = _app(config)
    host, port = host or config.serve.host, port or config.serve.port
    # Listen first: a busy port is reported before anything claims to serve, with exit status 1.
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as e:
        ctx.close()
        reason = os.strerror(e.errno) if e.errno else str(e)
        _err.print(f"error: cannot listen on {host}:{port}: {reason}", markup=False)
        sys.exit(1)
    server = web.serve(app, host, port, max_connections=config.serve.max_connections)
    _out.print(f"serving {config.publish.output_dir} at http://{host}:{port}/", markup=False)
    try:
        server.run(sockets=[listening])
    finally:
        listening.close()
        ctx.close()


@cli.command()
@click.option("--once", is_flag=True, help="Fetch every due source, publish, send due digests, and exit.")
@click.option("--no-serve", is_flag=True, help="Do not serve output_dir over HTTP.")
@click.option("--host", default=None, help="Default: [serve] host.")
@click.option("--port", type=int, default=None, help="Default: [serve] port.")
@pass_state
def run(state: _State, once: bool, no_serve: bool, host: str | None, port: int | None) -> None:
    """The daemon: poll each source on its interval, publish after changes, send digests when due, and
    serve output_dir. SIGHUP re-reads the config; SIGINT/SIGTERM stop. One daemon per database."""
    from .scheduler import Daemon, DaemonOptions

    with _errors():
        config = state.config
        daemon = Daemon(state.config_path, config, DaemonOptions(serve=not no_serve, host=host, port=port))
        if once:
            code = daemon.once()
            _out.print("done" if code == 0 else "done, with failures (see the log)", markup=False)
            sys.exit(code)
        if not state.log_json:  # with --log-json the structured events are the record
            tz = config.site.tz

            def say(line: str) -> None:
                _out.print(f"{datetime.now(tz):%Y-%m-%d %H:%M:%S %Z} {line}", markup=False, soft_wrap=True)

            daemon.say = say
        code = daemon.run()
    if not daemon.stopped_cleanly:
        # A job did not stop in time: leave without waiting for it (its writes are atomic, its
        # transaction is rolled back, temp files were removed).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@cli.command()
@click.option("--wide", is_flag=True, help="Every column and full dates, however wide the terminal.")
@pass_state
def status(state: _State, wide: bool) -> None:
    """Health at a glance: sources, last publish, next digests, counts, the last errors."""
    with _errors():
        st = _with_context(state, health.overview)
        tz = state.config.site.tz

    def when(value: datetime | None) -> str:
        return _local(value, tz) if wide else _short(value, tz, st.now)

    c = st.counts
    _out.print(
        f"articles {c['articles']}, stories {c['stories']}, duplicates {c['duplicates']}; "
        f"last publish {_local(st.last_publish, tz)}",
        markup=False,
    )
    table = _table("source", "kind", "status", "errors", "last success", "next due", "entries")
    for row in st.sources:
        s = row.state
        if s is None:
            _add_row(table, row.id, row.kind, row.health, "0", "-", "now", str(row.entries))
            continue
        _add_row(
            table,
            row.id,
            row.kind,
            row.health,
            str(s.consecutive_errors),
            when(s.last_success),
            when(s.next_due),
            str(row.entries),
        )
    _print_table(table, wide)
    if st.next_digests:
        digests = _table("recipient", "next digest")
        for email, at in st.next_digests.items():
            _add_row(digests, email, when(at) if at else f"stopped: {st.stopped.get(email, 'no digest due')}")
        _print_table(digests, wide)
    if st.changes:
        changes = _table("recipient", "changed themselves", "when", "follows now")
        for change in st.changes:
            what = ", ".join(change.changed) or "-"
            shown = f"{what} (signed up)" if change.origin == "signup" else what
            _add_row(changes, change.email, shown, when(change.at), change.follows)
        _print_table(changes, wide)
    _times_note(tz, wide)
    for message in st.errors:
        _out.print(f"error: {message}", markup=False)
    for message in st.warnings:
        _out.print(f"warning: {message}", markup=False)


def main() -> None:
    # Nothing here does linear algebra: numpy's BLAS need not start a thread per core in every process
    # that imports it (the command and each parsing worker), where they spun for a while at start-up.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cli(prog_name="syndicate")
    finally:
        # What is left is freed by the exit: the collector's passes at shutdown need not scan all of it
        # once more (a tenth of a second after a cold fetch, while the caller waits).
        gc.freeze()
