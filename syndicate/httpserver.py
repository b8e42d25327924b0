"""The HTTP server of ``serve`` and ``run``: uvicorn's httptools protocol with the limits it lacks, and feed
polls answered without the ASGI round.

Limits (docs/deploy.md, "Limits"): a request's head (request line and headers) must arrive within
``head_timeout`` seconds and fit in ``MAX_HEAD`` bytes (uvicorn keeps a connection that never sends a full
request open forever and reads headers of any size); an idle kept-alive connection is closed after
``KEEP_ALIVE`` seconds; beyond ``max_connections`` open connections new requests get 503 and are closed.

Polls: a GET or HEAD of a file the app answered within the last second is answered from the app's cached
headers as soon as the request's head is read (``FeedApp.polled``), with the bytes uvicorn would write: no
request scope, task or ASGI messages. Anything else — a request with a body, an upgrade, a request behind
one still being answered, a slow reader, the connection limit reached — takes uvicorn's own path. Built
on first use, so that importing the web app does not import uvicorn.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["HEAD_TIMEOUT", "KEEP_ALIVE", "MAX_HEAD", "Polled", "raise_open_files_limit", "server"]

HEAD_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024
KEEP_ALIVE = 5
_DIRECT_BODY = 256 * 1024  # a larger body goes through uvicorn, which waits for a slow reader


class Polled(Protocol):
    def polled(
        self, method: bytes, path: str, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[int, Sequence[tuple[bytes, bytes]], bytes] | None: ...


def server(
    app: Polled,
    host: str,
    port: int,
    log_level: str = "warning",
    max_connections: int = 512,
    head_timeout: float | None = None,
) -> Any:
    """A uvicorn server for the ASGI ``app`` (not started)."""
    import uvicorn

    raise_open_files_limit()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]  # an ASGI app that also answers polls
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        http=_protocol(app, HEAD_TIMEOUT if head_timeout is None else head_timeout),
        limit_concurrency=max_connections,
        timeout_keep_alive=KEEP_ALIVE,
    )
    return uvicorn.Server(config)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (each connection is a file; the
    common soft limit of 1,024 is reached by a thousand idle clients). Returns the limit in force."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        return int(soft)
    except (ImportError, ValueError, OSError):
        return -1


class _Answered:
    """Stands for a request answered directly, where uvicorn looks at the connection's current request
    cycle (a body arriving after it, the connection lost, shutdown): complete, nothing to wake."""

    response_complete = True

    class message_event:  # uvicorn calls ``cycle.message_event.set()``
        @staticmethod
        def set() -> None:
            return None


def _protocol(app: Polled, head_timeout: float) -> type:
    import httptools
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    answered = _Answered()

    class LimitedProtocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_bytes = 0
            self._in_head = True
            self._head_timer: Any = self.loop.call_later(head_timeout, self._head_timeout)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD:
                    self._refuse(b"431 Request Header Fields Too Large")
                    return
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._in_head:  # the next request on a kept-alive connection
                self._in_head, self._head_bytes = True, 0
                self._head_timer = self.loop.call_later(head_timeout, self._head_timeout)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_timer.cancel()
            if not self._answer_directly():
                super().on_headers_complete()

        def _answer_directly(self) -> bool:
            cycle = self.cycle
            if (cycle is not None and not cycle.response_complete) or self.pipeline or self.flow.write_paused:
                return False  # keep the order of pipelined requests; let uvicorn wait for a slow reader
            limit = self.limit_concurrency
            if self.parser.should_upgrade() or (limit and max(len(self.connections), len(self.tasks)) >= limit):
                return False  # uvicorn upgrades, or answers 503
            for name, value in self.headers:
                if (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
                    return False  # a body follows: uvicorn reads it
            path = httptools.parse_url(self.url).path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            answer = app.polled(self.parser.get_method(), self.root_path + path, self.headers)
            if answer is None or len(answer[2]) > _DIRECT_BODY:
                return False
            status, headers, body = answer
            keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            out = [STATUS_LINE[status]]
            for name, value in (*self.server_state.default_headers, *headers):
                out += (name, b": ", value, b"\r\n")
            if not keep_alive:
                out.append(b"connection: close\r\n")
            out += (b"\r\n", body)
            self.transport.write(b"".join(out))
            self.cycle = answered  # type: ignore[assignment]
            self.server_state.total_requests += 1
            if not keep_alive:
                self.transport.close()
            else:
                self._unset_keepalive_if_required()
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
            return True

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)

        def _head_timeout(self) -> None:
            if self._in_head and not self.transport.is_closing():
                self._refuse(b"408 Request Timeout")

        def _refuse(self, status: bytes) -> None:
            self._in_head = False
            self._head_timer.cancel()
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                self.transport.close()

    return LimitedProtocol
