"""`cloudward scan --workers N`: decoding spread over a process pool, detection exactly as one process.

    plan ─► tasks (a whole file, or a byte range of one big file cut at line boundaries)
    pool: one Engine per worker process, holding ─► decode the task ─► `checkpoint()` (the held events)
    parent: `Engine.merge` of the checkpoints in the scan's own order ─► cards run in event-time order

Which analytics need a shuffle by key? All of them can, and most of them would be wrong without one:
the cross-site scanner profile (every site one source IP touched), per-address windows (a burst
straddling two byte ranges), site baselines (learning periods on event time), the owner index and
kube-system baselines (per cluster), process trees and container context (per host), the alert book's
dedup (per alert key) and the audit redelivery ids (an audit ID in two files). Merging two partial
*card* states is not exact for windows and "first seen" learning: a window open at the end of one
range and the requests that close it in the next would each fall short of the threshold. So the
shuffle here is by event time, the key every one of those analytics orders by: workers hand back
their decoded, prefiltered events (the engine's reorder buffer, in its checkpoint), and the parent
engine runs them as one time-ordered stream. That is exact by construction — the same ordering key
(time, origin file, line, ...) a one-process scan uses — and keeps every card's keyed state in one
place. The work that scales with input bytes (reading, decompressing, JSON and log-line decoding, the
raw-line prefilters that drop most web and audit lines) runs in the workers.

Line numbers stay right for byte ranges: the parent counts the newlines before each range, and the
worker shifts every `file:line` reference (origins, event ids, rejections) by that count.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import itertools
import math
import multiprocessing
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, BinaryIO

import orjson

from cloudward import parsers
from cloudward.config import Config
from cloudward.datalists import shipped
from cloudward.engine import CONTEXT_ACTIONS, Engine
from cloudward.events import ContainerEvent, Event
from cloudward.inputs import GZIP_MAGIC, InputFile, Rejection, ScanStats, expand_paths
from cloudward.parsers.base import Format, Head, JsonDialect
from cloudward.parsers.json_records import JsonRecords
from cloudward.runners.scan import MIN_POOL_BYTES, feed_paths, input_bytes, note_unread  # noqa: F401

#: a file is cut into byte ranges only when each range gets at least this much
MIN_RANGE_BYTES = 4 << 20
#: ranges per worker for one big file (more than one evens out ranges that decode at different speeds)
RANGES_PER_WORKER = 2


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class Task:
    """One unit of decoding: a whole input, or bytes [start, end) of a file beginning after `lines_before`
    lines, decoded as `fmt` (the format sniffed from the head of the whole file)."""

    path: str
    start: int = 0
    end: int | None = None
    lines_before: int = 0
    fmt: str | None = None

    @property
    def whole(self) -> bool:
        return self.end is None


# -- planning ------------------------------------------------------------------------------------
def splittable_format(path: str, fmt: str | None, max_line_bytes: int) -> str | None:
    """The format name to decode byte ranges of `path` as, or None when the file must be read whole
    (compressed, not a regular file, a format whose records span lines, JSON that is not JSON lines)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:2] == GZIP_MAGIC:
        return None
    allowed = set(shipped("line_independent_formats"))
    if fmt:
        chosen = parsers.by_name(fmt)
        name = "json" if isinstance(chosen, JsonDialect) else fmt
    else:
        src = InputFile(path, max_line_bytes=max_line_bytes)
        try:
            src.open()
            found = parsers.sniff(Head.of(src))
        except OSError:
            return None
        finally:
            src.close()
        if found is None:
            return None
        name = found.name
    if name not in allowed or _first_line(path, max_line_bytes) is None:
        return None
    if name == "combined":
        # virtual-host logs always read the first line of each site: a range would meet "first" lines
        # the whole file does not have
        from cloudward.parsers.clf import detect_ip_column
        src = InputFile(path, max_line_bytes=max_line_bytes)
        try:
            src.open()
            vhost = detect_ip_column(Head.of(src).lines)
        finally:
            src.close()
        if vhost:
            return None
    if name == "json":
        first = head.split(b"\n", 1)[0].strip()
        if b"\n" not in head or not first.startswith(b"{"):
            return None
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
    return fmt or name


