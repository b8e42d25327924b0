"""Config validation errors as an operator reads them: the key's path as written in the file, its line,
and a plain message (an unknown key with its likely meaning, a pattern or a choice with the value given,
the kinds a source may be). Pure: takes pydantic's error dicts and the file's text."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel

__all__ = ["describe", "known_keys"]


def known_keys(*roots: type[BaseModel]) -> set[str]:
    """Every key a table of the file may hold: the field names (or aliases) of ``roots`` and of every
    model derived from them."""
    keys: set[str] = set()
    todo = list(roots)
    seen: set[type[BaseModel]] = set()
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.add(model)
            todo += model.__subclasses__()
            keys.update(field.alias or name for name, field in model.model_fields.items())
    return keys


def describe(err: Any, text: str, known: Collection[str], hidden: Collection[str]) -> str:
    """One problem: ``path (line N): message``. ``known``: every key the file may hold (for "did you
    mean"); ``hidden``: the union tags pydantic puts into a path that the file never spells."""
    loc = tuple(err["loc"])
    if err.get("type") == "union_tag_invalid":  # the line of `kind = ...`, not the table's
        loc += (str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"),)
    line = _line_of(text, loc, hidden) if text else None
    where = f" (line {line})" if line else ""
    return f"{_loc(tuple(err['loc']), hidden)}{where}: {_plain(err, known)}"


_HEADER = re.compile(r"^\s*\[(\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _line_of(text: str, loc: tuple[int | str, ...], hidden: Collection[str]) -> int | None:
    """The line (1-based) where the key ``loc`` names is written: its table header (``[publish]``, the
    n-th ``[[sources]]``), then the key in it; the table's header line when the key is not written (a
    missing one); None when the file does not say (a key given in an inline table)."""
    parts = [p for p in loc if not (isinstance(p, str) and p in hidden)]
    table = parts[0] if parts and isinstance(parts[0], str) else None
    index = parts[1] if len(parts) > 1 and isinstance(parts[1], int) else None
    key = next((p for p in parts[1:] if isinstance(p, str)), None)
    if table is None:
        return None
    lines = text.splitlines()
    start = None
    seen = -1
    for n, line in enumerate(lines):
        m = _HEADER.match(line)
        if m and m.group(2) == table:
            if m.group(1):  # [[table]]
                seen += 1
                if seen != (index or 0):
                    continue
            start = n
            break
    if start is None:
        if key is None:
            return None
        # A top-level key (no table): look from the top.
        key, start = table, -1
    elif key is None:
        return start + 1
    for n in range(start + 1, len(lines)):
        if _HEADER.match(lines[n]):
            break
        m = _KEY.match(lines[n])
        if m and m.group(1) == key:
            return n + 1
    return start + 1 if start >= 0 else None


def _plain(err: Any, known: Collection[str]) -> str:
    """A validation error as an operator reads it: an unknown key with its likely meaning, a pattern or a
    choice with the value given."""
    kind, loc = err.get("type"), err.get("loc") or ()
    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        close = difflib.get_close_matches(loc[-1], sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key {loc[-1]!r}{hint}"
    if kind in ("string_pattern_mismatch", "literal_error", "enum") and "input" in err:
        return f"{err['msg']}; got {err['input']!r}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        key = str(ctx.get("discriminator", "kind")).strip("'")
        return f"{key} = {ctx.get('tag')!r} is none of {ctx.get('expected_tags')}"
    return str(err["msg"])


def _loc(loc: tuple[int | str, ...], hidden: Collection[str]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and isinstance(loc[i - 1], int) and part in hidden:
            continue  # pydantic puts the union's tag in the path; the user never wrote it
        else:
            out += ("." if out else "") + part
    return out or "(top level)"
