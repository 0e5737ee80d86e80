"""`cloudward scan --workers N` for web and FTP logs: detection in the workers, with a shuffle by key.

    plan ─► a few tasks per worker, each a group of files (heaviest first)
    pass 1 (pool): one engine per worker ─► decode, prefilter, the stateless cards ─► each file's alert
                   book; each keyed card's events go to buckets by the card's key, written to a spool
    parent: checks each file came in the engine's order; starts pass 2 and meanwhile replays one
            process's reorder buffer
    pass 2 (pool): one task per bucket ─► fresh keyed cards over that bucket's events, in one-process order
                   (by time and path; when the replay counts an event late, again by the replayed places)
    parent: merges the books of both passes (a book is a function of its set of findings)

The web cards keep state by keys that cross files: the scanner card (`AppServices_ScanSensitivePage`)
by source address (its windows and cross-site profiles need every site of one address: a shared client
pool puts most addresses in many sites' files); AnomalousPageAccess and WebFingerprinting by site (a
site's rotated logs are several files); WpThemeInjection by site for theme edits and by theme file for
FTP uploads. The scanner card's events are bucketed by address (`KEYS`); the other three are small work
and run whole, every one of their events in one bucket - their whole run, as in one process. What the
scanner card decides for one address depends only on that address's events in the order they run, and on
no other address once the bounds that make addresses share state are not reached (checked). So each
bucket can run anywhere, as long as its events run in the order one process would run them.

That order is worked out, not assumed. One process reads the files by first event time, holds their
events in its reorder buffer, releases them in (time, origin) order after each file up to the next
file's first event, and past `max_held_events` runs the older half early and later, older events at
once ("late", out of time order). Pass 1 hands back the time of every event of each file (eight bytes
each) and checks that each file's events came in the engine's order; the parent replays that buffer
(`one_process_order`, tested against the engine's own run) and gives every event its place in the
one-process run. When that run counts no event late, it runs every event in (time, path, place in the
file) order - each release runs what it holds up to a time in that order, and a later event no older than
that time would be late - so pass 2 sorts each bucket by that key, starting while the parent replays;
otherwise pass 2 runs again, sorting each bucket by the replayed places. A scan whose one-process run
spills gets the one-process result too, spill and late count included.

Why pass 2 is the one-process result:
- the scanner card's state per address is a function of that address's events in run order (a web
  summary carries entries of several addresses: it is cut into one summary per bucket, each address's
  entries in their order; its other fields stay);
- the bounds that couple addresses are not reached, summed over the buckets: addresses tracked (windows,
  cross-site profiles), remembered hits (one request per address and site, first in first out), an
  alert's remembered events; and when some event runs out of time order, fewer windows opened than one
  window sweep needs (a sweep drops old windows a late event could still have met);
- no card failed on an event (its rejection would stand elsewhere in the order), no stateful enricher
  sees these kinds, and every other card of these kinds is stateless (its findings depend on its event).
Otherwise the caller scans another way (nothing merged).

Web logs are split by file only: a byte range would start without the decoder's recently active
addresses, whose ordinary requests it summarizes (a count that moves the scanner card's error ratio).
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import gc
import itertools
import marshal
import math
import multiprocessing
import operator
import os
import pickle
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import wait
from typing import Any

from cloudward.alerts import MAX_REMEMBERED_EVENTS
from cloudward.config import Config
from cloudward.detections.base import Detection
from cloudward.engine import Engine
from cloudward.events import Event, FtpEvent, HttpRequest, HttpSummary
from cloudward.inputs import InputFile, ScanStats, expand_paths
from cloudward.runners.detect import (
    ResultsPool,
    _event_kinds,
    _InOrder,
    _report,
    add_held_back,
    paused_collector,
)
from cloudward.runners.scan import MAX_OPEN_FILES, MERGE_BATCH, merge_in_time, note_unread
from cloudward.runners.workers import Task, UnreadTally


def _address(event: Event) -> str:
    return event.client_ip  # type: ignore[attr-defined]


#: the keyed cards that run in pass 2, and the key their events are bucketed by (summaries: per entry).
#: None: every event of the card in one bucket - its whole run, as in one process (cards whose work is
#: small, or keyed two ways: theme edits by site and FTP uploads by theme file)
KEYS: dict[str, Callable[[Event], str] | None] = {
    "AppServices_ScanSensitivePage": _address,
    "AppServices_AnomalousPageAccess": None,
    "AppServices_WebFingerprinting": None,
    "AppServices_WpThemeInjection": None,
}
#: the event kinds web and FTP logs yield; inputs of any other kind do not start this pool
WEB_KINDS = frozenset({"HttpRequest", "HttpSummary", "FtpEvent"})
#: buckets per worker (more than one evens out buckets of different weight: an address scanning many sites
#: weighs more than a bucket of others; at 1,000,000 combined lines the heaviest of 8 buckets is 23 % of the
#: pass's CPU, of 4 buckets 31 %, and 8 cost no more in all)
BUCKETS_PER_WORKER = 4
#: pass 1's tasks are groups of files, each up to 1 / (GUIDED_SHARE x workers) of the bytes left (but one
#: file): a task per file cost the pool a hand-over per file - a result sent, the next call fetched - ~3 ms
#: each, a seventh of pass 1 at 50 files on 2 workers; groups shrinking to single files at the end still let
#: the workers end the pass together (a few equal groups per worker left one idle up to a group's time)
GUIDED_SHARE = 2
#: the last scan of this process that took this way (benchmarks): worker CPU, and why it fell back
LAST_RUN: dict[str, Any] = {}


#: the kinds of the events pass 2 gets, and their fields in the order a record carries them (`_Bucket.encode`)
_KINDS = (HttpRequest, HttpSummary, FtpEvent)
_FIELDS = tuple(tuple(f.name for f in dataclasses.fields(kind)) for kind in _KINDS)


def _maker(kind: type[Event], names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], Event]:
    """`kind(**dict(zip(names, values)))` without the dict: the keywords spelled out once."""
    args = ", ".join(f"{name}=v[{i}]" for i, name in enumerate(names))
    made: dict[str, Any] = {}
    exec(f"def make(v):\n    return kind({args})\n", {"kind": kind}, made)  # (names are the dataclass's own)
    return made["make"]  # type: ignore[no-any-return]


_MAKERS = tuple(_maker(kind, names) for kind, names in zip(_KINDS, _FIELDS, strict=True))
#: each kind's fields as one tuple in one call (`attrgetter` of several names), and each kind's code
_GETTERS = tuple(operator.attrgetter(*names) for names in _FIELDS)
_CODE_OF = {kind: i for i, kind in enumerate(_KINDS)}
#: keys whose bucket a worker remembers (addresses repeat: a CRC per summary entry was a tenth of pass 1)
BUCKET_MEMO = 200_000


def eligible(engine: Engine, paths: list[str], fmt: str | None) -> bool:
    """Whether these inputs are web logs whose every card is stateless or keyed in `KEYS`."""
    return cards_eligible(engine) and inputs_eligible(engine, paths, fmt)


def inputs_eligible(engine: Engine, paths: list[str], fmt: str | None) -> bool:
    """Whether these inputs are web logs (each a web or FTP log, or unrecognized or empty; one at least web)."""
    web = False
    for path in paths:
        found = _event_kinds(path, fmt, engine.config.max_line_bytes)
        if found is None or not found <= WEB_KINDS:
            return False
        web = web or bool(found)
    return web  # (nothing but unrecognized or empty files: no pool for them)


def cards_eligible(engine: Engine) -> bool:
    """Whether every card of the web kinds is stateless or keyed in `KEYS`, and no stateful enricher."""
    if engine.hold or engine.config.section("sigma"):
        return False
    for kind in _KINDS:
        for enr in engine._enrichers_by_kind.get(kind, ()):
            if callable(getattr(enr, "state", None)):
                return False
        for det in engine._by_kind[kind]:
            if type(det).state is not Detection.state and det.card.id not in KEYS:
                return False
    return True


def bucket_of(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % buckets


# -- pass 1 ------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init(config: Config, only: set[str] | None, intel: list[str], warm: bool = False) -> None:
    _WORKER.update(config=config, only=only, intel=intel)
    if warm:  # (the pool forks while the parent still looks at the inputs: the engine is ready for pass 1)
        _worker_engine()


class _Numbered(_InOrder):
    """`_InOrder`, also noting each event's place in the file (by object id while it lives) and its time."""

    def __init__(self, events: Iterable[Event]) -> None:
        super().__init__(events, True)
        self.place: dict[int, int] = {}
        self.times = array.array("d")

    def __iter__(self):  # type: ignore[no-untyped-def]
        place = self.place
        times = self.times
        kinds = _KINDS
        for event in super().__iter__():
            if type(event) not in kinds:  # (a JSON file whose head was web records: its state is not checked)
                self.ok = False
            place[id(event)] = len(times)
            times.append(event.time)
            yield event


