"""Handing messages over: to an SMTP server, or as ``.eml`` files into an outbox folder.

A ``Transport`` sends one message at a time and raises ``TemporaryFailure`` (try again later: 4xx,
connection refused, timeout; ``stop`` when the server as a whole is unusable, so the rest of the batch waits
too) or ``PermanentFailure`` (5xx for this address: do not try again). The SMTP transport opens one
connection for a batch, reuses it, reconnects once when the server dropped it, and keeps to a rate.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..exceptions import PublishError
from ..files import atomic_write

__all__ = [
    "Envelope",
    "OutboxTransport",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
]


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str  # bare address
    recipient: str  # bare address
    data: bytes
    name: str  # a file-name stem for this message (outbox files, logs)


class TemporaryFailure(Exception):
    def __init__(self, message: str, stop: bool = False) -> None:
        super().__init__(message)
        self.stop = stop  # the server as a whole failed: leave the rest of the batch for later


class PermanentFailure(Exception):
    pass


class Transport(Protocol):
    def send(self, envelope: Envelope) -> str:
        """Hand one message over; returns where it went (for reports). Raises the failures above."""
        ...

    def close(self) -> None: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class OutboxTransport:
    """Writes each message to ``{folder}/{name}.eml`` atomically; the same message writes the same file,
    so sending again after a crash leaves one file."""

    def __init__(self, folder: Path, prefix: str = "") -> None:
        self.folder = folder
        self.prefix = prefix

    def send(self, envelope: Envelope) -> str:
        path = self.folder / f"{self.prefix}{_UNSAFE.sub('_', envelope.name)}.eml"
        try:
            atomic_write(path, envelope.data)
        except PublishError as e:
            raise TemporaryFailure(str(e), stop=True) from e
        return str(path)

    def close(self) -> None:
        pass


Security = Literal["none", "starttls", "tls"]


class SmtpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        rate_per_minute: int = 120,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.gap = 60.0 / rate_per_minute
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._sleep, self._monotonic = sleep, monotonic
        self._conn: smtplib.SMTP | None = None
        self._last: float | None = None
        self.connections = 0  # opened so far (the benchmark and tests read it)

    def _connect(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    conn.starttls(context=self.ssl_context)
            if self.username:
                conn.login(self.username, self.password or "")
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        self.connections += 1
        self._conn = conn
        return conn

    def _open(self) -> smtplib.SMTP:
        try:
            return self._connect()
        except smtplib.SMTPAuthenticationError as e:
            raise TemporaryFailure(f"SMTP {self.host}:{self.port}: login refused: {_reply(e)}", stop=True) from e
        except (smtplib.SMTPException, OSError) as e:
            raise TemporaryFailure(f"SMTP {self.host}:{self.port}: cannot connect: {_reason(e)}", stop=True) from e

    def _pace(self) -> None:
        if self._last is not None:
            wait = self._last + self.gap - self._monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last = self._monotonic()

    def send(self, envelope: Envelope) -> str:
        self._pace()
        for attempt in (1, 2):
            conn = self._open()
            try:
                conn.sendmail(envelope.sender, [envelope.recipient], envelope.data)
                return f"smtp://{self.host}:{self.port}"
            except smtplib.SMTPServerDisconnected as e:
                self._drop()
                if attempt == 2:
                    raise TemporaryFailure(f"SMTP {self.host}: disconnected: {e}", stop=True) from e
            except smtplib.SMTPRecipientsRefused as e:
                code, reply = e.recipients.get(envelope.recipient, (451, b"refused"))
                _raise_for(code, f"{envelope.recipient} refused: {code} {_text(reply)}", e)
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
                stop = isinstance(e, smtplib.SMTPSenderRefused)
                if 500 <= e.smtp_code < 600 and not stop:
                    raise PermanentFailure(f"message refused: {_reply(e)}") from e
                self._reset()
                raise TemporaryFailure(f"message refused: {_reply(e)}", stop=stop) from e
            except (smtplib.SMTPException, OSError) as e:
                self._drop()
                raise TemporaryFailure(f"SMTP {self.host}: {_reason(e)}", stop=True) from e
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rset()
            except (smtplib.SMTPException, OSError):
                self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()


def _raise_for(code: int, message: str, cause: Exception) -> None:
    if 500 <= code < 600:
        raise PermanentFailure(message) from cause
    raise TemporaryFailure(message) from cause


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _reply(e: smtplib.SMTPResponseException) -> str:
    return f"{e.smtp_code} {_text(e.smtp_error)}"


def _reason(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        return _reply(e)
    return str(e) or type(e).__name__
