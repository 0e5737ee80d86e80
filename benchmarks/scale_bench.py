"""Scaling: `cloudward scan` on 1 and 2 worker processes, the parse-only ceiling, and Spark local[2], per
input family (Kubernetes audit JSON, combined HTTP, W3C HTTP, auditd, Tetragon), side by side in one run.

Every measurement runs in a child process (wall time and that child's peak RSS from wait4). Before a
figure is printed the run checks it: the scan read every line of the inputs, raised alerts, and the
2-worker scan and the Spark job reported exactly the alerts (ids and counts) of the 1-worker scan.

    python benchmarks/scale_bench.py                  # 200,000 events per family
    python benchmarks/scale_bench.py --events 50000 --no-spark
Data is generated once into benchmarks/out/scale/ by the generators of the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "scale"
sys.path.insert(0, str(HERE))

#: one child run: scan (workers N), decode only, or the Spark job; prints what it read and found
CHILD = r"""
import json, sys, time
mode, workers, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
from cloudward.config import Config
started = time.perf_counter()
if mode == "scan":
    from cloudward.runners.scan import ScanRunner
    runner = ScanRunner(Config(), workers=workers)
    alerts = runner.run(paths)
    stats = runner.engine.stats
elif mode == "parse":
    from cloudward.engine import Engine
    from cloudward.inputs import InputFile, expand_paths
    engine = Engine(Config())
    n = 0
    for p in expand_paths(paths):
        for _ in engine.decode_input(InputFile(p)):
            n += 1
    stats, alerts = engine.stats, []
    stats.events = n
else:
    from cloudward import spark as job
    from cloudward.runners.scan import finish
    t = time.perf_counter()
    session = job.session(f"local[{workers}]")
    session.sparkContext.parallelize([1], 1).count()
    startup = time.perf_counter() - t
    started = time.perf_counter()
    engine = job.run(session, paths, Config())
    alerts = finish(engine, None)
    stats = engine.stats
    session.stop()
print(json.dumps({"seconds": time.perf_counter() - started, "lines": stats.lines, "events": stats.events,
                  "startup": locals().get("startup", 0.0),
                  "alerts": sorted([a.id, a.count] for a in alerts)}))
"""


def generate(events: int) -> dict[str, list[Path]]:
    import host_bench
    import k8s_bench
    import web_bench

    OUT.mkdir(parents=True, exist_ok=True)
    families: dict[str, list[Path]] = {}
    audit = OUT / f"audit-{events}.log"
    if not audit.exists():
        k8s_bench.generate(audit, events)
    families["audit JSON"] = [audit]
    for fmt, name in (("combined", "combined HTTP"), ("w3c", "W3C HTTP")):
        folder = OUT / f"{fmt}-{events}"
        if not folder.exists():
            web_bench.generate(folder, events, fmt)
        families[name] = [folder]
    auditd = []
    for i in range(4):  # auditd records of one event span lines: files are the unit of work
        path = OUT / f"auditd-{events}-{i}.log"
        if not path.exists():
            host_bench.write_audit(path, events // 4 // 3, seed=7 + i)
        auditd.append(path)
    families["auditd"] = auditd
    tetragon = OUT / f"tetragon-{events}.jsonl"
    if not tetragon.exists():
        host_bench.write_tetragon(tetragon, events)
    families["Tetragon"] = [tetragon]
    return families


def _lines(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        for f in ([p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())):
            with open(f, "rb") as fh:
                n += sum(block.count(b"\n") for block in iter(lambda fh=fh: fh.read(1 << 22), b""))
    return n


def measure(mode: str, workers: int, paths: list[Path]) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(workers), *map(str, paths)],
                            stdout=subprocess.PIPE)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} {workers} failed on {paths}")
    result = json.loads(out.splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    # ru_maxrss of the child: the parent process; forked workers are its children and report their own
    return result, usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--family", action="append", help="only these families (repeatable)")
    args = ap.parse_args()
    families = generate(args.events)
    rows = ["| family | events | 1 worker | 2 workers | speed-up | parse only | peak RSS 1 / 2 (parent) "
            "| Spark local[2] (after start-up) |", "|---|---|---|---|---|---|---|---|"]
    startup = None
    for name, paths in families.items():
        if args.family and name not in args.family:
            continue
        lines = _lines(paths)
        one, rss1 = measure("scan", 1, paths)
        two, rss2 = measure("scan", 2, paths)
        parse, _ = measure("parse", 1, paths)
        if one["lines"] != lines or two["lines"] != lines:
            raise SystemExit(f"{name}: read {one['lines']}/{two['lines']} of {lines} lines")
        if not one["alerts"]:
            raise SystemExit(f"{name}: no alerts")
        if two["alerts"] != one["alerts"]:
            raise SystemExit(f"{name}: 2 workers reported other alerts than 1")
        n = one["events"]
        spark_cell = "-"
        if not args.no_spark:
            sp, _ = measure("spark", 2, paths)
            if sp["alerts"] != one["alerts"]:
                raise SystemExit(f"{name}: Spark reported other alerts than the local scan")
            startup = sp["startup"]
            spark_cell = f"{lines / sp['seconds']:,.0f} lines/s ({sp['seconds']:.1f} s)"
        # seconds measured inside the child: interpreter start-up and imports (~1.5 s here) left out
        t1, t2, tp = one["seconds"], two["seconds"], parse["seconds"]
        rows.append(f"| {name} | {lines:,} lines, {n:,} events after prefilters | "
                    f"{lines / t1:,.0f} lines/s ({t1:.1f} s) | {lines / t2:,.0f} lines/s ({t2:.1f} s) | "
                    f"{t1 / t2:.2f}x | {lines / tp:,.0f} lines/s | {rss1:.0f} / {rss2:.0f} MB | {spark_cell} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))
    if startup is not None:
        print(f"\nSpark local[2] fixed start-up (session and first job): {startup:.1f} s")
    print(f"\nMachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} when the run ended.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