_CARD_CODES = tuple(KEYS)


class _Bucket:
    """The events of one bucket of one file: each event once, as (its place in the file, its kind, its
    fields' values) taken when a keyed card is offered it - what that card would see then in one process
    (the event itself is then free to go, not held with every other to the file's end) - and which keyed
    card was offered which, in the order they were offered."""

    __slots__ = ("last", "offers", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, tuple[Any, ...]]] = []
        self.offers: list[tuple[int, int]] = []
        self.last: Event | None = None  # (the event of the last row: one event offered to several cards)

    def encode(self) -> bytes:
        """Plain tuples of the events' fields (marshal: no object to reduce), pickle when a value is beyond
        marshal (an enricher's object)."""
        body = (self.rows, self.offers)
        try:
            return b"M" + marshal.dumps(body)
        except ValueError:
            return b"P" + pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL)


def _decode(blob: bytes) -> tuple[dict[int, Event], list[tuple[int, int]]]:
    rows, offers = marshal.loads(memoryview(blob)[1:]) if blob[:1] == b"M" else pickle.loads(memoryview(blob)[1:])
    events: dict[int, Event] = {}
    for seq, kind, values in rows:
        events[seq] = _MAKERS[kind](values)
    return events, offers


def _recorder(card_id: str, key: Callable[[Event], str] | None, buckets: int, numbered: _Numbered,
              out: list[_Bucket]) -> Callable[[Event], None]:
    """What a keyed card's `evaluate` becomes in pass 1: the event goes to its key's bucket (a summary's
    entries to their addresses' buckets, as one summary per bucket, in the entries' order)."""
    place = numbered.place
    code = _CARD_CODES.index(card_id)
    known: dict[Any, int] = _WORKER.setdefault(("buckets", buckets), {})
    code_of, getters = _CODE_OF, _GETTERS

    def where(value: Any) -> int:
        if len(known) >= BUCKET_MEMO:
            known.clear()
        b = known[value] = bucket_of(str(value), buckets)
        return b

    def record(event: Event) -> None:
        seq = place[id(event)]
        if type(event) is HttpSummary and key is not None:
            entries = event.entries  # type: ignore[attr-defined]
            if len(entries) == 1:  # (nearly every summary: one address's lines of one second)
                value = entries[0][1]
                b = known.get(value)
                bucket = out[where(value) if b is None else b]
                if bucket.last is not event:
                    bucket.rows.append((seq, 1, getters[1](event)))
                    bucket.last = event
                bucket.offers.append((seq, code))
                return
            parts: dict[int, list[tuple[Any, ...]]] = {}
            get = known.get
            for entry in entries:
                b = get(entry[1])
                if b is None:
                    b = where(entry[1])
                mine = parts.get(b)
                if mine is None:
                    parts[b] = [entry]
                else:
                    mine.append(entry)
            for b, entries in parts.items():
                piece = event if len(parts) == 1 else HttpSummary(
                    event_id=event.event_id, origin=event.origin, time=event.time, raw=event.raw,
                    site=event.site, entries=entries)  # type: ignore[attr-defined]
                bucket = out[b]
                if bucket.last is not piece:
                    bucket.rows.append((seq, 1, getters[1](piece)))
                    bucket.last = piece
                bucket.offers.append((seq, code))
            return
        if key is None:
            bucket = out[0]
        else:
            value = key(event)
            b = known.get(value)
            bucket = out[where(value) if b is None else b]
        if bucket.last is not event:
            kind = code_of[type(event)]
            bucket.rows.append((seq, kind, getters[kind](event)))
            bucket.last = event
        bucket.offers.append((seq, code))

    return record


