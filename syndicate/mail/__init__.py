"""Daily digests as email: when they are due, how they look, how they are built and handed over.

Pure parts (schedule, tokens, render, message) take values and return values; ``transport`` is the one
edge that talks to a mail server or writes files. Deciding what goes into whose digest, and recording it,
is the job of ``syndicate.delivery``.
"""

from .message import DkimKey, MessageParts, build_message, build_notice, make_message_id, sender_address
from .render import DigestFile, DigestGroup, DigestItem, DigestView, check_templates, render_digest
from .schedule import due_slot, next_send, retry_at
from .tokens import TokenError, make_copy_token, make_signed, make_token, read_copy_token, read_signed, read_token
from .transport import Envelope, OutboxTransport, PermanentFailure, SmtpTransport, TemporaryFailure, Transport

__all__ = [
    "DigestFile",
    "DigestGroup",
    "DigestItem",
    "DigestView",
    "DkimKey",
    "Envelope",
    "MessageParts",
    "OutboxTransport",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "TokenError",
    "Transport",
    "build_message",
    "build_notice",
    "check_templates",
    "due_slot",
    "make_copy_token",
    "make_message_id",
    "make_signed",
    "make_token",
    "next_send",
    "read_copy_token",
    "read_signed",
    "read_token",
    "render_digest",
    "retry_at",
    "sender_address",
]
