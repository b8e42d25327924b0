"""Hostile partner feeds (tests/data/hostile/) over real HTTP: each run finishes, the bad source is reported
with its reason, the good partner beside it is unaffected, and no unsafe markup reaches a published feed or
a digest (outputs parsed, see tests/safety.py). Peak memory per case: `python bench/hostile.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from .hostile import CASES, run_case, server_pair, verdict
from .safety import html_problems


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    server, public = server_pair()
    yield server, public
    server.stop()
    public.stop()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hostile_case(case: dict[str, object], servers: tuple[HTTPServer, HTTPServer], tmp_path: Path) -> None:
    server, public = servers
    server.clear()
    public.clear()
    outcome = run_case(case, tmp_path, server, public)
    assert verdict(outcome) == []


def test_the_safety_checker_finds_what_it_must() -> None:
    """The checker itself: each vector, left in, is found."""
    for fragment in (
        "<script>x</script>",
        '<img src="javascript:alert(1)">',
        '<a href=" JaVaScRiPt:alert(1)">x</a>',
        '<img src="data:image/svg+xml;base64,AAAA">',
        "<svg onload=alert(1)></svg>",
        '<div style="width: expression(alert(1))">x</div>',
        '<base href="http://x.example/">',
        '<meta http-equiv="refresh" content="0">',
        '<form action="http://x.example/"></form>',
        '<a href="http://ok.example/" onclick="x()">x</a>',
    ):
        assert html_problems(fragment, "t"), fragment
    assert html_problems('<p>ok <a href="https://ok.example/">x</a><img src="http://ok.example/a.png"></p>', "t") == []
