"""Signed tokens of the links in digests and of the self-service forms: HMAC-SHA256 over the address and
the time the token was issued.

A token is ``v1.<address, base64url>.<issued, unix seconds>.<signature, base64url>``. It proves that
syndicate issued it for that address; it is refused when the signature does not match (forged or altered),
when it is older than the allowed age (expired) or dated in the future.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

__all__ = [
    "TokenError",
    "make_copy_token",
    "make_signed",
    "make_token",
    "read_copy_token",
    "read_signed",
    "read_token",
]


class TokenError(ValueError):
    """A token that is malformed, forged, expired or from the future. The message says which."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def make_token(secret: bytes, email: str, issued: datetime) -> str:
    """An unsubscribe link's token."""
    return _make("v1", secret, email, issued)


def read_token(secret: bytes, token: str, now: datetime, max_age: timedelta) -> tuple[str, datetime]:
    """The address a valid unsubscribe token was issued for, and when. Raises ``TokenError``."""
    return _read("v1", secret, token, now, max_age)


# The other signed links and form fields have the same shape, each with its own prefix and a key of its
# own derived from the secret: none can ever stand in for another (a preferences link does not
# unsubscribe, a sign-up confirmation does not open preferences, a form token is no link).
PURPOSES = {"preferences": "p1", "signup": "s1", "form": "k1"}


def _purpose_key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"syndicate {purpose}".encode("ascii"), hashlib.sha256).digest()


def make_signed(secret: bytes, purpose: str, subject: str, issued: datetime) -> str:
    """A token for ``purpose`` (preferences, signup, form) naming ``subject`` (an address)."""
    return _make(PURPOSES[purpose], _purpose_key(secret, purpose), subject, issued)


def read_signed(secret: bytes, purpose: str, token: str, now: datetime, max_age: timedelta) -> tuple[str, datetime]:
    """The subject a valid ``purpose`` token names, and when it was issued. Raises ``TokenError``."""
    return _read(PURPOSES[purpose], _purpose_key(secret, purpose), token, now, max_age)


def _make(prefix: str, key: bytes, subject: str, issued: datetime) -> str:
    payload = f"{prefix}.{_b64(subject.lower().encode('utf-8'))}.{int(issued.timestamp())}"
    return f"{payload}.{_sign(key, payload)}"


def _read(prefix: str, key: bytes, token: str, now: datetime, max_age: timedelta) -> tuple[str, datetime]:
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != prefix or not parts[2].isdigit():
        raise TokenError("malformed token")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(key, payload), parts[3]):
        raise TokenError("invalid signature")
    try:
        subject = _unb64(parts[1]).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenError("malformed token") from e
    issued = datetime.fromtimestamp(int(parts[2]), UTC)
    if issued > now + timedelta(minutes=5):
        raise TokenError("token issued in the future")
    if now - issued > max_age:
        raise TokenError("token expired")
    return subject, issued


# A web copy's link is forwarded more freely than the digest: it is signed with a key of its own, so that it
# can never serve as an unsubscribe link (nor one of those as it).
def _copy_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"syndicate web copy", hashlib.sha256).digest()


def make_copy_token(secret: bytes, email: str, message_id: str) -> str:
    """``c1.<address>.<Message-ID>.<signature>``: the link to one digest's web copy."""
    payload = f"c1.{_b64(email.lower().encode('utf-8'))}.{_b64(message_id.encode('utf-8'))}"
    return f"{payload}.{_sign(_copy_key(secret), payload)}"


def read_copy_token(secret: bytes, token: str) -> tuple[str, str]:
    """The address and Message-ID a web copy token was made for. Raises ``TokenError``."""
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != "c1":
        raise TokenError("malformed token")
    if not hmac.compare_digest(_sign(_copy_key(secret), ".".join(parts[:3])), parts[3]):
        raise TokenError("invalid signature")
    try:
        return _unb64(parts[1]).decode("utf-8"), _unb64(parts[2]).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenError("malformed token") from e
