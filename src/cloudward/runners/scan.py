"""`cloudward scan`: a finite set of files (or stdin) through one engine, then the sinks.

Files of one scan are not in event-time order (rotated logs named newest first, one site's day after
another's, fifty sites' logs of the same day). The runner merges them in event time: a short look at each
file finds its first event, a file is opened when the merge reaches that time, and the engine is told the
first time of the next unopened file (`Engine.horizon`): what is older runs as the scan goes, in time
order, and only what overlaps in time is held. The alerts are the same whatever order the files were named
in, and however many of them overlap."""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.events import SUMMARY_SPANS
from cloudward.inputs import InputFile, ScanStats, expand_paths, is_regular
from cloudward.sinks import Sink

if TYPE_CHECKING:
    from cloudward.store import Store

#: bytes read at a time to find a file's first event
FIRST_TIME_CHUNK = 64 * 1024
#: below this many input bytes a scan runs in one process: a pool costs more to start than it saves
MIN_POOL_BYTES = 8 << 20


def input_bytes(paths: Iterable[str]) -> int:
    """The bytes of the regular files under `paths` (stdin and other streams count as big: unknown)."""
    total = 0
    for path in expand_paths(list(paths)):
        if path == "-":
            return 1 << 62
        try:
            st = os.stat(path)
        except OSError:
            continue
        total += st.st_size if os.path.isfile(path) else 0
    return total


def first_time(engine: Engine, path: str, fmt: str | None = None) -> float:
    """The time of the first event of the file at `path` (decoding stops there), inf when it has none or
    cannot be read. Nothing is counted: the real pass counts."""
    if path == "-" or not is_regular(path):  # a stream read here would be gone for the real pass
        return math.inf
    if os.path.getsize(path) == 0:  # nothing to decode (and no reason to set the cards up for it)
        return math.inf
    ctx = engine.ctx.replaced(stats=ScanStats())
    src = InputFile.for_config(path, engine.config)
    # small reads: a block decoder hands on a whole read's events at once, and only the first is wanted
    events = engine.decode_input(src, fmt, ctx, chunk=FIRST_TIME_CHUNK)
    try:
        for event in events:
            return event.time
    except (OSError, ValueError):
        return math.inf
    finally:
        events.close()
    return math.inf


def feed_paths(engine: Engine, paths: Iterable[str], fmt: str | None = None,
               on_input: Callable[[InputFile], None] | None = None, *, ordered: bool = False) -> None:
    """Decode every file under `paths` (`-` is stdin) into `engine`.

    With `ordered`, files are merged in event time (`_feed_merged`), whatever order they were named in,
    and the engine is told that nothing older than the next unopened file's first event is still to come:
    it runs what is older as it goes, so a scan holds only what overlaps in time, and its alerts depend
    neither on the order of the command line nor on how many files overlap.
    Context inputs (docker inspect snapshots) are decoded once, like any input; the engine runs their
    events before every timed event."""
    def skipped(path: str, reason: str) -> None:  # a FIFO, socket or unreadable entry found in a folder
        engine.stats.reject(f"{path}:0", reason)

    paths = list(paths)
    expanded = list(expand_paths(paths, on_skip=skipped))
    unread_before = len(engine.unread_inputs)
    merged = ordered and not engine.hold and len(expanded) > 1
    # a file's events reach `Engine.feed` in its order, so web summaries may span seconds (the engine cuts them
    # where other events fall inside); not when merged, which hands on each event by its time
    engine.ctx.options[SUMMARY_SPANS] = not merged
    if merged:
        read = _feed_merged(engine, expanded, fmt, on_input, unread_before)
    else:
        read = set()
        for path in expanded:
            src = InputFile.for_config(path, engine.config)
            if on_input is not None:
                on_input(src)
            n = len(engine.unread_inputs)
            engine.feed(engine.decode_input(src, fmt))
            if len(engine.unread_inputs) == n:
                read.add(path)
    engine.horizon = math.inf
    lost = engine.unread_inputs[unread_before:]
    del engine.unread_inputs[unread_before:]
    note_unread(engine, paths, lost, read)


#: events handed to the engine at a time while files are merged: it releases what the watermark passed
#: between batches, so what it holds is what overlaps in time, not whole files
MERGE_BATCH = 4096
#: files a merge keeps open at once (more overlapping files than this wait for a free slot, and their events
#: may then arrive behind the watermark, counted as late, as they would without the merge)
MAX_OPEN_FILES = 256

