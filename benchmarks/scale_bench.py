"""Scaling: `cloudward scan` on 1 and 2 worker processes, the parse-only ceiling, and Spark local[2], per
input family (Kubernetes audit JSON, combined HTTP, W3C HTTP, auditd, Tetragon), side by side in one run.

Every measurement runs in a child process (wall time and that child's peak RSS from wait4). Before a
figure is printed the run checks it: the scan read every line of the inputs, raised alerts, and the
2-worker scan and the Spark job reported exactly the alerts (ids and counts) of the 1-worker scan.

    python benchmarks/scale_bench.py                  # 1,000,000 lines per family (2 GB of audit JSON)
    python benchmarks/scale_bench.py --events 200000 --no-spark   # a small run
The host families (auditd, Tetragon) are generated with `--host-events` (default 200,000): past one engine's
process-tree bound (200,000 host events) a one-process scan forgets what partitions keep, so host
partitions give way to the decode pool.
    python benchmarks/scale_bench.py --no-spark --baseline /work/main/.venv/bin/python --repeat 3
The auditd logs are four hosts' (one file each, `node=` on every line, as a forwarding collector writes
them) and the Tetragon export one file per node of four (each pod on one node): the inputs a fleet's host
telemetry arrives as, and what `--workers` partitions by host. "2 workers ran as" says which way the
scan went: host partitions or detection in workers (detections in the workers, books merged), decode
pool (workers decode, the parent detects) or one process.
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
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "scale"
sys.path.insert(0, str(HERE))
import bytecode_cache  # noqa: E402

#: one child run: scan (workers N), decode only, or the Spark job; prints what it read and found
CHILD = r"""
import json, sys, time
mode, workers, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
from cloudward.config import Config
started = time.perf_counter()
cpu_started = time.process_time()
worker_cpu = []
worker_rss = []
path_taken = "one process"
if mode == "scan":
    from cloudward.runners.scan import ScanRunner
    if workers > 1:
        path_taken = "decode pool"
    def watch(module, name, label):  # which way a scan went (main's tree may lack the module)
        real = getattr(module, name)
        def spy(*a, **k):
            global path_taken
            done = real(*a, **k)
            if done:
                path_taken = label
                worker_cpu.extend(module.LAST_RUN.get("worker_cpu", ()))
                worker_rss.extend(module.LAST_RUN.get("worker_rss_mb", ()))
            return done
        setattr(module, name, spy)
    try:
        from cloudward.runners import partition
        watch(partition, "feed_partitioned", "host partitions")
    except ImportError:
        pass
    try:
        from cloudward.runners import detect
        watch(detect, "feed_detected", "detection in workers")
    except ImportError:
        pass
    try:
        from cloudward.runners import shuffle
        watch(shuffle, "feed_shuffled", "detection in workers, shuffle by key")
    except ImportError:
        pass
    runner = ScanRunner(Config(), workers="auto" if workers == 0 else workers)
    if workers == 0 and runner.workers > 1:
        path_taken = "one process (auto)"
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
                  "startup": locals().get("startup", 0.0), "path": path_taken,
                  "own_cpu": time.process_time() - cpu_started, "worker_cpu": worker_cpu, "worker_rss": worker_rss,
                  "spills": getattr(locals().get("runner"), "engine", None).spills if mode == "scan" else 0,
                  "late": getattr(locals().get("runner"), "engine", None).late if mode == "scan" else 0,
                  "alerts": sorted([a.id, a.count] for a in alerts)}))
"""


def generate(events: int, host_events: int | None = None) -> dict[str, list[Path]]:
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
    events = host_events or events
    auditd = []
    for i in range(4):  # four hosts' audit logs, as a fleet's collector keeps them: one file per host
        path = OUT / f"auditd-{events}-node{i}.log"
        if not path.exists():
            plain = OUT / f"auditd-{events}-{i}.log"
            if not plain.exists():
                host_bench.write_audit(plain, events // 4 // 3, seed=7 + i)
            _on_node(plain, path, f"node-{i}")
        auditd.append(path)
    families["auditd"] = auditd
    tetragon = OUT / f"tetragon-timed-{events}.jsonl"
    if not tetragon.exists():
        host_bench.write_tetragon(tetragon, events)
    folder = OUT / f"tetragon-timed-{events}-4nodes"
    if not folder.exists():
        _per_node(tetragon, folder)
    families["Tetragon"] = [folder]
    return families


def _on_node(plain: Path, path: Path, node: str) -> None:
    """`plain`'s audit records as a forwarding collector writes them: `node=NAME ` before each line."""
    prefix = f"node={node} ".encode()
    tmp = path.with_suffix(".tmp")
    with open(plain, "rb") as src, open(tmp, "wb") as out:
        for line in src:
            out.write(prefix + line)
    tmp.rename(path)


