"""Atomic replacement of output files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from syndicate.exceptions import PublishError
from syndicate.files import TEMP_PREFIX, atomic_write


def test_writes_and_reports_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "rss.xml"
    assert atomic_write(target, b"one") is True
    mtime = target.stat().st_mtime_ns
    assert atomic_write(target, b"one") is False
    assert target.stat().st_mtime_ns == mtime
    assert atomic_write(target, b"two") is True
    assert target.read_bytes() == b"two"
    assert list(target.parent.iterdir()) == [target]


def test_failed_replace_keeps_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "rss.xml"
    target.write_bytes(b"old")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)  # the OS boundary, not our code
    with pytest.raises(PublishError, match="No space left"):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["rss.xml"]


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    versions = [bytes([65 + i]) * 200_000 for i in range(20)]
    atomic_write(target, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(target.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    for v in versions[1:]:
        atomic_write(target, v)
    done.set()
    reader.join()
    assert seen <= set(versions)
    assert not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir())


def test_unwritable_target_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "zones"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(PublishError, match="zones"):
        atomic_write(blocker / "x" / "rss.xml", b"data")