T = TypeVar("T")


def merge_in_time(firsts: dict[Any, float], open_items: Callable[[Any], Iterator[T]],
                  time_of: Callable[[T], float], max_open: int = MAX_OPEN_FILES) -> Iterator[tuple[T, float]]:
    """The items of every source in `firsts` (name -> time of its first item) merged in time, with, for
    each, the first time of the next source not yet opened (inf when none is left): a source is opened
    (`open_items(name)`) when the merge reaches its first time, and at most `max_open` are open at once.
    Ties go to the source first by (first time, name); within a source, items keep their order (a source
    is not sorted: a later item older than one already given is given when its turn comes). A NaN time
    sorts first. `runners.shuffle` replays a scan's order through this same function."""
    waiting = sorted(firsts, key=lambda name: (firsts[name], name))
    rank = {name: i for i, name in enumerate(waiting)}
    waiting.reverse()  # popped from the end: the earliest first
    heap: list[tuple[float, int, int, Any, Iterator[T]]] = []
    seq = 0

    def key(item: T) -> float:
        t = time_of(item)
        return t if t == t else -math.inf

    while heap or waiting:
        # open every source whose first time the merge has reached (all of them at once when times tie)
        while waiting and (not heap or (firsts[waiting[-1]] <= heap[0][0] and len(heap) < max_open)):
            name = waiting.pop()
            items = open_items(name)
            first = next(items, None)
            if first is not None:
                seq += 1
                heapq.heappush(heap, (key(first), rank[name], seq, first, items))
        if not heap:
            continue
        _, r, _, item, items = heap[0]
        following = next(items, None)
        if following is None:
            heapq.heappop(heap)
        else:
            seq += 1
            heapq.heapreplace(heap, (key(following), r, seq, following, items))
        yield item, (firsts[waiting[-1]] if waiting else math.inf)


def _feed_merged(engine: Engine, paths: list[str], fmt: str | None,
                 on_input: Callable[[InputFile], None] | None, unread_before: int) -> set[str]:
    """Feed the files at `paths` merged in event time (`merge_in_time`; a short look at each file finds its
    first event): files that overlap in time are read side by side, one after another when they do not, so
    the engine's reorder buffer only ever holds what overlaps within its lateness, and its alerts depend
    neither on how many files overlap nor on how long each is. Events go to the engine `MERGE_BATCH` at a
    time, with the first time of the next unopened file as its horizon. Returns the files of which
    something was read."""
    first_of = {p: first_time(engine, p, fmt) for p in dict.fromkeys(paths)}
    # a source is (path, occurrence): a file named twice is read twice, as one after another would read it
    firsts = {(p, k): first_of[p] for k, p in enumerate(paths)}
    displays: dict[str, str] = {}

    def open_events(source: tuple[str, int]) -> Iterator[Any]:
        path = source[0]
        src = InputFile.for_config(path, engine.config)
        displays[path] = src.display
        if on_input is not None:
            on_input(src)
        return engine.decode_input(src, fmt)

    batch: list[Any] = []
    for event, horizon in merge_in_time(firsts, open_events, attrgetter("time")):
        batch.append(event)
        if len(batch) >= MERGE_BATCH:
            engine.horizon = horizon
            engine.feed(batch)
            batch = []
    engine.horizon = math.inf
    if batch:
        engine.feed(batch)
    lost = set(engine.unread_inputs[unread_before:])
    return {p for p in paths if displays.get(p, p) not in lost}


def note_unread(engine: Engine, paths: Iterable[str], lost: Iterable[str], read: Iterable[str]) -> None:
    """Name in `engine.unread_inputs` the inputs named on the command line of which nothing was read, from
    the files that were `lost` (content, none of it read) and those `read`. A folder is one input: lost
    only when nothing was read from any file in it (a README next to the logs is rejected as
    unrecognized, and that is all)."""
    lost = list(lost)
    read = set(read)
    for arg in paths:
        if arg in lost:
            engine.unread_inputs.append(arg)
        elif os.path.isdir(arg):
            inside = [p for p in lost if p.startswith(os.path.join(arg, ""))]
            if inside and not any(p.startswith(os.path.join(arg, "")) for p in read):
                engine.unread_inputs.append(arg)


