from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from syndicate.dates import parse_date

from .helpers import SHANGHAI


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-19", datetime(2020, 10, 19, tzinfo=SHANGHAI)),
        ("2020/10/9", datetime(2020, 10, 9, tzinfo=SHANGHAI)),
        ("2020.10.19", datetime(2020, 10, 19, tzinfo=SHANGHAI)),
        ("2020年10月19日", datetime(2020, 10, 19, tzinfo=SHANGHAI)),
        ("2020年10月19日 08:30", datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)),
        ("2020年10月19日 8时30分", datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)),
        ("2020-10-19 08:30:15", datetime(2020, 10, 19, 8, 30, 15, tzinfo=SHANGHAI)),
        ("2020-10-19T08:30:15Z", datetime(2020, 10, 19, 8, 30, 15, tzinfo=UTC)),
        ("2020-10-19T08:30:15+0800", datetime(2020, 10, 19, 8, 30, 15, tzinfo=timezone(timedelta(hours=8)))),
        ("2020-10-19 08:30:15-05:00", datetime(2020, 10, 19, 8, 30, 15, tzinfo=timezone(timedelta(hours=-5)))),
    ],
)
def test_parse_date(text: str, expected: datetime) -> None:
    got = parse_date(text, SHANGHAI)
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["", "2020-13-01", "2020-02-30", "19/10/2020", "yesterday", "2020-10-19 25:00"])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text, SHANGHAI)