def _worker_engine() -> Engine:
    """This worker's pass-1 engine: one for every file it decodes (the page and agent classifiers' caches
    then serve every file, as in one process). Stateless cards and recorders keep nothing between files."""
    engine = _WORKER.get("engine")
    if engine is None:
        engine = Engine(_WORKER["config"], only=_WORKER["only"], enrich_options={"intel": _WORKER["intel"]},
                        defer_cards=True)
        engine._setup_kinds(frozenset(_KINDS))
        _WORKER["engine"] = engine
    return engine


def first_pass(task: Task, buckets: int, spool: str, index: int) -> dict[str, Any]:
    """One file: decode, the stateless cards, the keyed cards' events in buckets (written to `spool`, one
    file per task: pass 2 reads them there, not through the parent); its book and counts."""
    import resource
    import time

    from cloudward.alerts import AlertBook

    began = time.perf_counter()
    started = time.process_time()
    engine = _worker_engine()
    engine.stats = engine.ctx.stats = ScanStats()
    engine.book = AlertBook(engine.config)
    engine.allowed = engine.detection_errors = 0
    engine._newest = engine._released = -math.inf
    src = InputFile.for_config(task.path, engine.config)
    numbered = _Numbered(engine.decode_input(src, task.fmt))
    out = [_Bucket() for _ in range(buckets)]
    for det in engine.detections_set_up():
        if det.card.id in KEYS:
            det.evaluate = _recorder(det.card.id, KEYS[det.card.id], buckets, numbered, out)  # type: ignore[method-assign]
    _run_in_order(engine, numbered)
    engine.advance(None)
    report = _report(engine, _NoOwners())  # type: ignore[arg-type]
    gc.disable()
    try:
        blobs = [part.encode() for part in out]
    finally:
        gc.enable()
    del out
    spans = []
    at = 0
    with open(os.path.join(spool, f"{index}.rec"), "wb") as fh:
        for blob in blobs:
            fh.write(blob)
            spans.append((at, len(blob)))
            at += len(blob)
    del blobs
    return {"index": index, "ok": numbered.ok and report is not None, "first": numbered.first,
            "handed_on": numbered.handed_on,
            "times": numbered.times.tobytes(), "spans": spans, "stats": engine.stats, "book": engine.book.state(),
            "identities": dict(engine.book.identities),
            "allowed": engine.allowed, "errors": engine.detection_errors, "cpu": time.process_time() - started,
            "span": (began, time.perf_counter()), "pid": os.getpid(),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def first_passes(group: list[tuple[int, Task]], buckets: int, spool: str) -> list[dict[str, Any]]:
    """`first_pass` of each (index, task) of a group, in turn."""
    return [first_pass(task, buckets, spool, index) for index, task in group]


def groups_of(sizes: list[int], workers: int) -> list[list[int]]:
    """Indexes of files in groups, in the order to hand them out: the biggest files first, each group as many
    of the next files as fit in 1 / (GUIDED_SHARE x workers) of the bytes left (at least one file)."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
    left = sum(sizes)
    groups = []
    at = 0
    while at < len(order):
        share = left / (GUIDED_SHARE * max(1, workers))
        group = [order[at]]
        weight = sizes[order[at]]
        at += 1
        while at < len(order) and weight + sizes[order[at]] <= share:
            weight += sizes[order[at]]
            group.append(order[at])
            at += 1
        left -= weight
        groups.append(group)
    return groups


def _run_in_order(engine: Engine, numbered: _Numbered) -> None:
    """A file's events through pass 1's cards as they come, without the reorder buffer: what `Engine.feed`
    and `advance(None)` would run in the buffer's (time, origin) order, when the file comes in that order -
    which `numbered` checks (else the scan falls back and this run is dropped). A fresh buffer would only
    hold, sort and release them in the order they came; the stateless cards' book does not depend on the
    order anyway. The counts are `Engine._take`'s: events but summaries, the newest time, nothing late."""
    stats = engine.stats
    run = engine._run
    newest = engine._newest
    for event in numbered:
        if type(event) is not HttpSummary:  # (a summary stands for lines counted as skipped)
            stats.events += 1
        if event.time > newest:
            newest = event.time
        run(event)
    engine._newest = newest


class _NoOwners:
    """Stands for the owner index `_report` reads (web engines have none): nothing recorded or missed."""

    class _Links(dict):  # type: ignore[type-arg]
        missed: set[Any] = set()

    def __init__(self) -> None:
        self.links = _NoOwners._Links()


# -- the one-process order ---------------------------------------------------------------------
def one_process_order(files: list[tuple[str, list[float]]], lateness: float, release_every: int,
                      max_held: int) -> tuple[list[list[int]], int, int]:
    """The place in a one-process scan's run of every event of these files (each given as its path and
    its events' times in the order they are decoded, which is the engine's order within the file), with
    how many events that scan counts as late and how often its buffer spilled.

    The replay of `runners.scan.feed_paths` (ordered) over `Engine._take`, `_spill`, `_after_feed` and
    `_release`. Several files are merged in time by the scan's own `merge_in_time` (a file opened when the
    merge reaches its first event) and fed `MERGE_BATCH` events at a time, the next unopened file's first
    time as the horizon; one file is fed whole. An event newer than any so far, or not older than the last
    release, is held; an older one runs at once (late); a held event past `max_held` makes the older half
    run (up to the time in the middle); after each feed what is older than both the newest event less
    `lateness` and the horizon runs, once `release_every` are held; at the end, the rest. Held events run
    in (time, path, place in file) order - the engine's key for events of files read this way."""
    ranks = [[0] * len(times) for _, times in files]
    buffer: list[tuple[float, str, int, int]] = []
    counter = 0
    newest = released = -math.inf
    late = spills = 0

    def release(watermark: float) -> None:
        nonlocal buffer, counter, released
        buffer.sort()
        n = len(buffer)
        if watermark != math.inf:
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) // 2
                if buffer[mid][0] <= watermark:
                    lo = mid + 1
                else:
                    hi = mid
            n = lo
        for _, _, seq, i in buffer[:n]:
            ranks[i][seq] = counter
            counter += 1
        buffer = buffer[n:]
        if watermark > released:
            released = watermark

    def take(i: int, seq: int) -> None:
        nonlocal newest, counter, late, spills
        path, times = files[i]
        when = times[seq]
        if when > newest:
            newest = when
        elif when <= released:
            late += 1
            ranks[i][seq] = counter
            counter += 1
            return
        buffer.append((when, path, seq, i))
        if len(buffer) > max_held:
            buffer.sort()
            release(buffer[len(buffer) // 2][0])
            spills += 1

    def after_feed(horizon: float) -> None:
        if len(buffer) >= release_every:
            release(min(newest - lateness, horizon))

    if len(files) == 1:
        for seq in range(len(files[0][1])):
            take(0, seq)
        after_feed(math.inf)
    elif files:
        sort = _sorted_merge(files)
        if sort is None:
            fed = 0
            for (i, seq), horizon in _merged(files):
                take(i, seq)
                fed += 1
                if fed == MERGE_BATCH:
                    after_feed(horizon)
                    fed = 0
            if fed:
                after_feed(math.inf)
        else:  # (the same, one sort: the horizon is needed only after each batch; `take` written out, the
            # parent's own work between the passes being mostly this loop)
            keyed, by_rank, horizon_after = sort
            paths = [path for path, _ in files]
            for at in range(0, len(keyed), MERGE_BATCH):
                batch = keyed[at:at + MERGE_BATCH]
                for when, r, seq in batch:
                    i = by_rank[r]
                    if when > newest:
                        newest = when
                    elif when <= released:
                        late += 1
                        ranks[i][seq] = counter
                        counter += 1
                        continue
                    buffer.append((when, paths[i], seq, i))
                    if len(buffer) > max_held:
                        buffer.sort()
                        release(buffer[len(buffer) // 2][0])
                        spills += 1
                after_feed(horizon_after(batch[-1][0]) if len(batch) == MERGE_BATCH else math.inf)
    release(math.inf)
    return ranks, late, spills


def _sorted_merge(files: list[tuple[str, list[float]]]) -> tuple[
        list[tuple[float, int, int]], list[int], Callable[[float], float]] | None:
    """`merge_in_time` over these files' events as one sort, when every file is in time order (no NaN) and
    all can be open at once - what pass 1 checked: by (time, the file's rank by (first time, path), place);
    the horizon after an event of time t is the first time after t of any file (the files opened are
    exactly those whose first time the merge has reached). Returns the sorted (time, rank, place), the file
    of each rank and the horizon function; None when the generic merge is needed. (The generic merge cost a
    generator step, a key call and a heap step per event: most of the parent's replay.)"""
    if len(files) > MAX_OPEN_FILES or not all(
            times == sorted(times) and not any(map(math.isnan, times)) for _, times in files):
        return None
    firsts = {(path, i): (times[0] if times else math.inf) for i, (path, times) in enumerate(files)}
    ranked = sorted(firsts, key=lambda source: (firsts[source], source))
    rank = {source[1]: r for r, source in enumerate(ranked)}
    keyed: list[tuple[float, int, int]] = []
    for i, (_, times) in enumerate(files):
        keyed.extend(zip(times, itertools.repeat(rank[i]), range(len(times))))
    keyed.sort()
    starts = sorted(t for t in firsts.values() if t != math.inf)

    def horizon_after(when: float) -> float:
        at = bisect.bisect_right(starts, when)
        return starts[at] if at < len(starts) else math.inf

    return keyed, [source[1] for source in ranked], horizon_after


def _merged(files: list[tuple[str, list[float]]]) -> Iterator[tuple[tuple[int, int], float]]:
    """`merge_in_time` over these files' events: (file, place) with the next unopened file's first time."""
    sort = _sorted_merge(files)
    if sort is None:
        firsts = {(path, i): (times[0] if times else math.inf) for i, (path, times) in enumerate(files)}
        yield from merge_in_time(firsts, lambda source: ((source[1], seq) for seq in range(len(files[source[1]][1]))),
                                 lambda item: files[item[0]][1][item[1]])
        return
    keyed, by_rank, horizon_after = sort
    for when, r, seq in keyed:
        yield (by_rank[r], seq), horizon_after(when)


# -- pass 2 ------------------------------------------------------------------------------------
def _read(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        return os.pread(fh.fileno(), length, offset)


def second_pass(spool: str, parts: list[tuple[int, int, int, int, int]], identities: dict[str, str],
                path_ranks: list[int] | None = None) -> dict[str, Any]:
    """One bucket: the keyed cards over their events of every file, in the one-process order (`parts`: per
    file, its task's index, where its bucket's events lie in the task's spool file, and where its events'
    places in that order lie in the spool's `ranks`); the book, and what the parent checks.

    With `path_ranks` (each part's file's rank by path) the order is worked out here, without `ranks`: by
    (time, path, place in the file, file) - the order of a one-process run that counts no event late, which
    the parent checks (`one_process_order`) while this runs."""
    import resource
    import time

    began = time.perf_counter()
    started = time.process_time()
    engine = Engine(_WORKER["config"], only=_WORKER["only"], enrich_options={"intel": _WORKER["intel"]},
                    defer_cards=True)
    # the classifiers of pass 1 (pure functions of a path or agent, with their caches warm)
    from cloudward.analytics.agents import AgentClassifier
    from cloudward.analytics.web_paths import PageClassifier

    base = _worker_engine()
    for cls in (PageClassifier, AgentClassifier):
        if cls in base._shared:
            engine._shared[cls] = base._shared[cls]
    engine._setup_kinds(frozenset(_KINDS))
    engine.book.identities.update(identities)
    found = {det.card.id: det for det in engine.detections_set_up() if det.card.id in KEYS}
    cards = [found.get(cid) for cid in _CARD_CODES]
    # (windows opened matter only when some event runs out of time order: then no sweep may have run; counted
    # always, the parent knowing that only later)
    opened = {cid: _count_opens(det) for cid, det in found.items()}
    todo: list[tuple[Any, int, Event]] = []
    # a bucket is a short task over a bounded share of the input that keeps nearly all it allocates until it
    # ends: the cyclic collector would only walk its events and windows again and again (a fifth of the pass)
    gc.disable()
    try:
        ranks = os.path.join(spool, "ranks")
        for at, (index, offset, length, rank_at, rank_n) in enumerate(parts):
            if not length:
                continue
            events, offers = _decode(_read(os.path.join(spool, f"{index}.rec"), offset, length))
            if path_ranks is not None:
                by_path = path_ranks[at]
                todo.extend(((events[seq].time, by_path, seq, index), code, events[seq]) for seq, code in offers)
                continue
            place = array.array("q")
            place.frombytes(_read(ranks, rank_at * place.itemsize, rank_n * place.itemsize))
            todo.extend((place[seq], code, events[seq]) for seq, code in offers)
        # (stable: the cards offered one event keep the order they were offered it)
        todo.sort(key=operator.itemgetter(0))
        emit = engine._emit
        failed = 0
        for _, code, event in todo:
            det = cards[code]
            try:
                findings = det.evaluate(event)  # type: ignore[union-attr]
                if findings:
                    for finding in findings:
                        emit(det, finding)  # type: ignore[arg-type]
            except Exception:
                failed += 1
        for det in found.values():
            try:
                for finding in det.finish():
                    emit(det, finding)
            except Exception:
                failed += 1
        book = engine.book.state()
    finally:
        # (what is alive now, frozen: switched back on, the collector would first walk all of it once)
        gc.freeze()
        gc.enable()
    held = {cid: (det.held_back, det.held_until) for cid, det in found.items() if det.held_back}
    # what the bucket built lives on to the worker's end (a forked worker leaves by `os._exit`, freeing
    # nothing): freed here, object by object, it cost ~4 ms between tasks, a tenth of a light bucket
    _WORKER.setdefault("kept", []).append((engine, todo))
    try:  # (marshal: half pickle's time to write and to read back)
        packed: Any = b"M" + marshal.dumps(book)
    except ValueError:
        packed = book
    return {"ok": not failed, "bounds": _bounds(found, opened), "book": packed,
            "held": held,
            "allowed": engine.allowed, "events": len(todo), "cpu": time.process_time() - started,
            "span": (began, time.perf_counter()), "pid": os.getpid(),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _count_opens(det: Detection) -> Callable[[], int] | None:
    """How many windows a card's `KeyedWindows` opened, read at the end (None: no windows). The windows
    count their opens since their last sweep; a sweep (rare: it runs once `sweep_every` opened) is noted by
    wrapping `sweep`, and then the count is the bound itself. (Wrapping the factory instead cost a call per
    window opened.)"""
    windows = getattr(det, "windows", None)
    if windows is None or not isinstance(getattr(windows, "_opened", None), int) or not callable(
            getattr(windows, "sweep", None)):
        return None
    swept = [False]
    sweep = windows.sweep

    def noted() -> None:
        swept[0] = True
        sweep()

    windows.sweep = noted
    return lambda: windows.sweep_every if swept[0] else windows._opened


#: the bound that counts only when some event of the one-process run runs out of time order (`_check_second`)
OUT_OF_ORDER_BOUNDS = frozenset({"scanner windows opened"})


def _bounds(cards: dict[str, Detection], opened: dict[str, Callable[[], int] | None]) -> dict[str, list[int]]:
    """Per bound that makes keys share state: [what this bucket used, the bound] (the parent sums)."""
    found: dict[str, list[int]] = {}

    def note(name: str, used: int, bound: int) -> None:
        found[name] = [used, bound]

    scan: Any = cards.get("AppServices_ScanSensitivePage")
    if scan is not None:
        from cloudward.detections.appservice import app_services_scan_sensitive_page as ssp

        windows = scan.windows
        note("scanner windows", len(windows.windows) + windows.expired, windows.max_keys)
        note("cross-site addresses", len(scan.cross.profiles), scan.cross.max_ips)
        note("cross-site hit events", len(scan.hit_events), ssp.MAX_HIT_EVENTS)
        # (when events run out of order: a sweep of one process could have dropped a window a late event met)
        counted = opened.get("AppServices_ScanSensitivePage")
        note("scanner windows opened", counted() if counted is not None else 0, windows.sweep_every)
    return found


# -- the parent --------------------------------------------------------------------------------
def feed_shuffled(engine: Engine, paths: Iterable[str], fmt: str | None, workers: int, *,
                  only: set[str] | None = None, intel: list[str] | None = None) -> bool:
    """Scan the web logs under `paths` in two passes over `workers` processes and merge the books into
    `engine` (which then only finishes). False when the split is not provably exact (nothing merged)."""
    paths = list(paths)
    LAST_RUN.clear()
    if workers < 2:
        return False
    skipped: list[tuple[str, str]] = []
    expanded = list(expand_paths(paths, on_skip=lambda p, r: skipped.append((p, r))))
    if len(expanded) < 2 or "-" in expanded or len(set(expanded)) < len(expanded):
        return False
    if not cards_eligible(engine):
        return False
    # the biggest input first: when it is a web log, the pool forks (its workers set up their engines) while
    # the parent looks at the heads of the others; when it is not, no pool starts
    biggest = max(expanded, key=_size)
    found = _event_kinds(biggest, fmt, engine.config.max_line_bytes)
    if found is None or not found <= WEB_KINDS:  # (an empty or unrecognized one: the others decide)
        return False
    tasks = [Task(path, fmt=fmt) for path in expanded]
    import time

    began = time.perf_counter()
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    gc.freeze()
    try:
        return _pool(engine, paths, tasks, workers, ctx, skipped, only, intel, began, fmt)
    finally:
        gc.unfreeze()


def _pool(engine: Engine, paths: list[str], tasks: list[Task], workers: int, ctx: Any,
          skipped: list[tuple[str, str]], only: set[str] | None, intel: list[str] | None, began: float,
          fmt: str | None) -> bool:

    import shutil
    import tempfile

    spool = tempfile.mkdtemp(prefix="cloudward-shuffle-")
    try:
        return _passes(engine, paths, tasks, workers, ctx, skipped, only, intel, began, spool, fmt)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def _passes(engine: Engine, paths: list[str], tasks: list[Task], workers: int, ctx: Any,
            skipped: list[tuple[str, str]], only: set[str] | None, intel: list[str] | None, began: float,
            spool: str, fmt: str | None) -> bool:
    buckets = max(2, workers * BUCKETS_PER_WORKER)
    with ResultsPool(max_workers=min(workers, len(tasks)), mp_context=ctx, initializer=_init,
                     initargs=(engine.config, only, list(intel or []), True)) as pool:
        pool.submit(int)  # (forks the workers now)
        if not inputs_eligible(engine, [task.path for task in tasks], fmt):
            LAST_RUN.update(why="an input that is not a web log")
            return False
        # the heaviest groups first: the pass ends with light ones, not with one worker still on a heavy one
        groups = groups_of([_size(task.path) for task in tasks], workers)
        futures = [pool.submit(first_passes, [(i, tasks[i]) for i in group], buckets, spool) for group in groups]
        with paused_collector():
            return _collect(engine, paths, tasks, pool, futures, buckets, spool, skipped, began)


def _collect(engine: Engine, paths: list[str], tasks: list[Task], pool: ResultsPool,
             futures: list[Any], buckets: int, spool: str, skipped: list[tuple[str, str]],
             began: float) -> bool:
    """Pass 1's results, the one-process order, pass 2 on the same pool, the merge (nothing merged: False)."""
    import time

    try:
        done = [r for future in futures for r in future.result()]
    except Exception:  # a worker failed or died: the caller scans another way
        return False
    firsts: list[dict[str, Any]] = sorted(done, key=lambda r: r["index"])
    # the identities a one-process decode gives the book (its line evidence counts as seen under them)
    identities: dict[str, str] = {}
    for r in firsts:
        identities.update(r["identities"])
    why = _check_first(firsts)
    if why is not None:
        LAST_RUN.update(why=why)
        return False
    LAST_RUN["first pass"] = time.perf_counter() - began
    paths_of = [r["first"][1] if r["first"] is not None else task.path for task, r in zip(tasks, firsts, strict=True)]
    # the heaviest buckets first (their bytes in the spool): the pass ends on light ones, not one worker
    # still on a heavy one
    weight = [sum(r["spans"][b][1] for r in firsts) for b in range(buckets)]
    heaviest = sorted(range(buckets), key=lambda b: -weight[b])
    # pass 2 starts at once, each bucket ordering its events by time and path; the parent meanwhile replays
    # the one-process order, which is that order when it counts no event late (else pass 2 runs again)
    by_path = {path: r for r, path in enumerate(sorted(set(paths_of)))}
    path_ranks = [by_path[path] for path in paths_of]
    jobs = {b: pool.submit(second_pass, spool, [(i, *r["spans"][b], 0, 0) for i, r in enumerate(firsts)],
                           identities, path_ranks) for b in heaviest}
    settings = engine.settings
    files = []
    for path, r in zip(paths_of, firsts, strict=True):
        times = array.array("d")
        times.frombytes(r["times"])
        files.append((path, times.tolist()))
    # (the pool's threads hand pass 2 its tasks and take their results while this thread replays: with the
    # default switch interval, each of their steps waited up to 5 ms for the replay to let go of the GIL)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, 0.0002))
    try:
        ranks, late, spills = one_process_order(files, settings.allowed_lateness, settings.release_every,
                                                settings.max_held_events)
    finally:
        sys.setswitchinterval(interval)
    LAST_RUN["order"] = time.perf_counter() - began
    LAST_RUN["replayed"] = bool(late)
    if late:
        for job in jobs.values():
            job.cancel()
        wait(jobs.values())
        # every event's place in that order, for pass 2 to read beside the events (one array, by task)
        places = array.array("q")
        starts = []
        for mine in ranks:
            starts.append(len(places))
            places.extend(mine)
        with open(os.path.join(spool, "ranks"), "wb") as fh:
            places.tofile(fh)
        del places
        jobs = {b: pool.submit(second_pass, spool, [(i, *r["spans"][b], starts[i], len(ranks[i]))
                                                    for i, r in enumerate(firsts)], identities) for b in heaviest}
    del ranks
    found: dict[int, dict[str, Any]] = {}
    try:
        for b in heaviest:  # (about the order they end: each book read while the others run)
            r = found[b] = jobs[b].result()
            if isinstance(r["book"], bytes):
                r["book"] = marshal.loads(memoryview(r["book"])[1:])
    except Exception:
        return False
    seconds = [found[b] for b in range(buckets)]
    pool.all_in()
    LAST_RUN["second pass"] = time.perf_counter() - began
    why = _check_second(seconds, spills > 0) or _check_books([*firsts, *seconds])
    cpu: dict[int, float] = {}
    rss: dict[int, float] = {}
    for r in (*firsts, *seconds):
        cpu[r["pid"]] = cpu.get(r["pid"], 0.0) + r["cpu"]
        rss[r["pid"]] = max(rss.get(r["pid"], 0.0), r["rss_mb"])
    LAST_RUN.update(pass_cpu=[sum(r["cpu"] for r in firsts), sum(r["cpu"] for r in seconds)],
                    worker_cpu=list(cpu.values()), worker_rss_mb=list(rss.values()), began=began, why=why,
                    late=late, spills=spills, buckets=[r["events"] for r in seconds],
                    bounds=_used(seconds), spans=[(r["pid"], *r["span"]) for r in (*firsts, *seconds)])
    if why is not None:
        return False
    for path, reason in skipped:
        engine.stats.reject(f"{path}:0", reason)
    engine.book.identities.update(identities)
    tally = UnreadTally()
    first_of = [math.inf if r["first"] is None else r["first"][0] for r in firsts]
    for i in sorted(range(len(tasks)), key=lambda i: (first_of[i], tasks[i].path)):
        stats: ScanStats = firsts[i]["stats"]
        tally.add(tasks[i], stats, firsts[i]["handed_on"])
        engine.stats.merge(stats)
    for r in (*firsts, *seconds):
        engine.book.merge(r["book"])
        engine.allowed += r["allowed"]
    engine.late += late
    engine.spills += spills
    add_held_back(engine, [r["held"] for r in seconds])
    engine.book.drain_changed()
    note_unread(engine, paths, tally.lost(), tally.read())
    return True


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _check_first(results: list[dict[str, Any]]) -> str | None:
    for r in results:
        if not r["ok"]:
            return "out of order, or state that is not checked"
        if r["errors"]:
            return "a card failed on an event"
    return None


def _used(results: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Per bound that makes keys share state: [what the buckets used together, the bound]."""
    used: dict[str, list[int]] = {}
    for r in results:
        for name, (n, bound) in r["bounds"].items():
            have = used.setdefault(name, [0, bound])
            have[0] += n
    return used


def _check_second(results: list[dict[str, Any]], out_of_order: bool) -> str | None:
    if not all(r["ok"] for r in results):
        return "a keyed card failed on an event"
    for name, (n, bound) in _used(results).items():
        if n >= bound and (out_of_order or name not in OUT_OF_ORDER_BOUNDS):
            return f"{name}: one process would reach its bound ({bound:,})"
    return None


def _check_books(results: list[dict[str, Any]]) -> str | None:
    seen: dict[str, int] = {}
    for r in results:
        for aid, body in (r["book"].get("alerts") or {}).items():
            seen[aid] = seen.get(aid, 0) + len(body["alert"].get("seen_events") or ())
            if seen[aid] >= MAX_REMEMBERED_EVENTS:
                return "an alert's remembered events full"
    return None
