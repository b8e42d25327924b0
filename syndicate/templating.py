"""Jinja2 environments for the templates in a folder (discovery pages, status page, digests).

Pure helper, imports nothing of syndicate's: one environment per (folder, autoescape), so each template is
compiled once per process, and again only when its file changes (Jinja2 checks the modification time).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

__all__ = ["environment", "template_problems"]


@pass_context
def _when(context: Context, value: datetime | None) -> str:
    """The ``when`` filter: a datetime for people, in the time zone the template is given as ``tz``."""
    if value is None:
        return "-"
    return value.astimezone(context["tz"]).strftime("%Y-%m-%d %H:%M:%S")


@lru_cache(maxsize=16)
def environment(folder: Path, autoescape: bool = True) -> Environment:
    """Strict (an unknown name is an error, not an empty string), block tags leave no blank lines; the
    ``when`` filter."""
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = _when
    return env


def template_problems(folder: Path, names: Iterable[tuple[str, bool]]) -> list[str]:
    """Why each of these (template name, autoescaped) does not load, naming its file; [] when all do."""
    problems = []
    for name, autoescape in names:
        try:
            environment(folder, autoescape).get_template(name)
        except Exception as e:  # TemplateNotFound, TemplateSyntaxError: the operator's to fix
            problems.append(f"{folder / name}: {type(e).__name__}: {e}")
    return problems
