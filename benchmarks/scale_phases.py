"""Where a `scan --workers N` run spends its time: engine start, feeding, finishing (what is still held
runs), and inside the feed: for host partitions the parent's look at each file's head, each worker's CPU
(for detection in workers: when each task ran and its CPU; for the shuffle by key: when each pass ended and the
CPU of each)
and the merge of the alert books; for the decode pool the parent's unpacking and merging of checkpoints.

    python benchmarks/scale_phases.py 2 benchmarks/out/scale/tetragon-100000-4nodes   # host partitions
    python benchmarks/scale_phases.py 2 benchmarks/out/scale/audit-1000000.log        # detection in workers
    python benchmarks/scale_phases.py 2 benchmarks/out/scale/combined-1000000         # shuffle by key
    python benchmarks/scale_phases.py 1 benchmarks/out/scale/combined-100000          # the one-process form
    python benchmarks/scale_phases.py seq benchmarks/out/scale/combined-1000000       # the shuffle's passes in sequence
    python benchmarks/scale_phases.py seq-ranges benchmarks/out/scale/audit-1000000.log  # ranges' tasks in sequence
    python benchmarks/scale_phases.py seq-hosts benchmarks/out/scale/auditd-200000-node*.log  # host groups in sequence
Run them side by side: other load on the machine moves both. CPU seconds are printed next to wall time.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

from cloudward.alerts import AlertBook
from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.runners import detect, partition, shuffle, workers
from cloudward.runners.scan import ScanRunner, feed_paths, finish

SPENT: dict[str, float] = {}


def timed(name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            SPENT[name] = SPENT.get(name, 0.0) + time.perf_counter() - start
    return wrapper


def timeline(run: dict[str, Any]) -> str:
    """Per worker of the shuffle: when its first pass-1 task began, its pass-1 and pass-2 tasks' ends, and
    the time it sat idle between (seconds since the scan began)."""
    began = run["began"]
    n_first = len(run["spans"]) - len(run["buckets"])
    out = []
    for pid in dict.fromkeys(p for p, _, _ in run["spans"]):
        mine = [(i < n_first, a - began, b - began) for i, (p, a, b) in enumerate(run["spans"]) if p == pid]
        ones = sorted((a, b) for first, a, b in mine if first)
        twos = sorted((a, b) for first, a, b in mine if not first)
        spans = sorted(ones + twos)
        idle = sum(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(spans))
        out.append(f"{pid}: pass 1 {ones[0][0]:.2f}-{ones[-1][1]:.2f}" if ones else f"{pid}:")
        if twos:
            out[-1] += f", pass 2 {min(a for a, _ in twos):.2f}-{max(b for _, b in twos):.2f}"
        out[-1] += f", idle between {idle:.2f}"
    return "; timeline " + "; ".join(out)


def sequential(paths: list[str], repeat: int = 3) -> int:
    """The shuffle by key's two passes run one task after another in this process, alternating with a
    one-process scan of the same inputs: CPU seconds of each, free of the pool's contention (the figure a
    loaded machine still measures; the critical path on two idle cores is the parent's part plus half of
    each pass, when the tasks divide evenly)."""
    import array
    import gc
    import tempfile

    from cloudward.inputs import expand_paths
    from cloudward.runners.workers import Task

    files = list(expand_paths(paths))
    buckets = 2 * shuffle.BUCKETS_PER_WORKER
    spool = tempfile.mkdtemp(prefix="cloudward-phases-")
    for _ in range(repeat):
        c = time.process_time()
        ScanRunner(Config(), workers=1).run(paths)
        one = time.process_time() - c
        shuffle._WORKER.clear()
        shuffle._init(Config(), None, [])
        c = time.process_time()
        firsts = [shuffle.first_pass(Task(f), buckets, spool, i) for i, f in enumerate(files)]
        first = time.process_time() - c
        # (the parent replays the order with its collector paused, `detect.paused_collector`: here too, or
        # the replay's allocations would set off collections over everything this process holds)
        gc.disable()
        c = time.process_time()
        listed = []
        for r in firsts:
            times = array.array("d")
            times.frombytes(r["times"])
            listed.append((r["first"][1], times.tolist()))
        settings = Engine(Config()).settings
        ranks, late, _ = shuffle.one_process_order(listed, settings.allowed_lateness, settings.release_every,
                                                     settings.max_held_events)
        places = array.array("q")
        starts = []
        for mine in ranks:
            starts.append(len(places))
            places.extend(mine)
        with open(f"{spool}/ranks", "wb") as fh:
            places.tofile(fh)
        order = time.process_time() - c
        gc.enable()
        c = time.process_time()
        by_path = {path: r for r, path in enumerate(sorted({path for path, _ in listed}))}
        for b in range(buckets):
            if late:  # (the parent's way: buckets read their places in the replayed order)
                shuffle.second_pass(spool, [(i, *r["spans"][b], starts[i], len(ranks[i]))
                                            for i, r in enumerate(firsts)], {})
            else:  # (each bucket sorts its events by time and path)
                shuffle.second_pass(spool, [(i, *r["spans"][b], 0, 0) for i, r in enumerate(firsts)], {},
                                    [by_path[path] for path, _ in listed])
        second = time.process_time() - c
        print(f"one process {one:.2f} s CPU; shuffle: first pass {first:.2f} + order {order:.2f} + second pass "
              f"{second:.2f} = {first + order + second:.2f} s CPU ({(first + order + second) / one:.2f}x one process)",
              flush=True)
    return 0


def sequential_ranges(paths: list[str], repeat: int = 3) -> int:
    """Detection in workers' tasks (byte ranges, each counting its newlines as it decodes them) run one after
    another in this process, alternating with a one-process scan: CPU seconds of each (two workers' critical
    path on two idle cores is the parent's part plus half of the tasks, when they divide evenly)."""
    for _ in range(repeat):
        c = time.process_time()
        ScanRunner(Config(), workers=1).run(paths)
        one = time.process_time() - c
        engine = Engine(Config())
        tasks = workers.plan(paths, 2, None, max_line_bytes=engine.config.max_line_bytes, count_lines=False,
                             ranges_per_worker=detect.RANGES_PER_WORKER)
        detect._WORKER.clear()
        detect._init(Config(), None, [], [-1] * len(tasks))
        cpu = []
        for i, task in enumerate(tasks):
            last = not any(not t.whole and t.path == task.path for t in tasks[i + 1:])
            c = time.process_time()
            detect.run_task(i, task, [j for j in range(i) if tasks[j].path == task.path and not tasks[j].whole], last)
            cpu.append(time.process_time() - c)
        print(f"one process {one:.2f} s CPU; {len(tasks)} tasks {' + '.join(f'{c:.2f}' for c in cpu)} = "
              f"{sum(cpu):.2f} s CPU ({sum(cpu) / one:.2f}x one process)", flush=True)
    return 0


def sequential_hosts(paths: list[str], repeat: int = 3) -> int:
    """Host partitions' groups (as two workers would get them) scanned one after another in this process,
    alternating with a one-process scan: CPU seconds of the parent's look at the heads, of each group, and of
    the one process (two workers' critical path on two idle cores: the look plus the larger group)."""
    import os

    from cloudward.inputs import expand_paths

    files = list(expand_paths(paths))
    for _ in range(repeat):
        c = time.process_time()
        ScanRunner(Config(), workers=1).run(paths)
        one = time.process_time() - c
        engine = Engine(Config())
        c = time.process_time()
        looked = {p: partition.look(engine, p, None) for p in files}
        look = time.process_time() - c
        groups = partition.group(files, {p: k for p, (_, k) in looked.items()},  # type: ignore[misc]
                                 {p: os.path.getsize(p) for p in files}, 2)
        cpu = []
        for g in groups:
            c = time.process_time()
            partition._scan_group(Config(), None, [], g, {p: looked[p][0] for p in g}, None)
            cpu.append(time.process_time() - c)
        groups_cpu = ' + '.join(f'{c:.2f}' for c in cpu)
        print(f"one process {one:.2f} s CPU; look {look:.2f} + {len(groups)} groups {groups_cpu} "
              f"= {look + sum(cpu):.2f} s CPU ({(look + sum(cpu)) / one:.2f}x one process; critical path "
              f"{look + max(cpu):.2f} s, {one / (look + max(cpu)):.2f}x)", flush=True)
    return 0


def main() -> int:
    if sys.argv[1] == "seq":
        return sequential(sys.argv[2:])
    if sys.argv[1] == "seq-ranges":
        return sequential_ranges(sys.argv[2:])
    if sys.argv[1] == "seq-hosts":
        return sequential_hosts(sys.argv[2:])
    n, paths = int(sys.argv[1]), sys.argv[2:]
    workers.unpack = timed("unpack", workers.unpack)
    shuffle.note_unread = timed("note unread", shuffle.note_unread)
    shuffle.add_held_back = timed("held back", shuffle.add_held_back)
    shuffle._check_books = timed("check books", shuffle._check_books)
    shuffle.ResultsPool.__exit__ = timed("pool exit", shuffle.ResultsPool.__exit__)  # type: ignore[method-assign]
    Engine.merge = timed("merge", Engine.merge)  # type: ignore[method-assign]
    partition.look = timed("look at heads", partition.look)
    AlertBook.merge = timed("book merge", AlertBook.merge)  # type: ignore[method-assign]
    t0, c0 = time.perf_counter(), time.process_time()
    runner = ScanRunner(Config(), workers=n, min_pool_bytes=0)
    t1 = time.perf_counter()
    way = "one process"
    if n > 1:
        if shuffle.feed_shuffled(runner.engine, paths, None, n):
            run = shuffle.LAST_RUN
            way = (f"shuffle by key: first pass done at {run['first pass']:.2f} s, order at {run['order']:.2f} s, "
                   f"second pass done at {run['second pass']:.2f} s; CPU of the passes "
                   f"{run['pass_cpu'][0]:.2f} + {run['pass_cpu'][1]:.2f} s, per worker "
                   f"{', '.join(f'{c:.2f}' for c in run['worker_cpu'])} s; bucket events {run['buckets']}"
                   f"{timeline(run)}")
        elif partition.feed_partitioned(runner.engine, paths, None, n):
            cpu = ", ".join(f"{c:.2f}" for c in partition.LAST_RUN["worker_cpu"])
            way = f"host partitions, worker CPU {cpu} s"
        elif detect.feed_detected(runner.engine, paths, None, n):
            run = detect.LAST_RUN
            spans = ", ".join(f"{a - t1:.2f}-{d - t1:.2f}-{b - t1:.2f}"
                              for (a, b), d in zip(run["spans"], run["decoded_at"], strict=True))
            cpu = ", ".join(f"{c:.2f}" for c in run["task_cpu"])
            waits = ", ".join(f"{w:.2f}" for w in run["task_wait"])
            way = (f"detection in workers, tasks at {spans} s (start-decoded-end), task CPU {cpu} s, waited for "
                   f"counts {waits} s")
        else:
            way = "decode pool"
            workers.feed_parallel(runner.engine, paths, None, n,
                                  on_task=lambda _t: SPENT.setdefault("first result", time.perf_counter() - t1))
    else:
        feed_paths(runner.engine, paths, None, ordered=True)
    t2 = time.perf_counter()
    alerts = finish(runner.engine, None)
    t3 = time.perf_counter()
    inside = ", ".join(f"{k} {v:.2f} s" for k, v in SPENT.items())
    print(f"workers {n} ({way}): engine {t1 - t0:.2f} s, feed {t2 - t1:.2f} s, finish {t3 - t2:.2f} s"
          f"{' (' + inside + ')' if inside else ''}; parent CPU {time.process_time() - c0:.2f} s; "
          f"{len(alerts)} alerts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
