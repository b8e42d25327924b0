"""`syndicate run` as a process: serves while fetching and publishing in rounds; a failing round is
reported and the next one tries again."""

from __future__ import annotations

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


def test_an_unreachable_database_does_not_stop_the_daemon(write_config: Callable[..., Path]) -> None:
    path = write_config(db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    port = free_port()
    proc = start_run(path, port, subprocess.DEVNULL)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: sum("unreachable" in line for line in lines) >= 2)  # two attempts failed...
        assert proc.poll() is None  # ...and it is still running
        r = get(base + "/healthz")
        assert r is not None
        assert r.status_code == 503
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        reader.join(timeout=5)
        assert proc.stderr is not None
        proc.stderr.close()
    assert not any("Traceback" in line for line in lines)
