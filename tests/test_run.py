"""`syndicate run` as a process: serves while fetching and publishing in rounds; a failing round is
reported and the next one tries again."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .helpers import free_port, page


def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def start_run(config: Path, port: int, stdout: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "syndicate",
        "--config",
        str(config),
        "run",
        "--port",
        str(port),
    ]
    return subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)


def test_run_serves_publishes_and_stops(write_config: Callable[..., Path], tmp_path: Path) -> None:
    path = write_config('interval = "1s"')  # continues the local source's table
    (tmp_path / "articles" / "a.txt").write_text(page(), encoding="utf-8")
    port = free_port()
    proc = start_run(path, port, subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: (r := get(base + "/zones/xishan/rss.xml")) is not None and r.status_code == 200)
        # A file added while it runs is published by a later round.
        (tmp_path / "articles" / "b.txt").write_text(page(title="运行中新增", body=("新的正文。",)), encoding="utf-8")
        wait_for(lambda: "运行中新增" in (((r := get(base + "/all/rss.xml")) and r.text) or ""))
        assert get(base + "/healthz").json()["articles"] == 2  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def started(config: Path, port: int) -> tuple[int, str, str]:
    """Run the daemon with the default log level until it exits (or 30 s): exit status, stdout, stderr."""
    proc = start_run(config, port, subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_an_unreachable_database_at_start_is_an_error_before_anything_serves(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, out, err = started(path, free_port())
    assert code == 1
    assert "unreachable" in err and "127.0.0.1:1/none" in err
    assert "serving" not in out and "Traceback" not in err


def test_a_taken_port_is_an_error_before_anything_serves(write_config: Callable[..., Path]) -> None:
    import socket

    path = write_config()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = started(path, port)
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err
    assert "serving" not in out and "Traceback" not in err
    # The lease was given back: a daemon on a free port starts at once.
    proc = start_run(path, free_port(), subprocess.PIPE)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert " serving " in first and "SIGHUP reloads" in first
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_the_daemon_says_what_it_did_at_the_default_log_level(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_config()
    (tmp_path / "articles" / "a.txt").write_text(page(title="第一条"), encoding="utf-8")
    proc = start_run(path, free_port(), subprocess.PIPE)
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("published" in line for line in lines))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        reader.join(timeout=5)
    text = "".join(lines)
    assert " serving " in lines[0]
    fetched = next(line for line in lines if " fetched " in line)
    assert "fetched 1 source: 1 new, 0 updated, 0 not modified, 0 failed (" in fetched
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST fetched", fetched)  # the site's zone, named
    assert re.search(r"published \d+ files", text)
    assert err == ""  # nothing at warning level: nothing went wrong