def _per_node(tetragon: Path, folder: Path) -> None:
    """The Tetragon export as each node's agent writes it: one file per node of four, every pod on one
    node (the generator deals events round-robin over three nodes whatever their pod; a pod runs on one
    node: the pod's number picks it)."""
    import orjson

    tmp = folder.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    outs: dict[str, Any] = {}
    try:
        with open(tetragon, "rb") as src:
            for line in src:
                body = orjson.loads(line)
                event = next(v for k, v in body.items() if k.startswith("process_"))
                pod = event["process"]["pod"]["name"]
                node = f"node-{'abcd'[int(pod.rsplit('-', 1)[1]) % 4]}"
                body["node_name"] = node
                if node not in outs:
                    outs[node] = open(tmp / f"{node}.jsonl", "wb")
                outs[node].write(orjson.dumps(body) + b"\n")
    finally:
        for fh in outs.values():
            fh.close()
    tmp.rename(folder)


def _lines(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        for f in ([p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())):
            with open(f, "rb") as fh:
                n += sum(block.count(b"\n") for block in iter(lambda fh=fh: fh.read(1 << 22), b""))
    return n


def measure(mode: str, workers: int, paths: list[Path], python: str = sys.executable) -> tuple[dict, float]:
    """One child run (workers 0: the default, `auto`); its result, with wall and CPU seconds (the child's
    and its pool's: wait4 counts the children it waited for), and the parent's peak RSS in MB."""
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-c", CHILD, mode, str(workers), *map(str, paths)],
                            stdout=subprocess.PIPE)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} {workers} failed on {paths}")
    result = json.loads(out.splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    result["cpu"] = usage.ru_utime + usage.ru_stime
    # ru_maxrss of the child: the parent process; forked workers are its children and report their own
    return result, usage.ru_maxrss / 1024


def _cpu_path(run: dict) -> str:
    """A run's CPU seconds: its own, and with a pool the busiest worker's (the critical path on idle cores)."""
    if run.get("worker_cpu"):
        return (f"{run['own_cpu']:.2f} + max({', '.join(f'{c:.2f}' for c in run['worker_cpu'])}) = "
                f"{run['own_cpu'] + max(run['worker_cpu']):.2f} s")
    return f"{run['own_cpu']:.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000,
                    help="lines per family (default 1,000,000: a day of a busy cluster's or sites' logs)")
    ap.add_argument("--host-events", type=int, default=200_000,
                    help="events of the host families (default 200,000: below one engine's process-tree bound, "
                         "past which host partitions give way to the decode pool)")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--family", action="append", help="only these families (repeatable)")
    ap.add_argument("--baseline", metavar="PYTHON",
                    help="also run 1 and 2 workers with this interpreter (main's venv: /work/main/.venv/bin/python)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each scan; the fastest counts (default 1)")
    args = ap.parse_args()
    baseline_src = ""
    if args.baseline:  # the baseline interpreter's Cloudward sources, byte-compiled like this tree's
        baseline_src = subprocess.run([args.baseline, "-c", "import cloudward, os; "
                                       "print(os.path.dirname(os.path.dirname(cloudward.__file__)))"],
                                      capture_output=True, text=True, check=True).stdout.strip()
    bytecode_cache.prepare([baseline_src])
    families = generate(args.events, args.host_events)
    load_start = os.getloadavg()
    rows = ["| family | lines (events kept) | 1 worker | 2 workers | **speed-up** | default (auto) "
            "| parse only, 1 process | 2 workers ran as | CPU s: 1 worker / 2 workers' critical path "
            "| peak RSS MB: 1 worker / 2 workers' parent / largest worker | baseline 1 → 2 workers "
            "| Spark local[2] (after start-up) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    startup = None
    notes: list[str] = []

    def best(mode: str, workers: int, paths: list[Path], python: str = sys.executable) -> tuple[dict, float]:
        runs = [measure(mode, workers, paths, python) for _ in range(max(1, args.repeat))]
        for run, _ in runs:  # every round, to stderr (the table keeps the fastest)
            tree = "baseline" if python != sys.executable else "this tree"
            print(f"  {mode} {workers} ({tree}): {run['seconds']:.2f} s wall, CPU {_cpu_path(run)}; load "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        return min(runs, key=lambda r: r[0]["seconds"])

    for name, paths in families.items():
        if args.family and name not in args.family:
            continue
        lines = _lines(paths)
        one, rss1 = best("scan", 1, paths)
        two, rss2 = best("scan", 2, paths)
        auto, _ = best("scan", 0, paths)
        parse, _ = best("parse", 1, paths)
        for label, run in (("1 worker", one), ("2 workers", two), ("auto", auto)):
            if run["lines"] != lines:
                raise SystemExit(f"{name}: {label} read {run['lines']} of {lines} lines")
        if not one["alerts"]:
            raise SystemExit(f"{name}: no alerts")
        def same(a: dict, b: dict, one: dict = one) -> bool:
            # the shuffle by key replays one process's reorder buffer, spill included: ids and counts always
            if one.get("late") and "shuffle" not in a["path"]:  # see `notes`: alert ids only
                return sorted(x[0] for x in a["alerts"]) == sorted(x[0] for x in b["alerts"])
            return a["alerts"] == b["alerts"] and ("shuffle" not in a["path"] or a["late"] == b["late"])

        if one.get("late"):
            notes.append(f"{name}: the 1-worker scan held more than max_held_events and ran {one['late']:,} "
                         "events late (out of time order), so its counts depend on the order files were read; "
                         "2 workers and auto are compared with it on alert ids only (on ids, counts and the late "
                         "count where they took the shuffle by key, which replays that order)")
        if not same(two, one) or not same(auto, one):
            raise SystemExit(f"{name}: 2 workers or auto reported other alerts than 1")
        base_cell = "-"
        if args.baseline:
            b1, _ = best("scan", 1, paths, args.baseline)
            b2, _ = best("scan", 2, paths, args.baseline)
            def same_base(b: dict, one: dict = one) -> bool:
                if b.get("late") and not one.get("late"):
                    # an older tree read overlapping files one after another: its late events moved windowed
                    # counts, so it is compared on alert ids (this tree merges them in time and ran none late)
                    return sorted(x[0] for x in b["alerts"]) == sorted(x[0] for x in one["alerts"])
                return same(b, one)

            if b1.get("late") and not one.get("late"):
                notes.append(f"{name}: the baseline's 1-worker scan ran {b1['late']:,} events late (this tree: "
                             "none, its files merged in time), so the baseline is compared on alert ids only")
            if not same_base(b1) or not same_base(b2):
                raise SystemExit(f"{name}: the baseline reported other alerts")
            base_cell = f"{b1['seconds']:.1f} s → {b2['seconds']:.1f} s ({b1['seconds'] / b2['seconds']:.2f}x)"
            if b2["worker_cpu"]:
                base_cell += (f"; CPU {b1['own_cpu']:.2f} / {b2['own_cpu'] + max(b2['worker_cpu']):.2f} = "
                              f"{b1['own_cpu'] / (b2['own_cpu'] + max(b2['worker_cpu'])):.2f}x")
        n = one["events"]
        spark_cell = "-"
        if not args.no_spark:
            sp, _ = measure("spark", 2, paths)
            if sp["alerts"] != one["alerts"]:
                raise SystemExit(f"{name}: Spark reported other alerts than the local scan")
            startup = sp["startup"]
            spark_cell = f"{lines / sp['seconds']:,.0f} lines/s ({sp['seconds']:.1f} s)"
        # seconds measured inside the child: interpreter start-up and imports (~1.5 s here) left out
        t1, t2, ta, tp = one["seconds"], two["seconds"], auto["seconds"], parse["seconds"]
        # on a busy machine wall time says little: the CPU on the critical path (the parent's own, and the
        # busiest worker's) is what the wall time is on two idle cores
        if two["worker_cpu"]:
            crit = two["own_cpu"] + max(two["worker_cpu"])
            workers_cpu = ", ".join(f"{c:.2f}" for c in two["worker_cpu"])
            cpu_cell = (f"{one['own_cpu']:.2f} / {two['own_cpu']:.2f} + max({workers_cpu}) "
                        f"= {one['own_cpu'] / crit:.2f}x")
        else:
            cpu_cell = f"{one['cpu']:.1f} / {two['cpu']:.1f} (all processes)"
        worker_rss = f"{max(two['worker_rss']):.0f}" if two.get("worker_rss") else "-"
        rows.append(f"| {name} | {lines:,} ({n:,}) | "
                    f"{lines / t1:,.0f} lines/s ({t1:.2f} s) | {lines / t2:,.0f} lines/s ({t2:.2f} s) | "
                    f"**{t1 / t2:.2f}x** | {lines / ta:,.0f} lines/s ({t1 / ta:.2f}x, {auto['path']}) | "
                    f"{lines / tp:,.0f} lines/s ({tp:.2f} s) | {two['path']} | {cpu_cell} | "
                    f"{rss1:.0f} / {rss2:.0f} / {worker_rss} | {base_cell} | {spark_cell} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))
    for note in notes:
        print(f"\nNote: {note}.")
    if startup is not None:
        print(f"\nSpark local[2] fixed start-up (session and first job): {startup:.1f} s")
    print(f"\nMachine: {os.cpu_count()} cores; load average (1, 5, 15 min) at the start "
          f"{', '.join(f'{x:.1f}' for x in load_start)}, at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}. Seconds are measured inside each child "
          "(interpreter start-up and imports left out); CPU s include the pool's workers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
