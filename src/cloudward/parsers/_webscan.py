"""Reading web logs fast: one RE2 scan per block finds the few lines any card can use.

The cards declare what they need - kinds of page (from the data lists), client errors, tool user
agents, summaries of the rest - and the pipeline compiles that into a `WebInterest` (parsers import
nothing from the cards or analytics). From it comes one linear-time RE2 pattern - a trigger - that
matches somewhere in every line that might matter (and in a few that turn out not to). A block of a
megabyte or so is searched with it; the runs of lines between matches are counted, not parsed, and
each matching line goes to the format's line parser, which builds the event and asks the interest
again, exactly. The trigger is deliberately wider than the filter: a line it
misses is a line no card could use.

Client errors on ordinary pages, and the ordinary requests of recently active addresses (counted per
run of unparsed lines with a plain substring count), go to the cards as `HttpSummary` events, in line
order with the full events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import re2

from cloudward import saferegex
from cloudward.events import Event, HttpRequest, HttpSummary
from cloudward.inputs import InputFile
from cloudward.parsers.base import Decoder, ParseContext, WebInterest, count_lines, iter_lines

try:  # the optional C block scan (setup.py builds it when a compiler is there)
    from cloudward._webscan import clf_next as _clf_next
    from cloudward._webscan import w3c_next as _w3c_next
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _clf_next = _w3c_next = None

#: tests switch the C block scan off to check the pure-Python (RE2) path gives the same results
ACCELERATED = _clf_next is not None

#: a compiled block scan's answer (see `_webscan.c`): (kind, start, line_end, passed, ip_start, ip_end,
#: ts_start, target_start, target_end, agent_start, agent_end), and for a summary entry (kind 2) also the
#: line's time and its address
ScanStop = tuple[Any, ...]

#: recently active addresses whose ordinary requests are counted (each costs one pass over a run of lines)
MAX_COUNTED = 8


class Summaries:
    """What a web decoder summarizes instead of building events, kept in line order (`HttpSummary`).

    Which addresses get their ordinary requests counted follows from the stream alone - the last
    `MAX_COUNTED` distinct addresses of lines that became an event or an error entry - so the counts
    are the same however the stream is cut, and no card is called from here.

    In a block scan, the ordinary lines of a recent address are counted lazily, with one substring count
    over the span since its last parsed line, when it matters: right before its next entry or event, when
    it stops being recent, and at the end of the block. The card reads an address's counts only at that
    address's own entries and events, so where in between they are counted changes nothing.
    """

    def __init__(self, display: str, marker: Callable[[bytes], bytes | tuple[bytes, ...]] | None = None,
                 spans: bool = False) -> None:
        self.display = display
        self.entries: list[tuple[Any, ...]] = []
        self.first = ""
        self.site = ""
        #: the time of the summary's last one-second piece, and of its first
        self.when = 0.0
        self.first_when = 0.0
        #: a later second does not end the summary but starts a piece of it (`HttpSummary.spans`): the engine
        #: this decoder feeds cuts summaries where other events fall between their pieces
        self.spanning = spans
        self.spans: list[tuple[int, float, int]] = []
        #: time of the last line parsed (an error entry or an event)
        self.last = 0.0
        #: summaries completed but not yet handed on
        self.ready: list[Event] = []
        self.marker = marker
        #: recently active addresses, oldest first -> where in `block` their uncounted lines start, and
        #: whether a line starts right there (False: just after a parsed line's end)
        self.recent: dict[str, tuple[int, bool]] = {}
        #: the block being scanned (None outside a block scan: callers count ordinary lines themselves),
        #: the start and end of the line being parsed, and its number
        self.block: bytes | None = None
        self.here = 0
        self.here_end = 0
        self.lineno = 0
        self._markers: dict[str, tuple[tuple[bytes, bytes | None], ...]] = {}

    def _settle(self, ip: str, upto: int, site: str) -> None:
        """Count `ip`'s ordinary lines from its mark up to `upto` (a line start) into an entry."""
        block = self.block
        mark = self.recent.get(ip)
        if block is None or mark is None or upto <= mark[0]:
            return
        markers = self._markers.get(ip)
        if markers is None:
            if len(self._markers) >= 4096:
                self._markers.clear()
            made = self.marker(ip.encode("latin-1"))  # type: ignore[misc]
            markers = self._markers[ip] = tuple((m, m[1:] if m[:1] == b"\n" else None)
                                                for m in (made if isinstance(made, tuple) else (made,)))
        n = 0
        for full, line_start in markers:  # several places when lines may start with a forwarded chain
            n += block.count(full, mark[0], upto)
            if line_start is not None and mark[1] and block.startswith(line_start, mark[0]):
                n += 1
        if n:
            self.ordinary(ip, n, self.lineno, site)

    def active(self, ip: str, site: str = "") -> None:
        """A line of `ip` was parsed (an event or an entry): count its lines before it, mark after it."""
        recent = self.recent
        if ip in recent:
            self._settle(ip, self.here, site)
            del recent[ip]
        elif len(recent) >= MAX_COUNTED:
            oldest = next(iter(recent))
            self._settle(oldest, self.here, site)
            del recent[oldest]
        recent[ip] = (self.here_end, False)

    def begin_block(self, block: bytes, start: int) -> None:
        """A block scan starts at `start`: every recent address's uncounted lines start there."""
        self.block = block
        for ip in self.recent:
            self.recent[ip] = (start, True)

    def end_block(self, end: int, site: str) -> None:
        """Count what is uncounted up to the end of the block scanned."""
        if self.block is not None:
            for ip in list(self.recent):
                self._settle(ip, end, site)
            self.block = None

    def _start(self, lineno: int, site: str) -> None:
        self.first = f"{self.display}:{lineno}"
        self.site = site

    def error(self, ip: str, when: float, path: str, agent: str, lineno: int, site: str) -> None:
        self.active(ip, site)
        if self.entries and when != self.when:
            # one piece holds entries of one time only: the engine runs events in (time, line) order, and a
            # piece then runs exactly where its lines would have; a time going back ends the summary
            if self.spanning and when > self.when:
                self.spans.append((len(self.entries), when, lineno))
            else:
                self._close()
        if not self.entries:
            self._start(lineno, site)
            self.first_when = when
        self.entries.append(("error", ip, when, path, agent))
        self.when = self.last = when

    def ordinary(self, ip: str, n: int, lineno: int, site: str) -> None:
        if not self.entries:
            self._start(lineno, site)
            # counted lines carry no time of their own: the time of the line before
            self.when = self.first_when = self.last
        self.entries.append(("ordinary", ip, n))

    def seen(self, when: float) -> None:
        """An event was handed on (its time is the time of the lines counted after it)."""
        self.last = when

    def skipped(self, ip: str, lineno: int, site: str) -> None:
        """An ordinary line that was parsed (a trigger hit the interest skips, or a line-by-line read)."""
        if self.block is None and ip in self.recent:
            self.ordinary(ip, 1, lineno, site)
        # in a block scan the line lies in its address's uncounted span and is counted with it

    def _close(self) -> None:
        if self.entries:
            self.ready.append(HttpSummary(event_id=self.first, origin=self.first, time=self.first_when, site=self.site,
                                          entries=self.entries, spans=self.spans))
            self.entries = []
            self.spans = []  # (the summary holds the list)
            self.when = 0.0

    def flush(self, out: list[Event]) -> None:
        self._close()
        if self.ready:
            out.extend(self.ready)
            self.ready = []


