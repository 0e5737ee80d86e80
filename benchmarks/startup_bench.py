"""Start-up of `cloudward scan` on an empty file: the fixed cost every scan pays (issue 10: ≤ 0.2 s).

Each run is a fresh interpreter, as a user's shell starts it, with byte-compiled modules. Runs alternate
between the measured commands, so load from other processes falls on all of them alike:

* `cloudward scan empty.log` (the default: table on stdout, summary on stderr);
* `cloudward scan empty.log --output jsonl --quiet --no-progress` (what scripts run);
* `python -c pass` (the interpreter alone, with this virtual environment's site packages).

With `--baseline OTHER/src` the two scans also run on another checkout's sources (e.g. main's).
Before it reports, every scan must exit 0 and say it read the input: a scan that failed is not fast.
CPU is user + system time of the child (`RUSAGE_CHILDREN`); the minimum of N runs is the figure least
disturbed by load, the median is shown next to it.

    python benchmarks/startup_bench.py [--runs 20] [--baseline /work/main/src]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the console script, as a user runs it (`python -m cloudward` would add runpy's imports)
SCAN = [str(Path(sys.executable).parent / "cloudward"), "scan"]


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall, done


def check_scan(done: subprocess.CompletedProcess[str], quiet: bool) -> None:
    if done.returncode != 0:
        raise SystemExit(f"scan failed ({done.returncode}): {done.stderr[-2000:]}")
    if quiet:
        if done.stdout or done.stderr:
            raise SystemExit(f"a quiet jsonl scan of an empty file printed something: {done.stdout!r} {done.stderr!r}")
    elif done.stdout != "No alerts.\n" or "Read 1 input(s), 0 lines" not in done.stderr:
        raise SystemExit(f"unexpected output: {done.stdout!r} {done.stderr!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--baseline", default="", help="another checkout's src/ folder, measured alternately")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    trees = {"this": str(Path(__file__).resolve().parents[1] / "src")}
    if args.baseline:
        trees["baseline"] = str(Path(args.baseline).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.log")
        Path(empty).write_bytes(b"")
        commands: dict[str, tuple[list[str], dict[str, str], bool | None]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env, None)}
        for tree, src in trees.items():
            tree_env = {**env, "PYTHONPATH": src}
            commands[f"scan, default output ({tree})"] = ([*SCAN, empty], tree_env, False)
            commands[f"scan --output jsonl --quiet ({tree})"] = (
                [*SCAN, empty, "--output", "jsonl", "--quiet", "--no-progress"], tree_env, True)
        for cmd, cmd_env, _ in commands.values():  # byte-compile everything once
            subprocess.run(cmd, capture_output=True, env=cmd_env)
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        wall: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, cmd_env, quiet) in commands.items():
                c, w, done = measure(cmd, cmd_env)
                if quiet is not None:
                    check_scan(done, quiet)
                cpu[name].append(c)
                wall[name].append(w)
    load = os.getloadavg()[0]
    print(f"| command | CPU min | CPU median | wall min | wall median |  ({args.runs} runs each, alternating; "
          f"load average {load:.1f} at the end)")
    print("|---|---|---|---|---|")
    for name in commands:
        print(f"| {name} | {min(cpu[name]):.3f} s | {statistics.median(cpu[name]):.3f} s | "
              f"{min(wall[name]):.3f} s | {statistics.median(wall[name]):.3f} s |")


if __name__ == "__main__":
    main()
