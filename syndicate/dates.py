"""Pure date parsing for the forms Chinese news sites write.

``2020-10-19``, ``2020/10/19 08:30``, ``2020.10.19``, ``2020年10月19日 08:30:15``, ISO 8601 with or
without an offset (``Z``, ``UTC``, ``GMT``, ``UT`` and ``-00:00`` are UTC). A date without a zone is read in
the zone the caller gives (the source's or the site's); a date without a time is midnight there.
Imports nothing of syndicate's.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, tzinfo

__all__ = ["as_datetime", "parse_date"]

_PATTERN = re.compile(
    r"""^\s*
    (?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?
    (?:\s*[T\s]\s*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})\s*分?
        (?:\s*[:：]\s*(?P<S>\d{1,2})(?:\.(?P<f>\d{1,6}))?\s*秒?)?)?
    \s*(?P<tz>Z|UTC|GMT|UT|[+-]\d{2}:?\d{2})?\s*$""",
    re.VERBOSE,
)


def parse_date(text: str, default_tz: tzinfo) -> datetime:
    """Parse one of the supported forms into an aware datetime. Raises ``ValueError`` otherwise."""
    m = _PATTERN.match(text)
    if not m:
        raise ValueError(f"not a date: {text!r}")
    day = date(int(m["y"]), int(m["m"]), int(m["d"]))  # raises on February 30th
    clock = time(
        int(m["H"] or 0),
        int(m["M"] or 0),
        int(m["S"] or 0),
        int((m["f"] or "0").ljust(6, "0")),
    )
    naive = datetime.combine(day, clock)
    if m["tz"]:
        utc = m["tz"] in ("Z", "UTC", "GMT", "UT")
        return datetime.fromisoformat(naive.isoformat() + ("+00:00" if utc else m["tz"]))
    return naive.replace(tzinfo=default_tz)


def as_datetime(value: object, default_tz: tzinfo) -> datetime:
    """A datetime, date or string (any form ``parse_date`` reads) as an aware datetime.
    Naive values are read in ``default_tz``; a date is midnight there. Raises ``ValueError``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=default_tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=default_tz)
    if isinstance(value, str):
        return parse_date(value, default_tz)
    raise ValueError(f"expected a date, got {value!r}")