class CountedSummaries(Summaries):
    """`Summaries` for the C block scan: the ordinary lines of the recently active addresses are counted by
    the scan itself as it passes over them (`watch` and `counts`, handed to `clf_next`), and by `stopped`
    for a line the scan stopped at that made no entry or event - instead of one substring count per
    address and span. What is counted, and where it is settled into entries, is what `Summaries` does: a
    line whose first field is the address, after the address's last parsed line and before its next one
    (plain addresses only: no forwarded chains)."""

    def __init__(self, display: str, spans: bool = False) -> None:
        super().__init__(display, None, spans)
        #: the spellings of the recent addresses and their uncounted lines, by slot (recent: address -> slot)
        self.watch: list[bytes] = []
        self.counts: list[int] = []
        self.slots: dict[str, int] = {}
        #: an entry or event was made for the line being handled (its address became active)
        self.touched = False

    def _settle_slot(self, ip: str, slot: int, site: str) -> None:
        n = self.counts[slot]
        if n:
            self.counts[slot] = 0
            if self.block is not None:
                self.ordinary(ip, n, self.lineno, site)

    def active(self, ip: str, site: str = "") -> None:
        self.touched = True
        slots = self.slots
        slot = slots.pop(ip, None)
        if slot is not None:
            self._settle_slot(ip, slot, site)
        elif len(slots) >= MAX_COUNTED:
            oldest = next(iter(slots))
            slot = slots.pop(oldest)
            self._settle_slot(oldest, slot, site)
            self.watch[slot] = ip.encode("latin-1")
        else:
            slot = len(self.watch)
            self.watch.append(ip.encode("latin-1"))
            self.counts.append(0)
        slots[ip] = slot

    def error(self, ip: str, when: float, path: str, agent: str, lineno: int, site: str) -> None:
        # `Summaries.error` with its calls inlined: the C scan stops at every client error on an ordinary page
        self.active(ip, site)
        entries = self.entries
        if entries and when != self.when:
            if self.spanning and when > self.when:
                self.spans.append((len(entries), when, lineno))
            else:
                self._close()
                entries = self.entries
        if not entries:
            self.first = f"{self.display}:{lineno}"
            self.site = site
            self.first_when = when
        entries.append(("error", ip, when, path, agent))
        self.when = self.last = when

    def stopped(self, block: bytes, start: int) -> None:
        """The line at `start` was handled without an entry or event: count it for its address if watched."""
        if self.touched:
            self.touched = False
            return
        sp = block.find(b" ", start, start + 64)  # an address is shorter; a longer first field is none
        if sp > start:
            first = block[start:sp]
            for slot, spelling in enumerate(self.watch):  # every slot holds a recent address
                if spelling == first:
                    self.counts[slot] += 1
                    break

    def skipped(self, ip: str, lineno: int, site: str) -> None:
        if self.block is None and ip in self.slots:
            self.ordinary(ip, 1, lineno, site)

    def begin_block(self, block: bytes, start: int) -> None:
        self.block = block
        self.touched = False

    def end_block(self, end: int, site: str) -> None:
        if self.block is not None:
            for ip, slot in list(self.slots.items()):
                self._settle_slot(ip, slot, site)
            self.block = None


