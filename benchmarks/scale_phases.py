"""Where a `scan --workers N` run spends its time: engine start, feeding, finishing (what is still held
runs), and inside the feed: for host partitions the parent's look at each file's head, each worker's CPU
(for detection in workers: when each task ran and its CPU)
and the merge of the alert books; for the decode pool the parent's unpacking and merging of checkpoints.

    python benchmarks/scale_phases.py 2 benchmarks/out/scale/tetragon-100000-4nodes   # host partitions
    python benchmarks/scale_phases.py 2 benchmarks/out/scale/audit-1000000.log        # detection in workers
    python benchmarks/scale_phases.py 2 benchmarks/out/scale/combined-100000          # decode pool
    python benchmarks/scale_phases.py 1 benchmarks/out/scale/combined-100000          # the one-process form
Run them side by side: other load on the machine moves both. CPU seconds are printed next to wall time.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from cloudward.alerts import AlertBook
from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.runners import detect, partition, workers
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


def main() -> int:
    n, paths = int(sys.argv[1]), sys.argv[2:]
    workers.unpack = timed("unpack", workers.unpack)
    Engine.merge = timed("merge", Engine.merge)  # type: ignore[method-assign]
    partition.look = timed("look at heads", partition.look)
    AlertBook.merge = timed("book merge", AlertBook.merge)  # type: ignore[method-assign]
    t0, c0 = time.perf_counter(), time.process_time()
    runner = ScanRunner(Config(), workers=n, min_pool_bytes=0)
    t1 = time.perf_counter()
    way = "one process"
    if n > 1:
        if partition.feed_partitioned(runner.engine, paths, None, n):
            cpu = ", ".join(f"{c:.2f}" for c in partition.LAST_RUN["worker_cpu"])
            way = f"host partitions, worker CPU {cpu} s"
        elif detect.feed_detected(runner.engine, paths, None, n):
            run = detect.LAST_RUN
            spans = ", ".join(f"{a - t1:.2f}-{b - t1:.2f}" for a, b in run["spans"])
            cpu = ", ".join(f"{c:.2f}" for c in run["task_cpu"])
            way = f"detection in workers, tasks at {spans} s, task CPU {cpu} s"
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
