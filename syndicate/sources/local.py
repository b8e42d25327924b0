"""The directory source: the platform's local article store, a folder of ``.txt`` and ``.md`` files.

Reads every article file once per call and returns them as ``Article`` values. A file that cannot be read
or parsed becomes one problem naming the file; the other files still load. The folder itself missing is
the source's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from urllib.parse import quote

from ..text import sanitize_html, strip_control
from ..types import Article, SourceResult
from .page import PageFields, parse_front_matter, parse_page

__all__ = ["DirectorySource", "decode_text"]

_PARSERS = {".txt": parse_page, ".md": parse_front_matter}


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

    def read(self) -> SourceResult:
        if not self.path.is_dir():
            return SourceResult(self.id, error=f"{self.path}: folder not found")
        articles: list[Article] = []
        problems: list[str] = []
        seen: dict[str, Path] = {}
        try:
            files = sorted(p for p in self.path.iterdir() if p.suffix in _PARSERS and not p.name.startswith("."))
        except OSError as e:
            return SourceResult(self.id, error=f"{self.path}: cannot list folder: {e.strerror or e}")
        for file in files:
            if file.stem in seen:
                problems.append(f"{file}: same name as {seen[file.stem].name}; only the first is read")
                continue
            seen[file.stem] = file
            try:
                articles.append(self._article(file))
            except (OSError, ValueError) as e:
                problems.append(f"{file}: {e}")
        return SourceResult(self.id, tuple(articles), tuple(problems))

    def _article(self, file: Path) -> Article:
        try:
            text = decode_text(file.read_bytes())
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