class W3cCountedSummaries(CountedSummaries):
    """`CountedSummaries` for the C scan of W3C lines, counting what `Summaries` counts there: in every line
    after an address's last parsed line and before its next one, the occurrences of the address with a space on
    both sides (`bytes.count`). `w3c_next` counts the lines it passes over; `stopped_line` a line it stopped at,
    for every watched address but the one that line made active (its count starts after the line)."""

    def __init__(self, display: str, spans: bool = False) -> None:
        super().__init__(display, spans)
        self.touched_ip = ""

    def active(self, ip: str, site: str = "") -> None:
        super().active(ip, site)
        self.touched_ip = ip

    def stopped_line(self, block: bytes, start: int, end: int) -> None:
        made = self.touched_ip.encode("latin-1") if self.touched else None
        self.touched = False
        counts = self.counts
        for slot, spelling in enumerate(self.watch):
            if spelling != made:
                n = block.count(b" " + spelling + b" ", start, end)
                if n:
                    counts[slot] += n


#: a line parser: the event of one line, or None (skipped, or rejected with a reason)
LineParser = Callable[[bytes, int], Event | None]


@cache
def _compiled(pattern: str) -> object:
    return saferegex.compile(pattern.encode("latin-1"), ignore_case=True)


def _first_match(compiled: Any) -> Callable[[bytes, int, int], int]:
    """start = find(block, pos, end): where the pattern first matches, or -1.

    google-re2's `search` wraps every match in Python objects; the scan only needs a start offset, so
    it calls the compiled program directly when that is available (one C++ call per match)."""
    program = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if program is not None and anchor is not None and hasattr(program, "Match"):
        match = program.Match

        def first(block: bytes, pos: int, end: int) -> int:
            return match(anchor, block, pos, end)[0][0]

        return first
    search = compiled.search

    def first_slow(block: bytes, pos: int, end: int) -> int:
        m = search(block, pos, end)
        return -1 if m is None else m.start()

    return first_slow


