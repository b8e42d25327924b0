"""Sources' state in the store: ETag, cursor, health and backoff of each source, and how many articles each
has given."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..types import SourceState
from .models import ArticleRow, SourceRow, upsert

__all__ = ["SourceStateMixin", "state_of", "write_states"]


class SourceStateMixin:
    """Source queries of ``Store`` (mixed in; uses its sessions)."""

    _session: Callable[[], AbstractContextManager[Session]]  # provided by Store

    def source_states(self) -> dict[str, SourceState]:
        with self._session() as s:
            return {row.id: state_of(row) for row in s.scalars(select(SourceRow))}

    def save_source_states(self, states: Iterable[SourceState]) -> None:
        """Upsert the state of many sources in one transaction (one query to see which exist)."""
        with self._session() as s:
            write_states(s, states)

    def article_counts(self) -> dict[str, int]:
        """Articles stored per source id."""
        with self._session() as s:
            rows = s.execute(select(ArticleRow.source_id, func.count()).group_by(ArticleRow.source_id))
            return {source_id: count for source_id, count in rows}


_STATE_FIELDS = [f.name for f in dataclasses.fields(SourceState)]


def state_values(state: SourceState) -> dict[str, Any]:
    values = {name: getattr(state, name) for name in _STATE_FIELDS}
    values["id"] = values.pop("source_id")
    return values


def write_states(s: Session, states: Iterable[SourceState]) -> None:
    """Insert or update sources' states in the caller's transaction, in bulk (one query to see which
    exist, not an ORM merge, a read, for each)."""
    upsert(s, SourceRow, SourceRow.id, {st.source_id: state_values(st) for st in states})


def state_of(row: SourceRow) -> SourceState:
    values = {name: getattr(row, "id" if name == "source_id" else name) for name in _STATE_FIELDS}
    return SourceState(**values)
