"""Building a digest email: RFC 5322 bytes ready for SMTP. Pure apart from reading a DKIM key once.

multipart/alternative with the plain-text part first and HTML second, both UTF-8 in base64 (never 8bit,
so any relay carries them); headers RFC 2047-encoded under ``email.policy.SMTP`` (no SMTPUTF8 needed); a
Date with the sender's numeric offset; a Message-ID made once and kept with the recorded digest, so a
digest sent again after a crash is the same message; List-Unsubscribe (URL and mailto) with RFC 8058
one-click; optionally a DKIM signature covering both List-Unsubscribe headers.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from urllib.parse import quote

__all__ = ["DkimKey", "MessageParts", "build_message", "build_notice", "make_message_id", "sender_address"]


@dataclass(frozen=True, slots=True)
class DkimKey:
    selector: str
    domain: str
    private_key: bytes

    @classmethod
    def load(cls, selector: str, domain: str, key_file: Path) -> DkimKey:
        return cls(selector, domain, key_file.read_bytes())


@dataclass(frozen=True, slots=True)
class MessageParts:
    sender: str  # "Name <address>" as configured
    to_name: str
    to_email: str
    subject: str
    text: str
    html: str
    date: datetime  # aware, in the sender's zone
    message_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str  # an address


def sender_address(sender: str) -> tuple[str, str]:
    """(display name, address) of a configured sender."""
    return parseaddr(sender)


def make_message_id(sender: str) -> str:
    """A new, globally unique Message-ID in the sender's domain."""
    domain = sender_address(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def _header(value: str) -> str:
    """An unstructured header: as it is when ASCII, else RFC 2047 encoded words (UTF-8, base64)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


_SIGNED = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


def _unsubscribe_headers(parts: MessageParts) -> bytes:
    """The List-Unsubscribe headers, as written. The email package would turn a URL longer than a
    line into RFC 2047 encoded words, which no mail client reads as a URL; a header line may be up to 998
    characters, so each URL gets a line of its own."""
    mailto = f"mailto:{parts.unsubscribe_mailto}?subject={quote('unsubscribe ' + parts.to_email)}"
    for url in (parts.unsubscribe_url, mailto):
        if not url.isascii() or any(c in url for c in "<>\r\n ") or len(url) > 900:
            raise ValueError(f"unusable unsubscribe URL {url!r}")
    return (
        f"List-Unsubscribe: <{parts.unsubscribe_url}>,\r\n <{mailto}>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    ).encode("ascii")


def _body(text: str, subtype: str) -> bytes:
    """One part of the alternative: UTF-8 in base64, lines of 76 characters, its text in canonical form
    (CRLF line breaks, RFC 2045)."""
    canonical = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    encoded = base64.encodebytes(canonical).replace(b"\n", b"\r\n") or b"\r\n"  # ends in the CRLF before a boundary
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode() + encoded
    )


def build_message(parts: MessageParts, dkim_key: DkimKey | None = None) -> bytes:
    # The headers come from the email package (RFC 2047 words, folding); the body of this one fixed shape is
    # put together here: the package's generator writes a base64 body line by line and took two thirds of
    # the build (a digest run builds ten thousand of these). The boundary has hyphens and "_", neither of
    # which base64 uses, so it cannot occur in a part.
    name, address = sender_address(parts.sender)
    boundary = f"----=_syndicate_{uuid.uuid4().hex}"
    headers = (
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ("MIME-Version", "1.0"),
        ("From", formataddr((name, address), charset="utf-8")),
        ("To", formataddr((parts.to_name, parts.to_email), charset="utf-8")),
        ("Subject", _header(parts.subject)),
        ("Date", format_datetime(parts.date)),
        ("Message-ID", parts.message_id),
        ("Auto-Submitted", "auto-generated"),
    )
    # As the package's generator writes them (folded under the SMTP policy), the list headers as written,
    # the blank line, then the two parts.
    head = b"".join(SMTP.fold_binary(n, v) for n, v in headers) + _unsubscribe_headers(parts) + b"\r\n"
    delimiter = f"--{boundary}\r\n".encode("ascii")
    body = b"".join((delimiter, _body(parts.text, "plain"), delimiter, _body(parts.html, "html")))
    data = head + body + f"--{boundary}--\r\n".encode("ascii")
    if dkim_key is not None:
        import dkim  # dkimpy, only when signing is configured

        signature = dkim.sign(
            data,
            dkim_key.selector.encode("ascii"),
            dkim_key.domain.encode("ascii"),
            dkim_key.private_key,
            include_headers=list(_SIGNED),
        )
        data = signature + data
    return data


def build_notice(
    sender: str, to_email: str, subject: str, text: str, date: datetime, dkim_key: DkimKey | None = None
) -> bytes:
    """A short plain-text mail of the self-service pages (a sign-up confirmation): no list headers, as it
    is sent once, to the address that asked for it."""
    msg = EmailMessage(policy=SMTP)
    name, address = sender_address(sender)
    msg["From"] = _address(name, address)
    msg["To"] = _address("", to_email)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_message_id(sender)
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    data = msg.as_bytes(policy=SMTP)
    if dkim_key is not None:
        import dkim

        names = [h for h in _SIGNED if not h.startswith(b"list-")]
        signature = dkim.sign(
            data,
            dkim_key.selector.encode("ascii"),
            dkim_key.domain.encode("ascii"),
            dkim_key.private_key,
            include_headers=names,
        )
        data = signature + data
    return data