@cache
def _valid_run(line: str) -> Callable[[bytes, int, int], int]:
    """end = run(block, pos, end): where the run of lines from `pos` (a line start) that each match `line`
    (RE2 for one whole line, case-sensitive) ends - the start of the first line that does not, or `end`.

    One anchored RE2 match per call: its DFA runs to the first byte no valid line can have."""
    lines = saferegex.compile(f"(?:(?:{line})\\r?\\n)*".encode("latin-1"))
    last = saferegex.compile(f"(?:{line})\\r?".encode("latin-1"))
    program, program_last = getattr(lines, "_regexp", None), getattr(last, "_regexp", None)
    anchors = getattr(re2, "_Anchor", None)
    if program is not None and program_last is not None and anchors is not None:
        match, match_last = program.Match, program_last.Match
        start, both = anchors.ANCHOR_START, anchors.ANCHOR_BOTH

        def run(block: bytes, pos: int, end: int) -> int:
            stop = match(start, block, pos, end)[0][1]
            # the stream's last line may have no newline
            if stop < end and block.find(b"\n", stop, end) < 0 and match_last(both, block, stop, end)[0][0] >= 0:
                return end
            return stop

        return run

    def run_slow(block: bytes, pos: int, end: int) -> int:
        m = lines.match(block, pos, end)
        stop = pos if m is None else m.end()
        if stop < end and block.find(b"\n", stop, end) < 0 and last.fullmatch(block, stop, end) is not None:
            return end
        return stop

    return run_slow


class BlockScanner:
    """The trigger of one stream: what the cards declared, compiled for the format's layout, plus either
    the format's `valid` - RE2 for one line the format's parser provably accepts, every field checked (the
    address, the date, the status...) - or its `shape` - a pattern that matches somewhere in every line
    that lacks the shape of a well-formed line (no closing quote at its end, the wrong number of fields...).

    With `valid`, a second anchored RE2 pass per block finds the runs of valid lines; a line outside them
    is parsed whatever the trigger says.

    The shape is part of the same one RE2 pass, so honest rejection costs no second look at the bytes:
    a line is passed over (counted as skipped) only when the trigger finds nothing in it, which says both
    that no card can use it and that it is well-formed by the shape. Any other line goes to the line
    parser, which accepts it or rejects it with its file:line. The verdict is a function of the line
    alone (and of the file's layout, read from its first lines), never of its page or of where the
    stream was cut: a truncated line naming /about/ is rejected exactly like one naming /.env."""

    def __init__(self, flt: WebInterest, *, target_start: str, target_prefix: str, target_end: str,
                 status_4xx: str, ip_marker: Callable[[bytes], bytes | tuple[bytes, ...]], shape: str = "",
                 valid: str = "") -> None:
        self.flt = flt
        #: run(block, pos, end) -> the end of the run of valid lines from pos (None: the shape is in the trigger)
        self.valid: Callable[[bytes, int, int], int] | None = _valid_run(valid) if valid else None
        self.target_start = target_start
        self.target_prefix = target_prefix
        self.target_end = target_end
        #: where an address stands on a line (several places when lines may start with a forwarded chain)
        self.ip_marker = ip_marker
        self.search: Callable[[bytes, int, int], int] = lambda *a: -1
        #: the format's parser wants the next line whatever the trigger says (W3C: the first data line after
        #: a #Fields header starts the site's history); it clears this when it has it
        self.take_next = False
        #: the compiled block scan (`_webscan.c`), when the format offers one and the accelerator is there:
        #: clf_next's arguments after the block and positions, and the handler of a summary-entry line
        self.compiled: tuple[Any, ...] | None = None
        self.summarize: Callable[[bytes, ScanStop, int], Event | None] | None = None
        #: the compiled W3C scan (`w3c_next`): the filter's caches, path mask and flags, and the columns of the
        #: current #Fields header (`w3c_http` sets them; all zero before a usable one)
        self.w3c: tuple[Any, ...] | None = None
        self.w3c_cols: tuple[int, ...] = (0,) * 11
        self.retarget(status_4xx, shape)

    def compile_clf(self, combined: bool, summarize: Callable[[bytes, ScanStop, int], Event | None],
                    summaries: bool) -> bool:
        """Use the C block scan for `combined`/`common` lines: one pass per block that checks every line's
        grammar and answers the filter from its own caches (`WebLineFilter.scan_caches`); the RE2 trigger
        and validity passes are not used. False when the accelerator or the caches are not there."""
        caches = getattr(self.flt, "scan_caches", None)
        if not ACCELERATED or caches is None:
            return False
        targets, agents, path_mask, flags = caches()
        if not summaries:
            flags &= ~4
        #: a Sigma rule group's needles (`SigmaWebInterest.scan_needles`): a line holding one is parsed
        needles = getattr(self.flt, "scan_needles", None)
        self.compiled = (combined, targets, agents, path_mask, flags, needles)
        self.summarize = summarize
        return True

    def compile_w3c(self, summarize: Callable[[bytes, ScanStop, int], Event | None], summaries: bool) -> bool:
        """Use the C block scan for W3C data lines (`w3c_next`): one pass per block that checks every line's
        grammar under the current #Fields header and answers the filter from its caches. False when the
        accelerator or the caches are not there, or a Sigma rule group reads the lines (its needles)."""
        caches = getattr(self.flt, "scan_caches", None)
        if not ACCELERATED or _w3c_next is None or caches is None or getattr(self.flt, "scan_needles", None):
            return False
        targets, agents, path_mask, flags = caches()
        if not summaries:
            flags &= ~4
        self.w3c = (targets, agents, path_mask, flags)
        self.summarize = summarize
        return True

    def retarget(self, status_4xx: str, shape: str | None = None, valid: str | None = None) -> None:
        """Rebuild the trigger for a new client-error pattern and line shape or valid-line grammar (a W3C
        file's next #Fields)."""
        if shape is not None:
            self.shape = shape
        if valid is not None:
            self.valid = _valid_run(valid) if valid else None
        pattern = self.flt.trigger_pattern(target_prefix=self.target_prefix, target_start=self.target_start,
                                           target_end=self.target_end, status_4xx=status_4xx)
        if self.shape:
            pattern += "|" + self.shape  # the pattern is one (?m) alternation; the shape is one more branch
        self.search = _first_match(_compiled(pattern))


