"""Benchmark: answering feed polls.

    python bench/serve.py [--seconds 5] [--connections 16]

Publishes the example config into a temporary folder, starts `syndicate serve` on it in a second process
and, when nginx is installed, nginx on the same folder with the settings of docs/deploy.md; then loads one
feed from a third process with wrk (when installed, else an httpx loop) and prints requests/s for
conditional GETs answered 304 and for full GETs, and syndicate's rate as a share of nginx's (goal: 304s at
40 % of nginx or better).

On Debian: `apt-get install nginx-light wrk` (or nginx). Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import httpx

ROOT = Path(__file__).parent.parent
FEED = "/zones/xishan/rss.xml"

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        charset utf-8;
        charset_types application/rss+xml application/atom+xml application/feed+json;
        etag on;
        gzip on; gzip_comp_level 6; gzip_min_length 512; gzip_vary on;
        gzip_types application/rss+xml application/atom+xml application/feed+json;
        location ~ /rss\\.xml$ {{
            types {{ }} default_type application/rss+xml; add_header Cache-Control "public, max-age=300";
        }}
        location ~ /atom\\.xml$ {{
            types {{ }} default_type application/atom+xml; add_header Cache-Control "public, max-age=300";
        }}
        location / {{ index index.html; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.1)


def load(url: str, seconds: float, connections: int, etag: str | None) -> float:
    """Requests per second from a separate process."""
    if shutil.which("wrk"):
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", url]
        if etag:
            cmd[1:1] = ["-H", f"If-None-Match: {etag}"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert match, out
        return float(match.group(1))
    code = (
        "import httpx,time,sys\n"
        f"u={url!r}; h={{'If-None-Match': {etag!r}}} if {etag!r} else {{}}\n"
        f"n=0; end=time.monotonic()+{seconds}\n"
        "with httpx.Client() as c:\n"
        "    while time.monotonic()<end:\n"
        "        c.get(u, headers=h); n+=1\n"
        f"print(n/{seconds})\n"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def measure(base: str, seconds: float, connections: int, repeat: int) -> tuple[float, float]:
    etag = httpx.get(base + FEED, headers={"Accept-Encoding": "identity"}).headers["etag"]
    assert httpx.get(base + FEED, headers={"If-None-Match": etag, "Accept-Encoding": "identity"}).status_code == 304
    not_modified = statistics.median(load(base + FEED, seconds, connections, etag) for _ in range(repeat))
    full = statistics.median(load(base + FEED, seconds, connections, None) for _ in range(repeat))
    return not_modified, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        tmpdir.chmod(0o755)  # nginx's workers run as an unprivileged user and must read the files
        raw = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
        port = free_port()
        public = tmpdir / "public"
        config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        config = config.replace('url = "sqlite:///var/syndicate.db"', f'url = "sqlite:///{tmpdir}/db.sqlite"')
        config = config.replace('output_dir = "var/public"', f'output_dir = "{public}"')
        config = config.replace('path = "examples/articles"', f'path = "{ROOT}/examples/articles"')
        config = config.replace('url = "examples/feeds/', f'url = "{ROOT}/examples/feeds/')
        assert raw["publish"]["output_dir"] == "var/public"
        conf = tmpdir / "syndicate.toml"
        conf.write_text(config, encoding="utf-8")
        syndicate = [sys.executable, "-m", "syndicate", "--config", str(conf)]
        subprocess.run([*syndicate, "fetch"], check=True, capture_output=True)
        subprocess.run([*syndicate, "publish"], check=True, capture_output=True)
        server = subprocess.Popen([*syndicate, "serve", "--port", str(port)], stdout=subprocess.DEVNULL)
        results = {}
        nginx = None
        try:
            wait_up(f"http://127.0.0.1:{port}{FEED}")
            results["syndicate"] = measure(f"http://127.0.0.1:{port}", args.seconds, args.connections, args.repeat)
            if shutil.which("nginx"):
                nport = free_port()
                for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                    (tmpdir / d).mkdir()
                (tmpdir / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmpdir, port=nport, root=public))
                nginx = subprocess.Popen(["nginx", "-c", str(tmpdir / "nginx.conf"), "-g", "daemon off;"])
                wait_up(f"http://127.0.0.1:{nport}{FEED}")
                results["nginx"] = measure(f"http://127.0.0.1:{nport}", args.seconds, args.connections, args.repeat)
        finally:
            server.terminate()
            server.wait(timeout=10)
            if nginx is not None:
                nginx.terminate()
                nginx.wait(timeout=10)
    tool = "wrk" if shutil.which("wrk") else "an httpx loop"
    print(
        f"one feed ({FEED}), {args.connections} connections from {tool}, "
        f"{args.seconds:g}s each, median of {args.repeat}"
    )
    for name, (nm, full) in results.items():
        print(f"  {name:10} 304: {nm:9,.0f} req/s   200: {full:9,.0f} req/s")
    if "nginx" in results:
        s304, sfull = results["syndicate"]
        n304, nfull = results["nginx"]
        print(f"  syndicate / nginx: 304s {s304 / n304:.0%} (goal >= 40%), full GETs {sfull / nfull:.0%}")
    else:
        print("  nginx not installed: apt-get install nginx-light (or nginx) to compare")


if __name__ == "__main__":
    main()
