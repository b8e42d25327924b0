"""The terminal side of the command line: rich consoles made on first use (rich is imported then, not by
``syndicate --help``), tables that fit 80 columns, times for people in the site's zone."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["Output", "add_row", "err", "error_text", "local", "out", "print_table", "short", "table", "times_note"]


class Output:
    """A rich console made on first use (rich is imported then)."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **kw: Any) -> None:
        self.console.print(*objects, **kw)


out = Output()
err = Output(stderr=True)


def error_text(e: Exception) -> Any:
    from rich.text import Text

    return Text.assemble(("error:", "red"), f" {e}")


def add_row(table: Table, *cells: str) -> None:
    """A row whose cells are plain text: titles, errors and reason phrases come from partners, and rich
    would read ``[bold]`` or ``[/x]`` in them as markup (or fail on it)."""
    from rich.text import Text

    table.add_row(*(Text(c) for c in cells))


def local(value: datetime | None, tz: tzinfo) -> str:
    """A stored time for people: in the site's zone, named, or "-"."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def short(value: datetime | None, tz: tzinfo, now: datetime) -> str:
    """A stored time in a narrow column, in the site's zone (named once, below the table): the time of day
    when it is today there, else the date and time, else (another year) the date."""
    if value is None:
        return "-"
    local, today = value.astimezone(tz), now.astimezone(tz)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%m-%d %H:%M") if local.year == today.year else local.strftime("%Y-%m-%d")


def table(*columns: str, title: str | None = None) -> Table:
    """A table that fits 80 columns when its cells are short: a rule under the header, no side borders."""
    from rich import box
    from rich.table import Table

    return Table(*columns, title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def print_table(table: Table, wide: bool = False) -> None:
    """``wide``: every cell whole, however wide the terminal (for a pager or a file)."""
    if wide:
        from rich.console import Console

        Console(highlight=False, soft_wrap=True, width=10_000).print(table)
    else:
        out.print(table)


def times_note(tz: tzinfo, wide: bool) -> None:
    if not wide:
        out.print(f"times in {tz} ({datetime.now(tz):%Z}); --wide for full dates and every column", markup=False)
