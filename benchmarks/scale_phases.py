"""Where a `scan --workers N` run spends its time: engine start, feeding (decode, merge, early releases),
finishing (what is still held runs), and inside the feed the parent's unpacking and merging of checkpoints.

    python benchmarks/scale_phases.py 2 benchmarks/out/scale/combined-100000
    python benchmarks/scale_phases.py 1 benchmarks/out/scale/combined-100000   # the one-process form
Run the two side by side: other load on the machine moves both.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.runners import workers
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
    t0 = time.perf_counter()
    runner = ScanRunner(Config(), workers=n)
    t1 = time.perf_counter()
    if n > 1:
        workers.feed_parallel(runner.engine, paths, None, n,
                              on_task=lambda _t: SPENT.setdefault("first result", time.perf_counter() - t1))
    else:
        feed_paths(runner.engine, paths, None, ordered=True)
    t2 = time.perf_counter()
    alerts = finish(runner.engine, None)
    t3 = time.perf_counter()
    inside = ", ".join(f"{k} {v:.2f} s" for k, v in SPENT.items())
    print(f"workers {n}: engine {t1 - t0:.2f} s, feed {t2 - t1:.2f} s, finish {t3 - t2:.2f} s"
          f"{' (' + inside + ')' if inside else ''}; {len(alerts)} alerts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