def _line_start_after(fh: Any, offset: int) -> int:
    """The offset of the first line that starts at or after `offset` (a line boundary)."""
    if offset <= 0:
        return 0
    fh.seek(offset - 1)
    while True:
        block = fh.read(1 << 16)
        if not block:
            return fh.tell()
        nl = block.find(b"\n")
        if nl >= 0:
            return fh.tell() - len(block) + nl + 1


def split_file(path: str, pieces: int, fmt: str, *, count_lines: bool = True) -> list[Task]:
    """`path` as `pieces` byte ranges cut at line starts, each knowing how many lines come before it
    (with `count_lines`; otherwise the pool counts them, see `number_ranges`)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        cuts = sorted({_line_start_after(fh, size * i // pieces) for i in range(pieces)} | {size})
    tasks = [Task(path, a, b, 0, fmt) for a, b in itertools.pairwise(cuts) if a < b]
    if count_lines:
        tasks = number_ranges(tasks, [count_newlines(t) for t in tasks])
    return tasks


def count_newlines(task: Task) -> int:
    """Newlines in a task's byte range (0 for a whole input).

    Read in 4 MiB blocks into one buffer; each block is counted in C (`_speedups.count_newlines`: memchr
    from newline to newline, a tenth of the read's own time), or without the extension walked from newline
    to newline (`find` is memchr too: audit records are KBs long) until 4096 were found in it, and a block
    of short lines counted whole (`count`)."""
    if task.whole:
        return 0
    try:
        from cloudward._speedups import count_newlines as counted
    except ImportError:  # (an extension built before it had this function, or none)
        counted = None
    buf = bytearray(1 << 22)
    view = memoryview(buf)
    n = 0
    with open(task.path, "rb", buffering=0) as fh:
        fh.seek(task.start)
        left = task.end - task.start  # type: ignore[operator]
        find = buf.find
        while left > 0:
            got = fh.readinto(view[:min(len(buf), left)])
            if not got:
                break
            left -= got
            if counted is not None:
                n += counted(buf, 0, got)
                continue
            pos = found = 0
            while found < 4096:
                at = find(b"\n", pos, got)
                if at < 0:
                    break
                found += 1
                pos = at + 1
            else:
                n += buf.count(b"\n", pos, got)
            n += found
    return n


def _newline_counter() -> Callable[[Any, int, int], int]:
    """`count(buffer, start, end)`: the newlines in buffer[start:end] (in C when the extension has it)."""
    try:
        from cloudward._speedups import count_newlines as counted
    except ImportError:  # (an extension built before it had this function, or none)
        def counted(buf: Any, start: int, end: int) -> int:
            return bytes(memoryview(buf)[start:end]).count(b"\n")
    return counted  # type: ignore[no-any-return]


def number_ranges(tasks: list[Task], newlines: list[int]) -> list[Task]:
    """Give each byte range the count of lines before it, from every range's own newline count."""
    out = []
    before: dict[str, int] = {}
    for task, n in zip(tasks, newlines, strict=True):
        if task.whole:
            out.append(task)
            continue
        out.append(dataclasses.replace(task, lines_before=before.get(task.path, 0)))
        before[task.path] = before.get(task.path, 0) + n
    return out


def plan(paths: Iterable[str], workers: int, fmt: str | None = None, *,
         max_line_bytes: int = 4 * 1024 * 1024, min_range_bytes: int = MIN_RANGE_BYTES,
         count_lines: bool = True, ranges_per_worker: int = RANGES_PER_WORKER) -> list[Task]:
    """The tasks for `paths`: one per file, except big line-oriented files, which are cut in ranges
    (numbered here, or by the caller from `count_newlines` of each range when not `count_lines`)."""
    tasks: list[Task] = []
    for path in expand_paths(list(paths)):
        size = None
        if path != "-":
            try:
                st = os.stat(path)
                size = st.st_size if os.path.isfile(path) else None
            except OSError:
                size = None
        pieces = min(workers * ranges_per_worker, (size or 0) // max(1, min_range_bytes))
        if workers > 1 and pieces >= 2 and size:
            range_fmt = splittable_format(path, fmt, max_line_bytes)
            if range_fmt is not None:
                tasks.extend(split_file(path, pieces, range_fmt, count_lines=count_lines))
                continue
        tasks.append(Task(path, fmt=fmt))
    return tasks


# -- decoding in a worker ------------------------------------------------------------------------
#: a line number as the decoders write it (the general `isdigit` walk below stays for anything else)
_LINE_DIGITS = re.compile(r"[0-9]+")


def _shift_ref(text: str, prefix: str, lines: int) -> str:
    """`path:57...` -> `path:(57+lines)...` when `text` starts with `prefix` (`path:`) and a line number.
    (Called for two references of every event of a range after the first: the digits are found by one
    match, and walked character by character only when something other than an ASCII digit run is there.)"""
    if not text.startswith(prefix):
        return text
    n = len(prefix)
    found = _LINE_DIGITS.match(text, n)
    if found is not None:
        i = found.end()
        if i == len(text) or not text[i].isdigit():  # (where the walk below would end too)
            return f"{prefix}{int(text[n:i]) + lines}{text[i:]}"
    i = n
    end = len(text)
    while i < end and text[i].isdigit():
        i += 1
    if i == n:
        return text
    return f"{prefix}{int(text[n:i]) + lines}{text[i:]}"


def _ref_line(ref: str, prefix: str) -> int:
    """The line number in `path:57...` (0 when `ref` is not such a reference)."""
    if ref.startswith(prefix):
        i = n = len(prefix)
        while i < len(ref) and ref[i].isdigit():
            i += 1
        if i > n:
            return int(ref[n:i])
    return 0


def _local_line(event: Event, prefix: str) -> int:
    return _ref_line(event.origin, prefix) or _ref_line(event.event_id, prefix)


def _on_line_one(event: Event, prefix: str) -> bool:
    """`_local_line(event, prefix) == 1`, deciding the common case from the origin's first digits: a
    number that starts with 2-9, or with 1 and another digit, is not 1 (asked of every event of a range
    after the first, to drop the borrowed first line's)."""
    origin = event.origin
    if origin.startswith(prefix):
        n = len(prefix)
        first = origin[n:n + 1]
        if first and first in "23456789":
            return False
        if first == "1":
            second = origin[n + 1:n + 2]
            if second and second in "0123456789":
                return False
    return _local_line(event, prefix) == 1


def _first_line(path: str, limit: int) -> bytes | None:
    """The file's first line with its newline, or None when it is longer than `limit`."""
    with open(path, "rb") as fh:
        line = fh.readline(limit + 1)
    return line if line.endswith(b"\n") else None


def _parse(chosen: Any, src: InputFile, ctx: Any) -> Iterator[Event]:
    if isinstance(chosen, JsonDialect):
        return JsonRecords().parse(src, ctx, forced=chosen)
    if isinstance(chosen, Format):
        return chosen.parse(src, ctx)
    raise ValueError(f"no format {chosen!r} for a byte range")  # plan() only makes ranges of known formats


def _take_out(stats: ScanStats, extra: ScanStats) -> None:
    """Subtract from `stats` the counts of `extra` (what a range's borrowed first line alone added):
    the plain counters, and the per-reason and per-format tallies, dropping keys that fall to zero."""
    for name in ("lines", "skipped", "ignored", "rejected", "uninspectable", "duplicates", "bytes_read"):
        setattr(stats, name, getattr(stats, name) - getattr(extra, name))
    for counter, less in ((stats.reject_reasons, extra.reject_reasons), (stats.formats, extra.formats)):
        counter.subtract(less)
        for key in [k for k, v in counter.items() if v <= 0]:
            del counter[key]


class _RangeReader(io.RawIOBase):
    """`prefix`, then bytes [start, end) of an open file, as one seekable raw stream (read as the decoder
    asks: no copy of the range, and under a `BufferedReader` no layer more than a whole file has)."""

    def __init__(self, prefix: bytes, fh: BinaryIO, start: int, end: int, *, count: bool = False) -> None:
        self._prefix = prefix
        self._fh = fh
        self._start = start
        self._end = end
        self._size = len(prefix) + end - start
        self._pos = 0
        #: with `count`: the newlines in the file's bytes [start, start + counted_to) handed out so far (each
        #: counted once as it passes, in the buffer it was just read into: no second read of the range)
        self._counter = _newline_counter() if count else None
        self.newlines = 0
        self.counted_to = 0
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        self._fh.seek(self._start + max(0, self._pos - len(self._prefix)))
        return self._pos

    def readinto(self, buf: Any) -> int:
        want = min(len(buf), self._size - self._pos)
        if want <= 0:
            return 0
        n = 0
        lead = len(self._prefix)
        if self._pos < lead:
            n = min(want, lead - self._pos)
            buf[:n] = self._prefix[self._pos:self._pos + n]
            self._pos += n
            if n == want:
                return n
        got = self._fh.readinto(memoryview(buf)[n:want]) or 0
        if self._counter is not None and got:
            # only bytes that extend the counted start of the range [0, counted_to) count: a seek back re-reads
            # counted ones, and after a seek past it the rest is counted from the file (`range_newlines`)
            at = self._pos - lead  # (the file range's offset of these bytes)
            fresh = self.counted_to - at
            if 0 <= fresh < got:
                self.newlines += self._counter(buf, n + fresh, n + got)
                self.counted_to = at + got
        self._pos += got
        return n + got

    def range_newlines(self) -> int:
        """The newlines of the whole file range: those counted as they passed, and any the decoder did not
        read (it stopped early) counted from the file."""
        rest = self._end - self._start - self.counted_to
        if rest <= 0:
            return self.newlines
        path = getattr(self._fh, "name", None)
        if not isinstance(path, str):
            raise ValueError("a byte range's newlines cannot be counted without its path")
        return self.newlines + count_newlines(Task(path, self._start + self.counted_to, self._end))

    def close(self) -> None:
        self._fh.close()
        super().close()


class _RangeInput(InputFile):
    """A byte range of a file behind a borrowed first line, as one input (read as it is decoded)."""

    def __init__(self, path: str, *, max_line_bytes: int, prefix: bytes, fh: BinaryIO, start: int,
                 end: int, count: bool = False) -> None:
        super().__init__(path, max_line_bytes=max_line_bytes)
        self._range = (prefix, fh, start, end)
        self._count = count
        #: the readers opened on the range (the last one read it: `range_newlines`)
        self.readers: list[_RangeReader] = []

    @property
    def size(self) -> int | None:
        prefix, _, start, end = self._range
        return len(prefix) + end - start

    def _open_raw(self) -> BinaryIO:
        reader = _RangeReader(*self._range, count=self._count)
        self.readers.append(reader)
        return io.BufferedReader(reader, buffer_size=1 << 16)  # type: ignore[return-value]


def decode_range(engine: Engine, task: Task, counted: Callable[[int], None] | None = None) -> Iterator[Event]:
    """The events of a byte range, with the line numbers of the whole file (counts go to `engine.ctx`).

    A range after the first is decoded behind the file's own first line: parsers read a file's first
    line always and choose per-file layout from its head (the client-address column of a web log), so
    the range's lines are judged exactly as in the whole file. That borrowed line's event and counts are
    taken out again (it belongs to the first range).

    With `counted`, the range's newlines are counted as its bytes are read, and `counted(n)` is called once
    the decoder has read them all (before the generator ends; not when it is closed early)."""
    ctx = engine.ctx
    stats = ctx.stats
    limit = engine.config.max_line_bytes
    if task.start == 0:
        stats.files += 1
    try:
        borrowed = _first_line(task.path, limit) if task.start else b""
        fh = open(task.path, "rb")
    except OSError as exc:
        stats.reject(f"{task.path}:{task.lines_before + 1}", f"cannot open: {exc.strerror or exc}")
        return
    if borrowed is None:  # plan() does not cut files whose first line is over the limit
        fh.close()
        raise ValueError(f"{task.path}: first line longer than {limit} bytes")
    chosen = parsers.by_name(task.fmt or "")
    prefix = f"{task.path}:"
    shift = task.lines_before - (1 if borrowed else 0)
    if borrowed:  # what the borrowed line alone adds to the counts, to take out afterwards
        alone = ctx.replaced(stats=ScanStats())
        one = InputFile(task.path, max_line_bytes=limit, data=borrowed)
        one.open()
        for _ in _parse(chosen, one, alone):
            pass
        extra = alone.stats
    src = _RangeInput(task.path, max_line_bytes=limit, prefix=borrowed, fh=fh, start=task.start,
                      end=task.end, count=counted is not None)  # type: ignore[arg-type]
    src.open()
    first_reject = len(stats.rejections)
    try:
        n = 0
        for event in _parse(chosen, src, ctx):
            if borrowed and _on_line_one(event, prefix):
                continue
            if not getattr(event, "entries", None):  # (summaries of lines are no records: as `parsers.Counted`)
                n += 1
            if shift:
                event.origin = _shift_ref(event.origin, prefix, shift)
                event.event_id = _shift_ref(event.event_id, prefix, shift)
            yield event
        if not isinstance(chosen, JsonRecords | JsonDialect):
            stats.formats[chosen.name] += n
        if counted is not None:
            counted(src.readers[-1].range_newlines() if src.readers else count_newlines(task))
    finally:
        src.close()
        mine = stats.rejections[first_reject:]
        if borrowed:
            mine = [r for r in mine if _ref_line(r.where, prefix) != 1]
            _take_out(stats, extra)
        stats.rejections[first_reject:] = [Rejection(_shift_ref(r.where, prefix, shift), r.reason) for r in mine]


_WORKER: dict[str, Any] = {}


def _worker_init(config: Config, only: set[str] | None, intel: list[str]) -> None:
    engine = Engine(config, only=only, enrich_options={"intel": intel})
    engine.hold = True
    # a worker only decodes: everything it reads is handed back, so nothing may run early
    engine.settings = dataclasses.replace(engine.settings, max_held_events=sys.maxsize)
    _WORKER["engine"] = engine


def _reset(engine: Engine) -> None:
    engine.stats = ScanStats()
    engine.ctx.stats = engine.stats
    engine._buffer = []
    engine._newest = -math.inf
    engine._fed.ordinal = 0
    engine._thaw()


def probe(task: Task) -> tuple[float, int]:
    """A task's first event time and the newlines in its range (the first pass over the pool)."""
    return first_time_of(task), count_newlines(task)


def first_time_of(task: Task) -> float:
    """The time of a task's first timed event (decoding stops there); inf when it has none."""
    engine: Engine = _WORKER["engine"]
    _reset(engine)
    if task.whole:
        from cloudward.runners.scan import first_time
        return first_time(engine, task.path, task.fmt)
    end = min(task.end or 0, task.start + (1 << 16))
    part = dataclasses.replace(task, end=end)
    events = decode_range(engine, part)
    try:
        for event in events:
            if not (type(event) is ContainerEvent and event.action in CONTEXT_ACTIONS):  # type: ignore[attr-defined]
                return event.time
    except (OSError, ValueError):
        return math.inf
    finally:
        events.close()
    return math.inf


def pack(state: dict[str, Any]) -> bytes:
    """A checkpoint as one bytes object: JSON (pickle when a value is beyond JSON, a 100-bit number).

    One flat object crosses the process boundary cheaply; unpickling a checkpoint's many small objects
    in the pool's result thread ran the cyclic collector over and over (9 s for 65 MB)."""
    try:
        return b"J" + orjson.dumps(state)
    except TypeError:
        return b"P" + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(blob: bytes) -> dict[str, Any]:
    """`pack` undone, with the cyclic collector paused (it would walk every object made so far)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(memoryview(blob)[1:]) if blob[:1] == b"J" else pickle.loads(memoryview(blob)[1:])
    finally:
        if enabled:
            gc.enable()


class _Counted:
    """The events of a task as they pass, counted, with the time of the first one `first_time_of` would
    find (the first event of a whole input; of a byte range, the first that is not a context record)."""

    def __init__(self, events: Iterable[Event], whole: bool) -> None:
        self.events = events
        self.whole = whole
        self.handed_on = 0
        self.first = math.inf

    def __iter__(self) -> Iterator[Event]:
        for event in self.events:
            self.handed_on += 1
            if self.first == math.inf and (self.whole or not (
                    type(event) is ContainerEvent and event.action in CONTEXT_ACTIONS)):  # type: ignore[attr-defined]
                self.first = event.time
            yield event


def run_task(task: Task) -> tuple[dict[str, Any], ScanStats, int, float]:
    """Decode one task into the worker's holding engine; its checkpoint (the held events), counts, how
    many events the decoder handed on (with the counts, what tells whether an input was read) and the
    time of its first event (`first_time_of`, learnt on the way)."""
    engine: Engine = _WORKER["engine"]
    _reset(engine)
    if task.whole:
        src = InputFile(task.path, max_line_bytes=engine.config.max_line_bytes)
        counted = _Counted(engine.decode_input(src, task.fmt), True)
        engine.feed(counted)
        del engine.unread_inputs[:]  # the parent judges inputs from every task's counts (`UnreadTally`)
    else:
        counted = _Counted(decode_range(engine, task), False)
        engine.feed(counted)
    gc.disable()
    try:
        state = engine.checkpoint()
    finally:
        gc.enable()
    stats = engine.stats
    _reset(engine)
    return state, stats, counted.handed_on, counted.first


def run_packed(task: Task) -> tuple[bytes, ScanStats, int, float]:
    state, stats, handed_on, first = run_task(task)
    return pack(state), stats, handed_on, first


class UnreadTally:
    """Which inputs of a parallel scan had content of which nothing was read, judged per file over all its
    tasks (a byte range of nothing but rejected lines is no loss when another range of the file was read)
    by the rule `Engine.decode_input` applies to a whole input: no event handed on, nothing skipped as
    uninteresting or duplicate, something rejected."""

    def __init__(self) -> None:
        self.handed_on: dict[str, int] = {}
        self.quiet: dict[str, int] = {}
        self.rejected: dict[str, int] = {}

    def add(self, task: Task, stats: ScanStats, handed_on: int) -> None:
        path = task.path
        self.handed_on[path] = self.handed_on.get(path, 0) + handed_on
        self.quiet[path] = self.quiet.get(path, 0) + stats.skipped + stats.duplicates
        self.rejected[path] = self.rejected.get(path, 0) + stats.rejected

    def lost(self) -> list[str]:
        return [p for p in self.handed_on
                if self.handed_on[p] == 0 and self.quiet[p] == 0 and self.rejected[p] > 0]

    def read(self) -> list[str]:
        lost = set(self.lost())
        return [p for p in self.handed_on if p not in lost]


# -- the parent ----------------------------------------------------------------------------------
def feed_parallel(engine: Engine, paths: Iterable[str], fmt: str | None, workers: int, *,
                  only: set[str] | None = None, intel: list[str] | None = None,
                  on_task: Callable[[Task], None] | None = None,
                  min_range_bytes: int = MIN_RANGE_BYTES) -> list[Task]:
    """Decode `paths` on `workers` processes and merge what they read into `engine`, in the order a
    one-process scan reads it (by each task's first event time, then path and offset): what the next
    tasks cannot precede runs as the merge goes, so the parent holds only tasks that overlap in time."""
    paths = list(paths)

    def skipped(path: str, reason: str) -> None:  # as `feed_paths` reports a FIFO or unreadable entry of a folder
        engine.stats.reject(f"{path}:0", reason)

    expanded = list(expand_paths(paths, on_skip=skipped))
    stdin = [p for p in expanded if p == "-"]
    tasks = plan([p for p in expanded if p != "-"], workers, fmt,
                 max_line_bytes=engine.config.max_line_bytes, min_range_bytes=min_range_bytes, count_lines=False)
    if len(tasks) < 2:  # nothing to share out: one process, no pool to start
        feed_paths(engine, paths, fmt, ordered=True)
        return tasks
    tally = UnreadTally()
    # the identities a one-process decode gives the book (this engine counts the line evidence as seen)
    for task in tasks:
        engine.book.identities.setdefault(task.path, InputFile(task.path).identity)
    # fork where there is one: workers start with the parent's modules and packaged data lists loaded
    # (a fresh interpreter pays ~1.5 s for those); the parent runs no threads while it forks
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks) or 1)), mp_context=ctx,
                             initializer=_worker_init,
                             initargs=(engine.config, only, list(intel or []))) as pool:
        # only byte ranges need a first look (the lines before each range number its lines); a whole
        # file's first event time is learnt while it is decoded, not by decoding its head twice (a web
        # log whose prefilters drop every line up to the first attack was read whole by that look)
        ranges = [i for i, t in enumerate(tasks) if not t.whole]
        probed = dict(zip(ranges, pool.map(probe, [tasks[i] for i in ranges]), strict=True))
        tasks = number_ranges(tasks, [probed[i][1] if i in probed else 0 for i in range(len(tasks))])
        #: first event time of each task not merged yet (None: a whole file still being decoded)
        pending: dict[int, float | None] = {i: probed[i][0] if i in probed else None for i in range(len(tasks))}
        firsts: dict[int, float] = {}
        done: dict[int, tuple[ScanStats, int]] = {}
        lateness = engine.settings.allowed_lateness
        futures = {pool.submit(run_packed, task): i for i, task in enumerate(tasks)}
        # merged as they finish: held events are ordered by the engine's own key whatever the merge order,
        # and what is released never passes the first event time of a task still out (unknown: nothing)
        for future in as_completed(futures):
            i = futures[future]
            blob, stats, handed_on, first = future.result()
            del future
            firsts[i] = first if i not in probed else probed[i][0]
            done[i] = (stats, handed_on)
            if on_task is not None:
                on_task(tasks[i])
            # rebuilding held events allocates much and frees nothing: the cyclic collector would walk
            # every event already held again and again (3x the merge's time on big audit records)
            state = unpack(blob)
            del blob
            gc.disable()
            try:
                engine.merge(state)
            finally:
                gc.enable()
            del state
            del pending[i]
            # held events out of the cyclic collector's way, as the engine does for what it decodes itself
            engine._freeze()
            if not engine.hold and len(engine._buffer) >= engine.settings.release_every \
                    and None not in pending.values():
                horizon = min((t for t in pending.values() if t is not None), default=math.inf)
                engine._release(min(engine._newest - lateness, horizon))
            engine.book.drain_changed()
        # counts and rejections in the order a one-process scan reads the inputs: by first event time
        order = sorted(range(len(tasks)), key=lambda i: (firsts[i], tasks[i].path, tasks[i].start))
        ordered = [tasks[i] for i in order]
        for i in order:
            stats, handed_on = done[i]
            tally.add(tasks[i], stats, handed_on)
            engine.stats.merge(stats)
    unread_before = len(engine.unread_inputs)
    for path in stdin:
        engine.feed(engine.decode_input(InputFile(path, max_line_bytes=engine.config.max_line_bytes), fmt))
    lost = tally.lost() + engine.unread_inputs[unread_before:]
    del engine.unread_inputs[unread_before:]
    note_unread(engine, paths, lost, tally.read())
    return ordered
