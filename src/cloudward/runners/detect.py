"""`cloudward scan --workers N`: detection in the workers, for inputs whose split provably changes nothing.

    plan ─► tasks (whole files, or byte ranges of one big file cut at line boundaries)
    pool: a fresh Engine per task ─► decode, detect, finish ─► its alert book + a report of the state it touched
    parent: checks the reports ─► merges the books (commutative: a book is a function of its set of findings)

Only the alert books come back (a few KB), not the decoded events: for Kubernetes audit logs, where
the prefilters keep large pod and deployment bodies, shipping events to one detecting parent cost
more than the pool saved (0.23x), and detection itself is half of a one-process scan.

Why the result is the one-process result, or the scan falls back (nothing merged, `False`):
- Order. A task's events must arrive in the engine's order (time, then origin) - checked event by
  event - and the byte ranges of one file must follow each other in that order. Then no event of a
  task is late, in the worker or in one process (which reads files by first event time and never
  releases past the next file's first event), so every event runs in the same relative order in both.
- State. A stateless card's findings depend on its event alone, and the book does not care which
  engine added a finding. What carries from one event to another must not cross a task boundary:
  each task reports the keys of the state it touched, and the parent checks they are disjoint -
  the redelivery ids (audit ID, stage), the kube-system baselines (cluster) and the owner index
  (a link recorded in one task and looked up, missing, in another would have been found by one
  process). Any other card, shared analytic or enricher left with state is a reason to fall back, as
  is a bound one process would reach (the redelivery memory, the owner links, remembered events of
  one alert): below them nothing is forgotten either way.
- Cards that keep state the parent cannot check are looked for before anything runs (the kinds each
  input format yields - for JSON records, the kinds of the head's events - and the cards of those
  kinds): such inputs do not start this pool (the web cards' per-address windows and cross-site
  profiles need every site of one address together). The check after the run still guards the rest
  of a file whose head did not tell (it then costs the work done, never the result).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import orjson

from cloudward import parsers
from cloudward.alerts import MAX_REMEMBERED_EVENTS
from cloudward.analytics import k8s_owners
from cloudward.analytics.k8s_owners import OwnerIndex
from cloudward.config import Config
from cloudward.detections.base import Detection
from cloudward.engine import CONTEXT_ACTIONS, Engine, RecentIds, _origin_parts
from cloudward.events import ContainerEvent, Event, HttpSummary
from cloudward.inputs import InputFile, Rejection, ScanStats, expand_paths, is_regular
from cloudward.parsers.base import Head
from cloudward.runners.scan import note_unread
from cloudward.runners.workers import (
    MIN_RANGE_BYTES,
    Task,
    UnreadTally,
    _shift_ref,
    count_newlines,
    decode_range,
    plan,
)

#: cards with state whose keys `_report` names and `check` compares (any other stateful card: no split)
CHECKED_CARDS = frozenset({"K8S_KubeSystemContainer"})
#: records of a file's head looked at to learn the kinds of a format of many dialects (JSON records)
HEAD_EVENTS = 8
#: byte ranges per worker for one big file: the pool hands them out as workers come free, so the workers end
#: within about one range of each other; a range's own cost (an engine, its cards, a borrowed first line) is
#: ~1 ms, and smaller ranges hold fewer events at once. 2 GB of audit JSON on 2 workers, 2026-12-06, medians
#: of 4 rounds at load 1.6-2.4: tasks' CPU 2.05 / 1.88 / 1.83 / 1.89 / 1.97 s and critical path 1.08 / 0.98 /
#: 0.96 / 0.97 / 1.03 s at 2/3/4/6/8 (at load 2.4, 3 rounds: 2 and 4 alike, critical path 1.25 / 1.27 s)
RANGES_PER_WORKER = 4
#: the last scan of this process that ran detection in workers: each task's worker CPU seconds (benchmarks)
LAST_RUN: dict[str, Any] = {}


def add_held_back(engine: Engine, helds: list[dict[str, Any]]) -> None:
    """Add the findings workers' cards held back in a learning period (card id -> (count, until)) to this
    engine's cards, as the cards of one process count them (the summary names them). Only the kinds of
    those cards are set up here: every card (`engine.detections`) imports every card module, serial work
    in the parent that one process never does."""
    ids = {cid for held in helds if held for cid in held}
    if not ids:
        return
    for det in _cards_of(engine, ids):
        for held in helds:
            if held and det.card.id in held:
                n, until = held[det.card.id]
                det.held_back += n
                det.held_until = max(det.held_until, until)


class ResultsPool(ProcessPoolExecutor):
    """A process pool whose `with` block, left once every result is in (`all_in`), does not wait for the
    workers to exit: they have nothing left to do, and their teardown (~0.01 s) overlaps the scan's finish
    and output instead of delaying it. Left any other way (a failure), it waits, as a pool does."""

    idle = False

    def all_in(self) -> None:
        self.idle = True

    def __exit__(self, *exc: object) -> bool:
        self.shutdown(wait=not self.idle)
        return False


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """The cyclic collector off in the parent while it takes the workers' results and merges them (entered
    after the pool has forked, so workers keep theirs): unpickled books and event times are allocations
    that live to the end, which the collector would only walk again and again. On leaving, what is alive
    is frozen (the caller's `gc.unfreeze()` then hands it to the oldest generation, unwalked)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()


def _cards_of(engine: Engine, ids: set[str]) -> list[Detection]:
    """The engine's cards with these ids, setting up only the event kinds they subscribe to (all cards when
    one is not in the catalog's index, e.g. a Sigma rule's)."""
    from cloudward import events as event_module
    from cloudward.detections._index import CARDS

    kinds: set[type[Event]] = set()
    for cid in ids:
        entry = CARDS.get(cid)
        found = [getattr(event_module, str(name), None) for name in (entry or {}).get("kinds", ())]  # type: ignore[union-attr]
        if entry is None or not found or None in found:
            return list(engine.detections)
        kinds.update(found)  # type: ignore[arg-type]
    engine._setup_kinds(frozenset(kinds))
    return engine.detections_set_up()


def _event_kinds(path: str, fmt: str | None, max_line_bytes: int) -> frozenset[str] | None:
    """The event kinds an input yields: those its format declares, or for a format of many dialects (JSON
    records) those of the dialects of its head's records (None: not known, e.g. an unrecognized file or a stream)."""
    if path == "-" or not is_regular(path):
        return None
    if os.path.getsize(path) == 0:
        return frozenset()
    if fmt:
        chosen: Any = parsers.by_name(fmt)
    else:
        src = InputFile(path, max_line_bytes=max_line_bytes)
        try:
            src.open()
            chosen = parsers.sniff(Head.of(src))
        except (OSError, ValueError):
            return None
        finally:
            src.close()
        if chosen is None:  # unrecognized: rejected whole, in a worker as in one process
            return frozenset()
    kinds = getattr(chosen, "kinds", None)
    if kinds:
        return frozenset(kinds)
    return _json_head_kinds(path)


def _json_head_kinds(path: str) -> frozenset[str] | None:
    """For JSON records (a dialect per record): the kinds of the dialects that claim the head's records."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return None
    records: list[Any] = []
    for line in head.split(b"\n")[:-1][:HEAD_EVENTS]:
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    if not records and len(head) < 1 << 20:  # one small document (a list of records, or {"items": [...]})
        try:
            doc = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            doc = doc["items"]
        records = (doc if isinstance(doc, list) else [doc])[:HEAD_EVENTS]
    seen: set[str] = set()
    for record in records:
        if isinstance(record, dict):
            dialect = next((d for d in parsers.dialects() if d.claims(record)), None)
            if dialect is not None:
                seen.update(dialect.kinds)
    # records no dialect claims are rejected, in a worker as in one process: they yield no kind
    return frozenset(seen) if records else None


def eligible(engine: Engine, paths: list[str], fmt: str | None) -> bool:
    """Whether every card that may see the events of these inputs is stateless or checked (see module doc)."""
    if engine.hold or engine.config.section("sigma"):
        return False
    from cloudward import events as event_module

    judged: set[str] = set()
    for path in paths:  # (stops at the first input whose kinds have a card it cannot check)
        found = _event_kinds(path, fmt, engine.config.max_line_bytes)
        if found is None:
            return False
        for name in found - judged:
            judged.add(name)
            kind = getattr(event_module, name, None)
            if kind is None:
                return False
            for det in engine._by_kind[kind]:  # (sets the kind's cards up, as its first event would)
                if type(det).state is not Detection.state and det.card.id not in CHECKED_CARDS:
                    return False
    return bool(judged)


class _InOrder:
    """A task's events as they pass: whether they came in the engine's order, and the first and last
    order keys (the engine's buffer key less stream and ordinal; worked out when asked, so a byte range's
    line numbers, shifted in place once the ranges before it have counted theirs, are those of the file)."""

    def __init__(self, events: Iterable[Event], whole: bool) -> None:
        self.events = events
        self.whole = whole
        self.ok = True
        self._first: Event | None = None
        self._last: Event | None = None
        self.handed_on = 0

    @property
    def first(self) -> tuple[Any, ...] | None:
        return None if self._first is None else _key(self._first)

    @property
    def last(self) -> tuple[Any, ...] | None:
        return None if self._last is None else _key(self._last)

    def __iter__(self) -> Iterator[Event]:
        prev_time = -math.inf
        prev: Event | None = None
        for event in self.events:
            self.handed_on += 1
            when = event.time
            if type(event) is ContainerEvent and event.action in CONTEXT_ACTIONS:  # type: ignore[attr-defined]
                self.ok = False  # (context runs before every timed event, whatever its place)
            elif not when >= prev_time:  # (also NaN)
                self.ok = False
            elif when == prev_time and prev is not None and _key(event) < _key(prev):
                self.ok = False
            if self._first is None:
                self._first = event
            prev_time, prev = when, event
            yield event
        self._last = prev


def _key(event: Event) -> tuple[Any, ...]:
    return (event.time, *_origin_parts(event.origin or event.event_id), event.event_id)


class _LoggedLinks(dict):  # type: ignore[type-arg]
    """The owner index's links, noting each key looked up and not found."""

    def __init__(self) -> None:
        super().__init__()
        self.missed: set[tuple[str, str, str]] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().get(key, default)
        if value is default and key not in self:
            self.missed.add(key)
        return value


_WORKER: dict[str, Any] = {}


def _init(config: Config, only: set[str] | None, intel: list[str], newlines: Any = None,
          tasks: list[Task] | None = None) -> None:
    _WORKER.update(config=config, only=only, intel=intel, newlines=newlines, tasks=tasks or [])


#: seconds a byte range waits for the newline counts of the ranges before it (then the scan falls back)
COUNT_WAIT = 600.0
#: `_RangeLines` counts of a range that failed (the ranges after it stop waiting)
FAILED = -2
#: seconds a decoded range waits for an earlier range's count before counting that range's bytes itself (a
#: 268 MB range: ~0.025 s), so a worker whose range decoded first does not sit idle while the other decodes
HELP_AFTER = 0.01
#: bytes counted at a time by a range helping an earlier one (it stops as soon as that one publishes)
HELP_PIECE = 16 << 20


class _NoCount(Exception):
    """The newline counts of the ranges before a range never came (one failed, or the wait ran out)."""


class _RangeLines:
    """A byte range's line numbers without a second read of its bytes.

    The range is decoded with line numbers of its own (the decoder counts the range's newlines as it reads
    them, `decode_range(counted=...)`), and its events wait in the engine's reorder buffer, where nothing
    runs while a range is fed whole: the engine releases after the feed, and below `max_held_events` nothing
    spills. Once decoded, the range publishes its count (shared memory) and waits for the counts of the
    ranges of its file before it (handed to workers before it: each publishes at the end of its decoding,
    waiting on nothing, so nothing waits on a task that waits), then shifts the references of the held
    events (origin and id, and the buffer's keys) and of its rejections to the file's line numbers: every
    card then sees what it sees with the file's numbers from the start. (A shift is not applied later to the
    books: evidence and entities order events by their `path:line` strings, which a shift can reorder.)

    Before an event that would make the engine run something during the feed (the buffer full, a late
    event, a web summary) the range counts its newlines from the file instead (a second read, as ranges
    always did before) and shifts what it holds: from there on, events are shifted as they pass. The first
    range of a file needs no shift, the last publishes nothing."""

    def __init__(self, engine: Engine, index: int, task: Task, before: list[int], last: bool) -> None:
        self.engine = engine
        self.index = index
        self.task = task
        self.before = before
        self.last = last
        self.counts = _WORKER["newlines"]
        #: line numbers as decoded: a range after the first is decoded behind the file's first line (line 1)
        self.decoded = dataclasses.replace(task, lines_before=1 if task.start else 0)
        self.prefix = f"{task.path}:"
        self.shift: int | None = 0 if task.start == 0 else None
        self.newlines: int | None = None
        #: seconds spent waiting for the earlier ranges' counts, and when the decoding ended (benchmarks)
        self.waited = 0.0
        self.decoded_at = 0.0

    def counted(self, newlines: int) -> None:
        self.newlines = newlines

    def failed(self) -> None:
        """Tell the ranges after this one not to wait for its count."""
        if self.counts[self.index] < 0:
            self.counts[self.index] = FAILED

    def events(self) -> Iterator[Event]:
        """The range's events, every one of them in the buffer with the file's line numbers before any
        card runs."""
        engine = self.engine
        stats = engine.stats
        first_reject = len(stats.rejections)
        events = decode_range(engine, self.decoded, counted=self.counted)
        if self.shift is not None and self.last:  # (the only range of its file: nothing to number or tell)
            yield from events
            return
        bound = engine.settings.max_held_events - 1
        released = engine._released
        n = 0
        for event in events:
            if self.shift is None:
                when = event.time
                if n >= bound or type(event) is HttpSummary or (
                        when <= released and not (type(event) is ContainerEvent
                                                  and event.action in CONTEXT_ACTIONS)):  # type: ignore[attr-defined]
                    self._resolve(count_newlines(self.task))  # (then this event and the rest as they pass)
            if self.shift:
                event.origin = _shift_ref(event.origin, self.prefix, self.shift)
                event.event_id = _shift_ref(event.event_id, self.prefix, self.shift)
            n += 1
            yield event
        import time

        self.decoded_at = time.perf_counter()
        if self.shift is None:
            self._resolve(self.newlines if self.newlines is not None else count_newlines(self.task))
        elif not self.last and self.counts[self.index] < 0:
            self._publish(self.newlines if self.newlines is not None else count_newlines(self.task))
        if self.task.start:
            mine = stats.rejections[first_reject:]
            stats.rejections[first_reject:] = [Rejection(_shift_ref(r.where, self.prefix, self.shift or 0), r.reason)
                                               for r in mine]

    def _publish(self, newlines: int) -> None:
        if not self.last:
            self.counts[self.index] = newlines

    def _help(self, j: int, task: Task) -> None:
        """Count range `j`'s newlines, a piece at a time, unless it publishes its own count first (a whole
        range's count may take longer than the rest of its decoding: under load, 0.2 s for 268 MB)."""
        counts = self.counts
        n = 0
        for start in range(task.start, task.end or task.start, HELP_PIECE):
            if counts[j] != -1:
                return
            n += count_newlines(dataclasses.replace(task, start=start, end=min(start + HELP_PIECE, task.end)))
        if counts[j] == -1:
            counts[j] = n

    def _resolve(self, newlines: int) -> None:
        """Publish the count, wait for the earlier ranges', and shift what the engine holds."""
        import time

        self._publish(newlines)
        counts = self.counts
        began = time.monotonic()
        deadline = began + COUNT_WAIT
        tasks = _WORKER.get("tasks") or []
        while any(counts[j] < 0 for j in self.before):
            if any(counts[j] == FAILED for j in self.before) or time.monotonic() > deadline:
                raise _NoCount
            if time.monotonic() - began > HELP_AFTER:
                # an earlier range still decoding: its count from its bytes here (the same number it will
                # publish, written twice: either write will do), given up as soon as it publishes
                for j in self.before:
                    if counts[j] == -1 and j < len(tasks):
                        self._help(j, tasks[j])
                continue
            time.sleep(0.0005)
        self.waited = time.monotonic() - began
        shift = sum(counts[j] for j in self.before) - 1  # (the decoded numbers count the borrowed line)
        self.shift = shift
        if not shift:
            return
        prefix = self.prefix
        n = len(prefix)
        path = self.task.path
        buffer = self.engine._buffer
        for i, (key, event) in enumerate(buffer):
            origin = event.origin
            event_id = event.event_id
            if event_id.startswith(prefix):
                event.event_id = event_id = _shift_ref(event_id, prefix, shift)
            digits = origin[n:]
            if origin.startswith(prefix) and digits.isascii() and digits.isdigit():
                # the usual `path:57`: what `_shift_ref` and `_origin_parts` make of it, in one step
                line = int(digits) + shift
                event.origin = f"{prefix}{line}"
                buffer[i] = ((key[0], path, line, "", event_id, *key[5:]), event)
                continue
            event.origin = _shift_ref(origin, prefix, shift)
            # the key `Engine._take` makes of the shifted references (its time: as taken, a context record's too)
            ref_path, line, rest = _origin_parts(event.origin or event_id)
            buffer[i] = ((key[0], ref_path, line, rest, event_id, *key[5:]), event)


def run_task(index: int, task: Task, before: list[int], last: bool) -> dict[str, Any] | None:
    """One task's whole scan in a fresh engine: its book, counts and the report the parent checks (None:
    the newline counts of the ranges before it never came, `_RangeLines`)."""
    import resource
    import time

    started = time.process_time()
    began = time.perf_counter()
    engine = Engine(_WORKER["config"], only=_WORKER["only"], enrich_options={"intel": _WORKER["intel"]},
                    defer_cards=True)
    owners = OwnerIndex()
    owners.links = _LoggedLinks()
    engine._shared[OwnerIndex] = owners  # the instance the pod-spec cards will share (set up on first need)
    waited = decoded_at = 0.0
    if task.whole:
        src = InputFile.for_config(task.path, engine.config)
        watched = _InOrder(engine.decode_input(src, task.fmt), True)
        engine.feed(watched)
    else:
        # the identity a whole file's decoding gives the book (it counts line evidence as seen under it)
        engine.book.identities[task.path] = InputFile(task.path).identity
        lines = _RangeLines(engine, index, task, before, last)
        watched = _InOrder(lines.events(), False)
        try:
            engine.feed(watched)
        except _NoCount:
            return None
        except BaseException:
            lines.failed()
            raise
        waited, decoded_at = lines.waited, lines.decoded_at
    engine.advance(None)
    report = _report(engine, owners)
    stats = engine.stats
    return {"ok": watched.ok and report is not None, "first": watched.first, "last": watched.last,
            "handed_on": watched.handed_on, "stats": stats, "report": report or {},
            "book": engine.book.state(), "allowed": engine.allowed, "late": engine.late,
            "errors": engine.detection_errors,
            "held": {d.card.id: (d.held_back, d.held_until) for d in engine.detections_set_up() if d.held_back},
            "cpu": time.process_time() - started, "span": (began, time.perf_counter()), "pid": os.getpid(),
            "waited": waited, "decoded_at": decoded_at,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _empty(value: Any, top: bool = True) -> bool:
    """No keyed state: the state's own fields (the top dict) hold only empty containers; numbers and
    strings beside them (a clock, a version) do not count. Below the top, any entry is state."""
    if isinstance(value, dict):
        return all(_empty(v, False) for v in value.values()) if top else not value
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) == 0
    return True


def _report(engine: Engine, owners: OwnerIndex) -> dict[str, Any] | None:
    """The keys of the state a task's engine touched; None when some state is beyond what is checked."""
    clusters: list[str] = []
    for det in engine.detections_set_up():
        body = det.state()
        if det.card.id == "K8S_KubeSystemContainer":
            clusters = sorted(((body or {}).get("clusters") or {}).keys())
            continue
        if body and not _empty(body):
            return None
    for obj in engine._stateful_shared().values():
        if obj is owners:
            continue
        if not _empty(obj.state()):
            return None
    links: _LoggedLinks = owners.links  # type: ignore[assignment]
    recent = engine._recent
    # (the keys as they are, tuples: the parent compares them as sets, tens of thousands of audit IDs)
    return {"redelivery": [*recent.previous, *recent.current],
            "rotated": bool(recent.previous), "clusters": clusters,
            "recorded": list(links), "missed": list(links.missed)}


def check(tasks: list[Task], results: list[dict[str, Any]]) -> str | None:
    """Why these task results are not the one-process result (None: they are)."""
    for r in results:
        if not r["ok"]:
            return "out of order, or state that is not checked"
    by_file: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        if not task.whole:
            by_file.setdefault(task.path, []).append(i)
    for idx in by_file.values():
        idx.sort(key=lambda i: tasks[i].start)
        last = None
        for i in idx:
            first = results[i]["first"]
            if first is None:
                continue
            if last is not None and tuple(first) < tuple(last):
                return "ranges of one file out of time order"
            last = results[i]["last"]
    reports = [r["report"] for r in results]
    ids: set[tuple[str, ...]] = set()
    total = 0
    for rep in reports:
        if rep["rotated"]:
            return "redelivery memory full"
        mine = set(map(tuple, rep["redelivery"]))
        if ids & mine:
            return "one audit ID and stage in two tasks"
        ids |= mine
        total += len(mine)
    if total >= RecentIds().size:
        return "redelivery memory full"
    clusters: set[str] = set()
    for rep in reports:
        if clusters & set(rep["clusters"]):
            return "one cluster's kube-system baseline in two tasks"
        clusters |= set(rep["clusters"])
    recorded = [set(map(tuple, rep["recorded"])) for rep in reports]
    if sum(map(len, recorded)) >= k8s_owners.MAX_LINKS:
        return "owner index full"
    links: set[tuple[str, ...]] = set()
    for rec in recorded:
        if links & rec:
            return "one owner link recorded in two tasks"
        links |= rec
    for j, rep in enumerate(reports):
        missed = set(map(tuple, rep["missed"]))
        if missed and any(missed & rec for i, rec in enumerate(recorded) if i != j):
            return "an owner link recorded in one task and looked up in another"
    seen: dict[str, int] = {}
    for r in results:
        for aid, body in (r["book"].get("alerts") or {}).items():
            seen[aid] = seen.get(aid, 0) + len(body["alert"].get("seen_events") or ())
            if seen[aid] >= MAX_REMEMBERED_EVENTS:
                return "an alert's remembered events full"
    return None


def feed_detected(engine: Engine, paths: Iterable[str], fmt: str | None, workers: int, *,
                  only: set[str] | None = None, intel: list[str] | None = None,
                  min_range_bytes: int = MIN_RANGE_BYTES) -> bool:
    """Scan `paths` with detection in `workers` processes and merge the books into `engine` (which then only
    finishes). False when the split is not provably exact (nothing merged: the caller scans another way)."""
    paths = list(paths)
    LAST_RUN.clear()
    if workers < 2:
        return False
    skipped: list[tuple[str, str]] = []
    expanded = list(expand_paths(paths, on_skip=lambda p, r: skipped.append((p, r))))
    if not expanded or "-" in expanded or len(set(expanded)) < len(expanded):
        return False
    if not eligible(engine, expanded, fmt):
        return False
    tasks = plan(expanded, workers, fmt, max_line_bytes=engine.config.max_line_bytes,
                 min_range_bytes=min_range_bytes, count_lines=False, ranges_per_worker=RANGES_PER_WORKER)
    if len(tasks) < 2:
        return False
    import time

    began = time.perf_counter()
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    newlines = ctx.Array("q", [-1] * len(tasks), lock=False)
    # what the parent holds out of the collector's way before the fork: a worker's collections then do not
    # touch (and copy) every inherited page
    gc.freeze()
    try:
        return _pool(engine, paths, tasks, workers, ctx, newlines, skipped, only, intel, began)
    finally:
        gc.unfreeze()


def _pool(engine: Engine, paths: list[str], tasks: list[Task], workers: int, ctx: Any, newlines: Any,
          skipped: list[tuple[str, str]], only: set[str] | None, intel: list[str] | None, began: float) -> bool:
    with ResultsPool(max_workers=min(workers, len(tasks)), mp_context=ctx, initializer=_init,
                     initargs=(engine.config, only, list(intel or []), newlines, tasks)) as pool:
        # earlier ranges of the same file, for each range (their counts number its lines)
        before: list[list[int]] = []
        last: list[bool] = []
        for i, task in enumerate(tasks):
            mine = [j for j in range(i) if not tasks[j].whole and tasks[j].path == task.path]
            before.append(mine)
            last.append(not task.whole and not any(not t.whole and t.path == task.path for t in tasks[i + 1:]))
        # in task order (each range waits only for ranges handed out before it)
        futures = [pool.submit(run_task, i, task, before[i], last[i]) for i, task in enumerate(tasks)]
        with paused_collector():
            return _merge(engine, paths, tasks, pool, futures, skipped, began)


def _merge(engine: Engine, paths: list[str], tasks: list[Task], pool: ResultsPool, futures: list[Any],
           skipped: list[tuple[str, str]], began: float) -> bool:
    try:
        done = [f.result() for f in futures]
    except Exception:  # a worker failed or died (out of memory): the caller scans another way
        return False
    pool.all_in()
    if any(r is None for r in done):
        return False
    results: list[dict[str, Any]] = done  # type: ignore[assignment]
    cpu: dict[int, float] = {}
    rss: dict[int, float] = {}
    for r in results:  # per worker process (each ran some of the tasks)
        cpu[r["pid"]] = cpu.get(r["pid"], 0.0) + r["cpu"]
        rss[r["pid"]] = max(rss.get(r["pid"], 0.0), r["rss_mb"])
    LAST_RUN.update(worker_cpu=list(cpu.values()), worker_rss_mb=list(rss.values()),
                    task_cpu=[r["cpu"] for r in results], spans=[r["span"] for r in results], began=began,
                    task_wait=[r["waited"] for r in results], decoded_at=[r["decoded_at"] for r in results],
                    why=check(tasks, results))
    if LAST_RUN["why"] is not None:
        return False
    for path, reason in skipped:
        engine.stats.reject(f"{path}:0", reason)
    for task in tasks:
        engine.book.identities.setdefault(task.path, InputFile(task.path).identity)
    tally = UnreadTally()
    first_of = [math.inf if r["first"] is None else r["first"][0] for r in results]
    for i in sorted(range(len(tasks)), key=lambda i: (first_of[i], tasks[i].path, tasks[i].start)):
        r = results[i]
        stats: ScanStats = r["stats"]
        tally.add(tasks[i], stats, r["handed_on"])
        engine.stats.merge(stats)
    for r in results:
        engine.book.merge(r["book"])
        engine.allowed += r["allowed"]
        engine.late += r["late"]
        engine.detection_errors += r["errors"]
    add_held_back(engine, [r["held"] for r in results])
    engine.book.drain_changed()
    note_unread(engine, paths, tally.lost(), tally.read())
    return True


