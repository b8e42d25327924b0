"""The hostile partner corpus, one case per process, with each process's peak memory.

    python bench/hostile.py

Runs every case of tests/data/hostile/manifest.toml as the test suite does (served over HTTP on
127.0.0.1 beside a good partner; fetch, publish, digest; outputs parsed), each in a fresh process, and
prints its outcome, the reason given, whether it is as the manifest requires, the peak resident memory of
the process (the smallest case shows what the process needs anyway) and the CPU time of the run (fetch,
publish and digest; the in-process test servers included). Goal: no case above 200 MB or 5 s of CPU.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))


def one(name: str) -> None:
    from tests.hostile import CASES, run_case, server_pair, verdict

    case = next(c for c in CASES if c["name"] == name)
    server, public = server_pair()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cpu = time.process_time()
            outcome = run_case(case, Path(tmp), server, public)
            cpu = time.process_time() - cpu
    finally:
        server.stop()
        public.stop()
    wrong = verdict(outcome)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "name": name,
        "ok": not wrong,
        "wrong": wrong,
        "stored": outcome.hostile.new,
        "reason": "; ".join(outcome.hostile.errors or outcome.hostile.warnings),
        "seconds": round(outcome.seconds, 2),
        "peak_mb": round(peak, 1),
        "cpu_s": round(cpu, 2),
    }
    print(json.dumps(row, ensure_ascii=False))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        one(sys.argv[2])
        return
    from tests.hostile import CASES

    rows = []
    for name in [c["name"] for c in CASES]:
        done = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True, cwd=ROOT)
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({"name": name, "ok": False, "wrong": [done.stderr[-300:]], "peak_mb": 0, "reason": ""})
    print(f"{'case':<24} {'as required':<12} {'stored':>6} {'peak MB':>8} {'CPU s':>6} {'s':>6}  reason")
    for r in rows:
        print(
            f"{r['name']:<24} {'yes' if r['ok'] else 'NO':<12} {r.get('stored', 0):>6} {r['peak_mb']:>8.1f}"
            f" {r.get('cpu_s', 0):>6.2f} {r.get('seconds', 0):>6.2f}  {r['reason'][:70]}"
        )
        for w in r.get("wrong", []):
            print(f"    wrong: {w}")
    bad = sum(1 for r in rows if not r["ok"])
    print(
        f"{len(rows)} cases, {len(rows) - bad} as required, highest peak {max(r['peak_mb'] for r in rows):.1f} MB, "
        f"most CPU {max(r.get('cpu_s', 0) for r in rows):.2f} s (the CPU time of fetch, publish and digest, "
        "the test servers' threads included)"
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
