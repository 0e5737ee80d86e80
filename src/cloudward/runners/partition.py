"""`scan --workers N` with the detections in the workers: host telemetry partitioned by host.

    parent: a look at the head of each file (first event time, the hosts and containers it names)
            ─► files joined when they share a host or container ─► groups balanced by size
    pool:   one Engine per group, a whole scan of its files (decode, enrich, cards, end of input)
            ─► the alert book's state, the counts, the keys every event carried
    parent: the keys of two groups never meet (else: the one-process scan) ─► `AlertBook.merge`

Host telemetry keeps its state by host (process trees, the pids of containers) and by container id
(container facts); events of different hosts and containers never meet in a card, so one engine per
partition, with the alert books merged, reports what one engine over everything reports (the same
argument the Spark job makes per cluster; the alert book deduplicates and aggregates across books).
The look at the heads only guesses the partition: every worker reports the keys of every event it
ran, and the parent takes the partitioned result only when no key was seen in two groups and each
key's events came in time order (see `_Watched`). Otherwise (a host's files named differently, a
container id on two hosts, records out of order) the scan runs again in one process, so the result is
exact either way. Nor are inputs with more host events than one engine's process tree holds (200,000:
one engine would forget the oldest processes, partitions would not; the workers count together and
give up as soon as the count is reached). Inputs the partition does not cover (web, audit, context
records such as `docker inspect` snapshots, which carry no host) are never partitioned: the pool only decodes
them (`runners.workers`), or the scan runs in one process.

Counts are summed; rejections are put back in the order a one-process scan meets them (files by first
event time, then path; lines in file order; end-of-input failures last).
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from cloudward.config import Config
from cloudward.engine import CONTEXT_ACTIONS, Engine, _origin_parts
from cloudward.events import ContainerEvent, Event, NetConnection, ProcessExec
from cloudward.inputs import MAX_LISTED_REJECTS, InputFile, Rejection, ScanStats, expand_paths, is_regular
from cloudward.runners.scan import FIRST_TIME_CHUNK, note_unread

#: the last partitioned scan of this process: CPU seconds of each group's worker (for benchmarks)
LAST_RUN: dict[str, Any] = {}
#: events of a file's head looked at to guess its partition keys
HEAD_EVENTS = 32


def event_keys(event: Event) -> tuple[str, ...] | None:
    """The partition keys of an event (its host, its container), or None when the event is not host
    telemetry that may be partitioned (then nothing is)."""
    kind = type(event)
    if kind is ProcessExec or kind is NetConnection:
        cid = event.container_id  # type: ignore[attr-defined]
        host = "h:" + event.host  # type: ignore[attr-defined]
        return (host, "c:" + cid) if cid else (host,)
    if kind is ContainerEvent:
        if event.action in CONTEXT_ACTIONS:  # type: ignore[attr-defined]
            return None  # context (an inspect snapshot) names no host and serves every host
        cid = event.container_id  # type: ignore[attr-defined]
        host = "h:" + event.host  # type: ignore[attr-defined]
        return (host, "c:" + cid) if cid else (host,)
    return None


def partitionable(config: Config) -> bool:
    """Whether a scan with `config` may be partitioned: no Sigma rules (correlations keep their own
    keys) and no configured container context (daemon names rename events of no host)."""
    return not config.section("sigma") and not config.section("containers")


def look(engine: Engine, path: str, fmt: str | None) -> tuple[float, frozenset[str] | None]:
    """A file's first event time (as `runners.scan.first_time` finds it) and the partition keys of the
    events of its head (None: something in it is not partitionable, or it cannot be looked at)."""
    if path == "-" or not is_regular(path):
        return math.inf, None
    if os.path.getsize(path) == 0:
        return math.inf, frozenset()
    ctx = engine.ctx.replaced(stats=ScanStats())
    src = InputFile.for_config(path, engine.config)
    events = engine.decode_input(src, fmt, ctx, chunk=FIRST_TIME_CHUNK)
    first = math.inf
    keys: set[str] = set()
    try:
        for i, event in enumerate(events):
            if i == 0:
                first = event.time
            found = event_keys(event)
            if found is None:
                return first, None
            keys.update(found)
            if i + 1 >= HEAD_EVENTS:
                break
    except (OSError, ValueError):
        return first, None
    finally:
        events.close()
    return first, frozenset(keys)


def group(paths: list[str], keys: dict[str, frozenset[str]], sizes: dict[str, int], n: int) -> list[list[str]]:
    """Files joined when their keys meet (transitively), then the joined sets spread over `n` groups,
    biggest first onto the lightest group. Deterministic for the same inputs."""
    parent = {p: p for p in paths}

    def root(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    owner: dict[str, str] = {}
    for p in paths:
        for k in sorted(keys[p]):
            if k in owner:
                a, b = root(owner[k]), root(p)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[k] = p
    sets: dict[str, list[str]] = {}
    for p in paths:
        sets.setdefault(root(p), []).append(p)
    joined = sorted(sets.values(), key=lambda ps: (-sum(sizes[p] for p in ps), ps[0]))
    groups: list[list[str]] = [[] for _ in range(min(n, len(joined)))]
    load = [0] * len(groups)
    for ps in joined:
        i = min(range(len(groups)), key=lambda j: (load[j], j))
        groups[i].extend(ps)
        load[i] += sum(sizes[p] for p in ps)
    return [g for g in groups if g]


#: in a worker: the events all workers took so far (a shared counter) and the bound that stops them
_SHARED: dict[str, Any] = {}


class _GiveUp(Exception):
    """The workers together took more host events than one engine keeps: no partition."""


def _init_worker(counter: Any, bound: int) -> None:
    _SHARED.update(events=counter, bound=bound)


class _Watched:
    """The events of a group on their way into its engine: the hosts and containers they name, and
    whether each of those keys' events came in the engine's order (`ok` False once one did not, or once
    an event was not host telemetry).

    Why the order: the engine runs events in time order, except those that arrive after the watermark
    passed them (late), which run at once; where the watermark is depends on every input read so far,
    so which events are late differs between one engine over everything and one per partition. When the
    events of every key arrive in the engine's order (time, file, line...), both run each key's events
    in that order whatever is late, and keyed state sees the same sequence. Otherwise: no partition.
    (A plain loop over plain dicts: it runs once per event, ~1 us.)"""

    def __init__(self) -> None:
        self.ok = True
        #: each host's and each container's last event so far: (time, its order if worked out, event)
        self.hosts: dict[str, tuple[float, tuple[Any, ...] | None, Event]] = {}
        self.containers: dict[str, tuple[float, tuple[Any, ...] | None, Event]] = {}
        self.n = 0

    def keys(self) -> set[str] | None:
        if not self.ok:
            return None
        return {*("h:" + h for h in self.hosts), *("c:" + c for c in self.containers)}

    def watch(self, events: Iterable[Event]) -> Iterator[Event]:
        hosts, containers = self.hosts, self.containers
        shared = _SHARED.get("events")
        bound = _SHARED.get("bound", 0)
        step = 0
        n = 0
        try:
            for event in events:
                n += 1
                if shared is not None:
                    step += 1
                    if step >= 256:  # told in steps: the counter is a lock and a shared page
                        with shared.get_lock():
                            shared.value += step
                            total = shared.value
                        step = 0
                        if total >= bound:
                            raise _GiveUp
                if self.ok:
                    kind = type(event)
                    if not (kind is ProcessExec or kind is NetConnection or (
                            kind is ContainerEvent and event.action not in CONTEXT_ACTIONS)):  # type: ignore[attr-defined]
                        self.ok = False  # (context names no host and serves every host)
                    else:
                        # each key's last (time, order or None, event); the order is worked out on a tie
                        when = event.time
                        host = event.host  # type: ignore[attr-defined]
                        before = hosts.get(host)
                        mine = None
                        if before is not None and when <= before[0]:
                            mine = _order(event)
                            if when < before[0] or mine < (before[1] or _order(before[2])):
                                self.ok = False
                        hosts[host] = (when, mine, event)
                        cid = event.container_id  # type: ignore[attr-defined]
                        if cid:
                            before = containers.get(cid)
                            if before is not None and when <= before[0]:
                                mine = mine or _order(event)
                                if when < before[0] or mine < (before[1] or _order(before[2])):
                                    self.ok = False
                            containers[cid] = (when, mine, event)
                yield event
        finally:
            self.n += n
            if shared is not None and step:
                with shared.get_lock():
                    shared.value += step


def _order(event: Event) -> tuple[Any, ...]:
    """Where the engine puts an event among others of its time (its buffer's key, less the ordinal)."""
    return (event.time, *_origin_parts(event.origin or event.event_id), event.event_id)


def scan_group(config: Config, only: set[str] | None, intel: list[str], paths: list[str],
               firsts: dict[str, float], fmt: str | None) -> dict[str, Any] | None:
    """One group's whole scan (in a worker): what the parent merges and checks (None: given up)."""
    try:
        return _scan_group(config, only, intel, paths, firsts, fmt)
    except _GiveUp:
        return None


def _scan_group(config: Config, only: set[str] | None, intel: list[str], paths: list[str],
                firsts: dict[str, float], fmt: str | None) -> dict[str, Any]:
    started = time.process_time()
    engine = Engine(config, only=only, enrich_options={"intel": intel}, defer_cards=True)
    order = sorted(paths, key=lambda p: (firsts[p], p))
    stats = engine.stats
    watched = _Watched()
    per_file: list[tuple[str, list[Rejection]]] = []
    lost: list[str] = []
    for i, path in enumerate(order):
        later = [firsts[p] for p in order[i + 1:]]
        engine.horizon = min(later) if later else math.inf
        src = InputFile.for_config(path, engine.config)
        n, before = len(engine.unread_inputs), len(stats.rejections)
        engine.feed(watched.watch(engine.decode_input(src, fmt)))
        per_file.append((path, stats.rejections[before:]))
        del stats.rejections[before:]
        lost.extend(engine.unread_inputs[n:])
    engine.horizon = math.inf
    engine.advance(None)
    tail = list(stats.rejections)
    stats.rejections = []
    return {"book": engine.book.state(), "stats": stats, "keys": watched.keys(), "per_file": per_file,
            "tail": tail, "lost": lost, "errors": engine.detection_errors, "cpu": time.process_time() - started,
            "events": watched.n, "rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bounds() -> tuple[int, int]:
    """The entries one engine's host state holds before it forgets the oldest: (process tree and pid
    table, containers). Below them nothing is forgotten, in one engine or in partitions; above, one
    engine forgets what a partition would still know."""
    import inspect

    from cloudward.analytics.process_tree import ProcessTree
    from cloudward.enrich.container_context import MAX_CONTAINERS, MAX_PIDS

    tree = inspect.signature(ProcessTree).parameters["max_entries"].default
    return min(tree, MAX_PIDS), MAX_CONTAINERS


def feed_partitioned(engine: Engine, paths: Iterable[str], fmt: str | None, workers: int, *,
                     only: set[str] | None = None, intel: list[str] | None = None,
                     min_pool_bytes: int = 0) -> bool:
    """Scan `paths` with one engine per host partition on `workers` processes and merge the alert books
    into `engine` (which then only finishes). False when the inputs do not partition (nothing fed)."""
    paths = list(paths)
    if workers < 2 or engine.hold or not partitionable(engine.config):
        return False
    skipped: list[tuple[str, str]] = []
    expanded = list(expand_paths(paths, on_skip=lambda p, r: skipped.append((p, r))))
    if len(expanded) < 2 or "-" in expanded or len(set(expanded)) < len(expanded):
        return False  # (a file named twice is read twice by one process: not a partition of files)
    sizes = {p: os.path.getsize(p) if is_regular(p) else 0 for p in expanded}
    if sum(sizes.values()) < min_pool_bytes:
        return False
    firsts: dict[str, float] = {}
    keys: dict[str, frozenset[str]] = {}
    for p in expanded:
        first, found = look(engine, p, fmt)
        if found is None:
            return False
        firsts[p], keys[p] = first, found
    groups = group(expanded, keys, sizes, workers)
    if len(groups) < 2:
        return False
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pids, containers = _bounds()
    counter = ctx.Value("q", 0)
    # what the parent holds out of the collector's way before the fork: a worker's collections then do not
    # touch (and copy) every inherited page (as `runners.detect` does)
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(max_workers=len(groups), mp_context=ctx, initializer=_init_worker,
                                   initargs=(counter, pids))
        try:
            futures = [pool.submit(scan_group, engine.config, only, list(intel or []), g,
                                   {p: firsts[p] for p in g}, fmt) for g in groups]
            done = [f.result() for f in futures]
        except Exception:  # a worker failed or died (out of memory): one process does what it does
            pool.shutdown(wait=True)
            return False
        # every result is in: the workers' exit (~0.01 s) overlaps the merge and the finish, not waited for
        pool.shutdown(wait=False)
    finally:
        gc.unfreeze()
    results = [r for r in done if r is not None]
    if len(results) < len(done):
        return False
    LAST_RUN.clear()
    LAST_RUN.update(worker_cpu=[r["cpu"] for r in results], groups=[len(g) for g in groups],
                    worker_rss_mb=[r["rss_mb"] for r in results])
    if sum(r["events"] for r in results) >= pids:
        return False  # one engine's process tree and pid table would forget entries that partitions keep
    owner: dict[str, int] = {}
    for i, result in enumerate(results):
        if result["keys"] is None:
            return False
        for k in result["keys"]:
            if owner.setdefault(k, i) != i:
                return False  # one key in two groups: not a partition; the caller scans in one process
    if sum(1 for k in owner if k.startswith("c:")) >= containers:
        return False  # likewise the container table
    for path, reason in skipped:
        engine.stats.reject(f"{path}:0", reason)
    rejections = {path: rej for result in results for path, rej in result["per_file"]}
    for result in results:
        stats: ScanStats = result["stats"]
        engine.stats.merge(stats)
        engine.detection_errors += result["errors"]
    # listed (they are counted already) in one-process order, as far as the list goes
    listed = engine.stats.rejections
    ordered = [r for p in sorted(expanded, key=lambda p: (firsts[p], p)) for r in rejections.get(p, ())]
    ordered += [r for result in results for r in result["tail"]]
    listed.extend(ordered[:max(0, MAX_LISTED_REJECTS - len(listed))])
    for result in results:
        engine.book.merge(result["book"])
    engine.book.drain_changed()
    lost = [p for result in results for p in result["lost"]]
    note_unread(engine, paths, lost, [p for p in expanded if p not in set(lost)])
    return True
