"""Benchmark: how long a command takes to start, against the interpreter itself.

    python bench/cli.py [--repeat 9] [--old PATH]

Copies the example config and articles into a temporary folder, fetches and publishes them once, then times
in fresh processes: `python -c pass` (the baseline), `syndicate --help`, `syndicate status` and an idle
`syndicate publish` (nothing changed since the last one). Prints the median wall time of each and its ratio
to the baseline (goals: --help under 0.3 s, an idle publish under 0.5 s on the 2-core reference machine).
``--old PATH``: a checkout of an earlier version, timed the same way in the same run (its package first on
PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def timed(command: list[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--old", type=Path, default=None, help="a checkout of an earlier version")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"this": ROOT}
        if args.old is not None:
            versions["old"] = args.old.resolve()
        base = timed([sys.executable, "-c", "pass"], dict(os.environ), Path(tmp), args.repeat)
        print(f"{'':<6} {'command':<22} {'median':>8} {'× python -c pass':>17}")
        print(f"{'':<6} {'python -c pass':<22} {base:>7.3f}s {1.0:>16.1f}×")
        for name, checkout in versions.items():
            work = Path(tmp) / name  # each version on its own example config and articles
            shutil.copytree(checkout / "examples", work / "examples")
            shutil.copy(checkout / "config.example.toml", work / "config.toml")
            env = {**os.environ, "PYTHONPATH": str(checkout), "SYNDICATE_CONFIG": str(work / "config.toml")}
            syndicate = [sys.executable, "-m", "syndicate"]
            for step in ("fetch", "publish"):
                subprocess.run([*syndicate, step], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
            for label, extra in (("--help", ["--help"]), ("status", ["status"]), ("publish (idle)", ["publish"])):
                t = timed([*syndicate, *extra], env, work, args.repeat)
                print(f"{name:<6} {label:<22} {t:>7.3f}s {t / base:>16.1f}×")


if __name__ == "__main__":
    main()