def finish(engine: Engine, store: Store | None, min_severity: str = "informational") -> list[Alert]:
    """End of input: run what is held, apply suppression, persist alerts and state rows."""
    engine.advance(None)
    engine.book.apply_suppression()
    if store is not None:
        store.save_alerts(engine.book.alerts.values())
        from cloudward.store import save_state_rows

        save_state_rows(store, engine.state_rows())
    return engine.alerts(min_severity)


class ScanRunner:
    def __init__(self, config: Config, *, only: set[str] | None = None, store: Store | None = None,
                 intel: list[str] | None = None, sinks: list[tuple[Sink, dict[str, Any]]] | None = None,
                 workers: int | str = 1, min_range_bytes: int | None = None,
                 min_pool_bytes: int | None = None) -> None:
        self.engine = Engine(config, only=only, store=store, enrich_options={"intel": list(intel or [])},
                             defer_cards=True)
        self.store = store
        self.sinks = sinks or []
        # `--workers N`: web and FTP logs detected in the workers with a shuffle by key (`runners.shuffle`),
        # host telemetry scanned per host partition (`runners.partition`), inputs whose split provably
        # changes nothing detected in the workers by file or byte range (`runners.detect`), other inputs
        # decoded on a process pool (`runners.workers`); the alerts are the same. "auto": the cores, and a
        # pool only where it pays (the first three ways, `min_pool_bytes` of input or more)
        self.auto = workers == "auto"
        if self.auto:
            from cloudward.runners.workers import default_workers

            workers = default_workers()
        self.workers = max(1, int(workers))
        self.min_pool_bytes = min_pool_bytes
        #: `learn` ran: baselines live in this engine, so detection stays in it
        self.learned = False
        self.only = only
        self.intel = list(intel or [])
        self.min_range_bytes = min_range_bytes

    def learn(self, paths: Iterable[str], fmt: str | None = None) -> None:
        """`--baseline-from`: baselines learn from these; nothing in them alerts, and their counts are dropped."""
        engine = self.engine
        engine.set_learning(True)
        try:
            feed_paths(engine, paths, fmt, ordered=True)
            engine.advance(None)
        finally:
            engine.set_learning(False)
        engine.stats = type(engine.stats)()
        engine.ctx.stats = engine.stats
        self.learned = True

    def run(self, paths: Iterable[str], fmt: str | None = None, *, min_severity: str = "informational",
            on_input: Callable[[InputFile], None] | None = None) -> list[Alert]:
        paths = list(paths)
        min_pool = self.min_pool_bytes
        if min_pool is None:  # (the environment can lower it: tests and benchmarks of small inputs)
            min_pool = int(os.environ.get("CLOUDWARD_MIN_POOL_BYTES") or MIN_POOL_BYTES)
        if self.workers > 1 and input_bytes(paths) >= min_pool:
            from cloudward.runners import partition, workers

            extra = {} if self.min_range_bytes is None else {"min_range_bytes": self.min_range_bytes}
            if not self.learned and self.store is None:
                from cloudward.runners import shuffle

                # web and FTP logs: detection in the workers, the keyed cards after a shuffle by key
                # (`runners.shuffle`; first: it tells web inputs from the head's format alone)
                if shuffle.feed_shuffled(self.engine, paths, fmt, self.workers, only=self.only, intel=self.intel):
                    return finish(self.engine, self.store, min_severity)
                if partition.feed_partitioned(self.engine, paths, fmt, self.workers, only=self.only,
                                              intel=self.intel):
                    return finish(self.engine, self.store, min_severity)
                from cloudward.runners import detect

                # detection in the workers where the split provably changes nothing (`runners.detect`)
                if detect.feed_detected(self.engine, paths, fmt, self.workers, only=self.only, intel=self.intel,
                                        **extra):
                    return finish(self.engine, self.store, min_severity)
            if not self.auto:  # asked for: the pool decodes, this engine detects (`runners.workers`)
                workers.feed_parallel(self.engine, paths, fmt, self.workers, only=self.only, intel=self.intel,
                                      **extra)
                return finish(self.engine, self.store, min_severity)
        feed_paths(self.engine, paths, fmt, on_input, ordered=True)
        return finish(self.engine, self.store, min_severity)

    def deliver(self, alerts: list[Alert]) -> None:
        """Open every sink, send the alerts, close them (each sink filters by its own `min_severity`)."""
        opened: list[Sink] = []
        try:
            for sink, table in self.sinks:
                sink.open(table)
                opened.append(sink)
            for sink in opened:
                sink.send(alerts)
        finally:
            for sink in opened:
                sink.close()
