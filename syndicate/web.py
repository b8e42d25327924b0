"""Serving output_dir over HTTP.

For now a plain static file server from the standard library, enough for ``make run`` and a feed reader on
the same machine; production serves the folder with nginx (docs/deploy.md).
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["StaticServer"]


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the stdlib declares it as an instance attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".xml": "application/xml; charset=utf-8",
        ".html": "text/html; charset=utf-8",
    }

    def guess_type(self, path: str | object) -> str:
        name = str(path)
        if name.endswith("rss.xml"):
            return "application/rss+xml; charset=utf-8"
        if name.endswith("atom.xml"):
            return "application/atom+xml; charset=utf-8"
        return super().guess_type(name)

    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticServer:
    """Serves one folder on host:port from a background thread until ``stop()``."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
        root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_Handler, directory=str(root))
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="static-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