class WebDecoder(Decoder):
    """The lines of one web or FTP log stream through a format's line parser - every line, or with a
    scanner only the lines its trigger matches in each block (and the stream's first line), the rest
    counted as skipped."""

    def __init__(self, ctx: ParseContext, display: str, max_line_bytes: int, parse_line: LineParser,
                 scanner: BlockScanner | None, summaries: Summaries | None = None, site: str = "") -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.parse_line = parse_line
        self.scanner = scanner
        self.summaries = summaries
        self.site = site

    def _emit(self, event: Event, out: list[Event]) -> None:
        summaries = self.summaries
        if summaries is not None:
            if type(event) is HttpRequest:
                summaries.active(event.client_ip, self.site)  # type: ignore[attr-defined]
            summaries.flush(out)  # what was summarized before this line reaches the cards before it
            summaries.seen(event.time)
        out.append(event)

    def take_block(self, block: bytes, pos: int, size: int) -> list[Event]:
        ctx = self.ctx
        stats = ctx.stats
        display = self.display
        limit = self.limit
        parse_line = self.parse_line
        scanner = self.scanner
        summaries = self.summaries
        emit = self._emit
        lineno = first = self.lineno
        skipped = 0
        out: list[Event] = []
        try:
            search = scanner.search if scanner is not None else None
            if search is None or lineno == 0:
                # every line (no prefilter), or the stream's first line, which is always parsed
                stop = size if search is None else (block.find(b"\n", pos, size) + 1 or size)
                for line in iter_lines(block, pos, stop):
                    lineno += 1
                    self.lineno = lineno
                    event = _one(line, lineno, limit, parse_line, ctx, display)
                    if event is not None:
                        emit(event, out)
                pos = stop
                if search is None or pos >= size:
                    return out
            if summaries is not None:
                summaries.begin_block(block, pos)
            w3c = scanner.w3c  # type: ignore[union-attr]
            if w3c is not None:
                # one C pass under the current #Fields header (`w3c_next`); the first data line after a header
                # is always parsed (`take_next`)
                targets, agents, path_mask, flags = w3c
                summarize = scanner.summarize  # type: ignore[union-attr]
                w3c_next = _w3c_next
                counted_w3c = summaries if type(summaries) is W3cCountedSummaries else None
                watch = counted_w3c.watch if counted_w3c is not None else []
                counts = counted_w3c.counts if counted_w3c is not None else []
                while pos < size:
                    if scanner.take_next:  # type: ignore[union-attr]
                        end = block.find(b"\n", pos, size)
                        found = (1, pos, size if end < 0 else end, 0)
                    else:
                        found = w3c_next(block, pos, size, scanner.w3c_cols, targets, agents,  # type: ignore
                                         path_mask, flags, limit, watch, counts)
                    passed = found[3]
                    lineno += passed
                    skipped += passed
                    kind = found[0]
                    if kind == 0:
                        break
                    start, end = found[1], found[2]
                    lineno += 1
                    self.lineno = lineno
                    if summaries is not None:
                        summaries.here, summaries.here_end, summaries.lineno = start, end, lineno
                    if kind == 2:
                        event = summarize(block, found, lineno)  # type: ignore[misc]
                    else:
                        event = _one(block[start:end], lineno, limit, parse_line, ctx, display)
                    if event is not None:
                        emit(event, out)
                    if counted_w3c is not None:
                        counted_w3c.stopped_line(block, start, end)
                    pos = end + 1
                return out
            compiled = scanner.compiled  # type: ignore[union-attr]
            if compiled is not None:
                # one C pass: every line passed over is valid and, by the filter's own cached answer, of no
                # use to any card; it stops at each line Python must parse or summarize
                combined, targets, agents, path_mask, flags, needles = compiled
                summarize = scanner.summarize  # type: ignore[union-attr]
                clf_next = _clf_next
                counted = summaries if type(summaries) is CountedSummaries else None
                watch = counted.watch if counted is not None else []
                counts = counted.counts if counted is not None else []
                while pos < size:
                    found = clf_next(block, pos, size, combined, targets, agents, path_mask, flags, limit, watch,
                                     counts, needles)
                    passed = found[3]
                    lineno += passed
                    skipped += passed
                    kind = found[0]
                    if kind == 0:
                        break
                    start, end = found[1], found[2]
                    lineno += 1
                    self.lineno = lineno
                    if summaries is not None:
                        summaries.here, summaries.here_end, summaries.lineno = start, end, lineno
                    if kind == 2:
                        event = summarize(block, found, lineno)  # type: ignore[misc]
                    else:
                        event = _one(block[start:end], lineno, limit, parse_line, ctx, display)
                    if event is not None:
                        emit(event, out)
                    if counted is not None:
                        counted.stopped(block, start)
                    pos = end + 1
                return out
            # lines the trigger passes over are well-formed (the shape is part of the trigger, or every line
            # outside a run of valid lines is parsed) and of no use to any card: counted, not parsed
            valid = scanner.valid  # type: ignore[union-attr]
            bad = valid(block, pos, size) if valid is not None else size  # the next line not proven valid
            hit = -2  # the trigger's next match at or after pos (-1: none), -2: not searched yet
            while pos < size:
                if scanner.take_next:  # type: ignore[union-attr]
                    hit = pos
                elif hit == -2 or 0 <= hit < pos:
                    hit = search(block, pos, size)
                if bad < pos:
                    bad = valid(block, pos, size)  # type: ignore[misc]
                if hit < 0 and bad >= size:
                    n = count_lines(block, pos, size)
                    lineno += n
                    skipped += n
                    break
                if hit >= 0:
                    start = block.rfind(b"\n", pos, hit) + 1 or pos
                    if bad < start:
                        start = bad
                else:
                    start = bad
                end = block.find(b"\n", start, size)
                if end < 0:
                    end = size
                n = block.count(b"\n", pos, start)
                lineno += n
                skipped += n
                lineno += 1
                self.lineno = lineno
                if summaries is not None:
                    summaries.here, summaries.here_end, summaries.lineno = start, end, lineno
                event = _one(block[start:end], lineno, limit, parse_line, ctx, display)
                if scanner.search is not search:  # type: ignore[union-attr]  # a directive line changed the trigger
                    search = scanner.search  # type: ignore[union-attr]
                    hit = -2
                    valid = scanner.valid  # type: ignore[union-attr]
                    bad = -1 if valid is not None else size
                if event is not None:
                    emit(event, out)
                pos = end + 1
            return out
        finally:
            if summaries is not None:
                # what is counted at the end of the block is named by the block's last line, whichever lines
                # were parsed on the way (the C scan parses fewer than the RE2 trigger)
                summaries.lineno = lineno
                summaries.end_block(size, self.site)
                summaries.flush(out)
            self.lineno = lineno
            stats.lines += lineno - first
            stats.skipped += skipped


def read_web_lines(src: InputFile, ctx: ParseContext, parse_line: LineParser,
                   scanner: BlockScanner | None) -> Iterator[Event]:
    """Every event of `src` through a `WebDecoder`."""
    yield from WebDecoder(ctx, src.display, src.max_line_bytes, parse_line, scanner).run(src)


def _one(line: bytes, lineno: int, limit: int, parse_line: LineParser, ctx: ParseContext,
         display: str) -> Event | None:
    if line[-1:] == b"\r":
        line = line[:-1]
    if not line:
        return None
    if len(line) > limit:
        ctx.reject(f"{display}:{lineno}", f"line too long: {len(line)} bytes (limit {limit})")
        return None
    return parse_line(line, lineno)
