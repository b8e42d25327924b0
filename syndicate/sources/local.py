"""The directory source: the platform's local article store, a folder of ``.txt`` and ``.md`` files.

Reads every article file once per call and returns them as ``Article`` values. A file that cannot be read
or parsed becomes one problem naming the file; the other files still load. The folder itself missing is
the source's error.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from urllib.parse import quote

from ..text import sanitize_html, strip_control
from ..types import Article, SourceResult, SourceState
from . import health
from .page import PageFields, parse_front_matter, parse_page

__all__ = ["DirectorySource", "decode_text"]

_PARSERS = {".txt": parse_page, ".md": parse_front_matter}


MAX_FILE = 16 * 1024 * 1024


def _read_regular(file: Path, root: Path) -> bytes:
    """The bytes of an article file that is a regular file inside the folder. A symbolic link leading out
    of it is not followed, and a FIFO, device or socket named ``*.md`` is not opened for reading (that would
    block); opened without blocking and checked on the open descriptor, so a swap in between changes nothing."""
    real = file.resolve()
    if real != root and root not in real.parents:
        raise ValueError(f"a symbolic link out of the folder (to {real}); not read")
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file; not read")
        if st.st_size > MAX_FILE:
            raise ValueError(f"larger than {MAX_FILE} bytes; not read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_FILE + 1)
    finally:
        os.close(fd)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); else GB18030, the superset of GBK and GB2312 that local tools write."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


@dataclass(frozen=True, slots=True)
class DirectorySource:
    id: str
    path: Path
    link_template: str
    tz: tzinfo
    interval: timedelta = timedelta(minutes=15)
    max_backoff: timedelta = timedelta(hours=24)

    def read(self, stored: SourceState | None, now: datetime) -> SourceResult:
        """Every article file, with the state to remember: a missing or unlistable folder is the
        source's failure (backed off like any other); one bad file is a problem, the others load."""
        result = self.scan()
        state = health.start(self.id, str(self.path), stored)
        if result.error is not None:
            new = health.failed(state, now, self.interval, self.max_backoff, "folder", result.error)
            return dataclasses.replace(result, status="error", state=new)
        return dataclasses.replace(result, state=health.succeeded(state, now, self.interval))

    def scan(self) -> SourceResult:
        """The folder's article files as articles, without health."""
        if not self.path.is_dir():
            return SourceResult(self.id, error=f"{self.path}: folder not found")
        articles: list[Article] = []
        problems: list[str] = []
        seen: dict[str, Path] = {}
        try:
            files = sorted(p for p in self.path.iterdir() if p.suffix in _PARSERS and not p.name.startswith("."))
        except OSError as e:
            return SourceResult(self.id, error=f"{self.path}: cannot list folder: {e.strerror or e}")
        root = self.path.resolve()
        for file in files:
            try:
                file.name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"{os.fsencode(file.name)!r} in {self.path}: file name is not UTF-8; rename the file")
                continue
            if file.stem in seen:
                problems.append(f"{file}: same name as {seen[file.stem].name}; only the first is read")
                continue
            seen[file.stem] = file
            try:
                articles.append(self._article(file, _read_regular(file, root)))
            except (OSError, ValueError) as e:
                problems.append(f"{file}: {e}")
        return SourceResult(self.id, tuple(articles), tuple(problems))

    def _article(self, file: Path, data: bytes) -> Article:
        try:
            text = decode_text(data)
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8 or GB18030 text: {e}") from e
        fields: PageFields = _PARSERS[file.suffix](strip_control(text), self.tz)
        link = fields.link or self.link_template.format(stem=quote(file.stem))
        return Article(
            source_id=self.id,
            key=file.stem,
            title=fields.title,
            link=link,
            published=fields.published,
            body_html=sanitize_html(fields.body_html, base_url=link),
            author=fields.source,
            zone_names=fields.zones,
            city=fields.city,
            category=fields.category,
        )
