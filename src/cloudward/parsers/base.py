"""What an input format is, and the context a parser works in.

Two shapes of format exist:

* `Format` — owns the whole read loop of a file (text logs with headers, multi-line audit records).
* `JsonDialect` — one kind of JSON record (Kubernetes audit event, Tetragon event, App Service log
  record...). The shared JSON reader (`parsers.json_records`) handles JSON lines, single documents,
  arrays and the `{"records": [...]}` wrapper, and hands each record to the dialect that claims it,
  so a new JSON source is one small module.

Both are found by discovery: any module in `cloudward.parsers` that defines `FORMATS` (a list of
instances) is registered.
"""

from __future__ import annotations

import copy
import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from cloudward.events import Event
from cloudward.inputs import (
    DEFAULT_MAX_LINE_BYTES,
    HEAD_BYTES,
    UTF8_BOM,
    DecompressionLimit,
    DroppedLine,
    InputFile,
    ReadFailure,
    ScanStats,
    blank_run_end,
)

#: (buffer, start, end) -> (lines that may be needed as (index, start, end), number of lines)
BlockFilter = Callable[[bytes, int, int], tuple[list[tuple[int, int, int]], int]]


#: what a web line needs (`WebInterest.wants`): nothing, an event, or an entry in a summary
SKIP, EVENT, ERROR_ONLY = 0, 1, 2


class WebInterest(Protocol):
    """What the enabled web cards need, compiled by the pipeline from what they declare (kinds of page,
    client errors, tool agents, summaries); web decoders find it in `ParseContext.options` under
    `prefilter:HttpRequest` and never call a card."""

    #: client errors on ordinary pages and ordinary requests of recent addresses go to `HttpSummary`
    summaries: bool

    def wants(self, target: bytes, status: bytes, agent: bytes) -> int:
        """SKIP, EVENT or ERROR_ONLY for a line's raw request target, status and user agent."""
        ...

    def site_always(self, site: str) -> bool:
        """Every line of this site is needed."""
        ...

    def trigger_pattern(self, *, target_prefix: str, target_start: str, target_end: str, status_4xx: str) -> str:
        """An RE2 pattern matching somewhere in every line that may be needed, in one format's terms."""
        ...


@dataclass
class Interest:
    """What the enabled detections need, so parsers can skip the rest from raw bytes.

    `audit_verbs` / `audit_resources` are None when some detection wants every Kubernetes audit verb /
    resource.
    """

    audit_verbs: frozenset[str] | None = None
    audit_resources: frozenset[str] | None = None
    kinds: frozenset[str] = frozenset()
    #: lines needed whatever their verb and resource (Sigma rules' literals): (buf, start, end) -> where in
    #: buf[start:end] the first raw text some detection needs stands, or -1
    audit_raw: Callable[[bytes, int, int], int] | None = None
    #: what the cards of some resources need on a line to find anything (`parsers._k8s.ContentInterest`)
    audit_content: Any = None


@dataclass
class ParseContext:
    """Per-run settings and counters a parser needs."""

    stats: ScanStats = field(default_factory=ScanStats)
    interest: Interest = field(default_factory=Interest)
    #: site name forced by --site (web and FTP logs)
    site: str = ""
    #: cluster name forced by --cluster or config (Kubernetes audit)
    cluster: str = ""
    #: host name forced by --host or config (host telemetry)
    host: str = ""
    max_document_bytes: int = 512 * 1024 * 1024
    options: dict[str, Any] = field(default_factory=dict)

    def replaced(self, **changes: Any) -> ParseContext:
        """A copy with `changes`. Unlike `dataclasses.replace` it reads no field, so an engine's context whose
        `interest` sets the Kubernetes cards up on first read stays lazy (a web scan need not set them up)."""
        out = copy.copy(self)
        for name, value in changes.items():
            setattr(out, name, value)
        return out

    def reject(self, where: str, reason: str) -> None:
        self.stats.reject(where, reason)

    def reject_unread(self, item: DroppedLine | ReadFailure, display: str, lineno: int, limit: int) -> int:
        """Report what `InputFile.blocks` could not hand out; returns the line number count after it."""
        if isinstance(item, DroppedLine):
            lineno += 1
            self.reject(f"{display}:{lineno}", f"line too long: {item.length} bytes (limit {limit})")
        else:
            self.reject(f"{display}:{lineno + 1}", item.reason)
        return lineno


#: how many non-blank complete lines sniffing and layout decisions look at
HEAD_LINES = 20
#: sniffing decides at the latest once this many bytes of complete lines are held (or at end of stream)
HEAD_MAX_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class Head:
    """The first complete lines of a stream, decoded once for every format's sniffer.

    `data` is the raw bytes of those lines (newlines kept), `lines` their non-blank decoded text. Only
    complete lines are ever in a head: a decision is never taken on a line cut in the middle.
    """

    path: str
    data: bytes
    lines: list[str]

    @classmethod
    def from_lines(cls, path: str, raw_lines: list[bytes], max_lines: int = HEAD_LINES) -> Head:
        data = b"\n".join(raw_lines)
        lines: list[str] = []
        for raw in raw_lines:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not lines:
                text = text.lstrip("\ufeff")
            # split on newlines only: str.splitlines would also cut at separators such as 0x1d
            if text.strip():
                lines.append(text)
                if len(lines) >= max_lines:
                    break
        return cls(path, data, lines)

    @classmethod
    def of(cls, src: InputFile, max_lines: int = HEAD_LINES) -> Head:
        """The complete lines at the start of a file (the first 64 KB of it; a shorter file whole)."""
        data = src.head
        if len(data) >= HEAD_BYTES:
            cut = data.rfind(b"\n")
            data = data[:cut + 1] if cut >= 0 else b""
        return cls.from_lines(src.display, data.split(b"\n"), max_lines)

    def without_first(self, n: int) -> Head:
        """The head with its first `n` raw lines left out (sniffing past junk at the top of a stream)."""
        raw = self.data.split(b"\n")[n:]
        return Head.from_lines(self.path, raw)


# -- decoders: one per stream -----------------------------------------------------------------

class Decoder:
    """Turns the bytes of one stream into events, whatever the chunking.

    `feed` takes any piece of the stream (down to one byte) and keeps a partial line for the next
    piece; `close` flushes it and whatever the format held back (an audit event waiting for its last
    record, a JSON document). Line numbers, `origin` and rejections are the same however the stream
    was cut, because the decoder frames lines itself and subclasses only ever see complete lines
    (`take_block`), over-long lines that were dropped (`take_dropped`), and read failures.

    `run(InputFile)` drives the same methods from `InputFile.blocks` (about 1 MB of whole lines at a
    time, never copied), which is how files are read.
    """

    def __init__(self, ctx: ParseContext, display: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.ctx = ctx
        self.display = display
        self.limit = max_line_bytes
        #: lines handed to this decoder so far (its subclasses number them)
        self.lineno = 0
        self._rest = bytearray()
        self._dropping = -1  # length so far of an over-long line being skipped, or -1
        self._closed = False
        #: True when the rest of the stream is of no use (an unrecognized format): runners may stop reading
        self.done = False
        #: the stream's first bytes while they may still be a UTF-8 byte-order mark (None once decided):
        #: a stream drops a leading mark as `InputFile` does, so a file and the same bytes fed agree
        self._head: bytes | None = b""

    # -- the stream side ----------------------------------------------------------------------
    def settle(self) -> list[Event]:
        """The stream has no more bytes for now (a followed file at its end): hand on what waits only for
        more lines, keeping the stream open. Most decoders hold nothing of that kind."""
        return []

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by `data`, the next piece of the stream."""
        if not data or self.done:
            return []
        data = bytes(data)
        if self._head is not None:
            data = self._head + data
            if len(data) < len(UTF8_BOM) and UTF8_BOM.startswith(data):
                self._head = data
                return []
            self._head = None
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM):]
                if not data:
                    return []
        out: list[Event] = []
        if self.is_raw():
            if self._rest:  # a line begun before the format asked for raw bytes
                out += self.take_raw(bytes(self._rest))
                self._rest = bytearray()
            return out + self.take_raw(data)
        start = 0
        if self._dropping >= 0:
            nl = data.find(b"\n")
            if nl < 0:
                self._dropping += len(data)
                return out
            out += self.take_dropped(self._dropping + nl)
            self._dropping = -1
            start = nl + 1
        elif self._rest:
            nl = data.find(b"\n")
            if nl < 0:
                self._rest += data
                if len(self._rest) > self.limit:
                    rest, self._rest = bytes(self._rest), bytearray()
                    if self.overlong(rest):
                        return out + self.take_raw(rest)
                    self._dropping = len(rest)
                return out
            line = bytes(self._rest) + data[: nl + 1]
            self._rest = bytearray()
            out += self.take_block(line, 0, len(line))
            start = nl + 1
        cut = data.rfind(b"\n", start)
        if cut >= 0:
            out += self.take_block(data, start, cut + 1)
            start = cut + 1
        if start < len(data):
            if len(self._rest) + len(data) - start > self.limit:
                rest = bytes(self._rest) + data[start:]
                self._rest = bytearray()
                if self.overlong(rest):
                    return out + self.take_raw(rest)
                self._dropping = len(rest)
            else:
                self._rest += data[start:]
        return out

    def close(self) -> list[Event]:
        """End of stream: the events of the last line and of everything still pending."""
        if self._closed:
            return []
        out: list[Event] = []
        if self._head:  # the stream ended inside what could have been a byte-order mark: it was data
            head, self._head = self._head, None
            out += self.feed(head)
        self._closed = True
        if self._dropping >= 0:
            out += self.take_dropped(self._dropping)
            self._dropping = -1
        elif self._rest:
            line = bytes(self._rest)
            self._rest = bytearray()
            out += self.take_raw(line) if self.is_raw() else self.take_block(line, 0, len(line))
        out += self.end()
        return out

    def run(self, src: InputFile, chunk: int = 1 << 20) -> Iterator[Event]:
        """Every event of a file: its bytes through `feed` about a megabyte at a time, so a file decodes
        exactly as a stream does; the format still sees whole blocks of complete lines, never copied."""
        try:
            # a runner may have opened it already (to report open errors); opening twice would lose the
            # bytes a pipe already gave
            stream = getattr(src, "_stream", None) or src.open()
            self._head = None  # the input dropped its byte-order mark itself (a second one is data)
        except OSError as exc:
            self.ctx.reject(f"{self.display}:0", f"cannot open: {exc.strerror or exc}")
            return
        # read1: a damaged gzip stream then fails only on the piece it cannot decompress, after every
        # earlier piece was decoded
        read = getattr(stream, "read1", stream.read)
        try:
            while not self.done:
                try:
                    data = read(chunk)
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    # the partial line before the damage is part of the failure, not a record of its own
                    self._rest = bytearray()
                    self._dropping = -1
                    yield from self.take_failure(ReadFailure(f"truncated or corrupt gzip: {exc}"))
                    break
                except OSError as exc:
                    self._rest = bytearray()
                    self._dropping = -1
                    what = "decompression limit" if isinstance(exc, DecompressionLimit) else "read error"
                    yield from self.take_failure(ReadFailure(f"{what}: {exc}"))
                    break
                if not data:
                    break
                self.ctx.stats.bytes_read += len(data)
                yield from self.feed(data)
            yield from self.close()
        finally:
            src.close()

    # -- what subclasses implement ------------------------------------------------------------
    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        """Events of the whole lines in `buf[start:end]` (each ends in a newline but maybe the stream's
        last)."""
        raise NotImplementedError

    def is_raw(self) -> bool:
        """True while the format wants the stream's bytes as they come (`take_raw`), not framed in lines
        (a JSON or XML document)."""
        return False

    def take_raw(self, data: bytes) -> list[Event]:
        """The next bytes of the stream, unframed (only called while `is_raw`, or after `overlong`)."""
        raise NotImplementedError

    def overlong(self, prefix: bytes) -> bool:
        """A line grew past the limit; `prefix` is what of it was read. True to take the stream as raw
        bytes from here (a document that is one long line), False to drop the line."""
        return False

    def take_dropped(self, length: int) -> list[Event]:
        """A line longer than the limit was skipped without being kept."""
        self.lineno += 1
        self.ctx.stats.lines += 1
        self.ctx.reject(f"{self.display}:{self.lineno}", f"line too long: {length} bytes (limit {self.limit})")
        return []

    def take_failure(self, failure: ReadFailure) -> list[Event]:
        """The stream could not be read further."""
        self.ctx.reject(f"{self.display}:{self.lineno + 1}", failure.reason)
        return []

    def end(self) -> list[Event]:
        """End of stream, after the last line: flush what the format held back."""
        return []


def count_lines(buf: bytes, start: int, end: int) -> int:
    """How many lines `buf[start:end]` holds (a last line without a newline counts)."""
    n = buf.count(b"\n", start, end)
    return n + 1 if end > start and buf[end - 1] != 10 else n


def iter_lines(buf: bytes, start: int, end: int) -> Iterator[bytes]:
    """The lines of a block without their newline (a trailing CR kept)."""
    while start < end:
        nl = buf.find(b"\n", start, end)
        if nl < 0:
            nl = end
        yield buf[start:nl]
        start = nl + 1


class LineDecoder(Decoder):
    """A format read one line at a time: subclasses implement `line` (and `end` if they hold state)."""

    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        out: list[Event] = []
        limit = self.limit
        lineno = self.lineno
        line_events = self.line
        first = lineno
        try:
            for raw in iter_lines(buf, start, end):
                lineno += 1
                self.lineno = lineno
                if len(raw) > limit:
                    self.ctx.reject(f"{self.display}:{lineno}", f"line too long: {len(raw)} bytes (limit {limit})")
                    continue
                events = line_events(raw.rstrip(b"\r\n"), lineno)
                if events:
                    out.extend(events)
        finally:
            self.ctx.stats.lines += lineno - first
        return out

    def line(self, line: bytes, lineno: int) -> Iterable[Event] | None:
        """The events of one line (without its line ending)."""
        raise NotImplementedError


class HeadFirst(Decoder):
    """Holds the first complete lines of a stream until a decision needs them, then hands everything on.

    `choose(head)` gets the stream's first complete lines (up to `HEAD_LINES` non-blank ones, at most
    `HEAD_MAX_BYTES` of them, fewer at end of stream) and returns the decoder for the rest, or None when
    it cannot (then `on_none(head, over-long lines held)` reports why and the rest of the stream is
    ignored). Blocks are kept by reference, so a file's 1 MB blocks reach the real decoder whole.
    """

    def __init__(self, ctx: ParseContext, display: str, max_line_bytes: int,
                 choose: Callable[[Head], Decoder | None],
                 on_none: Callable[[Head, int], None] | None = None) -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.choose = choose
        self.on_none = on_none
        self.inner: Decoder | None = None
        self.decided = False
        self._held: list[tuple[bytes, int, int] | int] = []
        self._lines: list[bytes] = []
        self._nonblank = 0
        self._bytes = 0

    def _decide(self) -> list[Event]:
        self.decided = True
        head = Head.from_lines(self.display, self._lines)
        self.inner = self.choose(head)
        held, self._held, self._lines = self._held, [], []
        if self.inner is None:
            self.done = True  # nothing more of this stream is read
            if self.on_none is not None:
                self.on_none(head, sum(1 for item in held if not isinstance(item, tuple)))
            return []
        out: list[Event] = []
        for item in held:
            out += self.inner.take_block(*item) if isinstance(item, tuple) else self.inner.take_dropped(item)
        return out

    def _hold_lines(self, buf: bytes, start: int, end: int) -> bool:
        """Note the lines of a held block for the head; True once the head is complete. A run of blank
        lines is one blank line of the head (a bomb of newlines costs a few comparisons, not a loop)."""
        lines = self._lines
        pos = start
        while pos < end:
            c = buf[pos]
            if c == 10 or c == 13:
                run_end = buf.rfind(b"\n", pos, blank_run_end(buf, pos, end)) + 1
                if run_end > pos + 1:
                    if not lines or lines[-1].strip():
                        lines.append(b"")
                    self._bytes += run_end - pos
                    pos = run_end
                    if self._bytes >= HEAD_MAX_BYTES:
                        return True
                    continue
            nl = buf.find(b"\n", pos, end)
            if nl < 0:
                nl = end
            raw = buf[pos:nl]
            lines.append(raw)
            self._bytes += len(raw) + 1
            if raw.strip():
                self._nonblank += 1
            if self._nonblank >= HEAD_LINES or self._bytes >= HEAD_MAX_BYTES:
                return True
            pos = nl + 1
        return False

    def settle(self) -> list[Event]:
        """Decide on the lines held so far when they are enough to name the format: a followed file that
        stays shorter than the head is read without waiting for more lines. Lines that name no format yet
        (a JSON document still being written) keep waiting; a stream is never given up here."""
        if self.decided:
            return self.inner.settle() if self.inner is not None else []
        if not self._nonblank or self.choose(Head.from_lines(self.display, self._lines)) is None:
            return []
        return self._decide()

    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        if self.decided:
            if self.inner is None:
                return []
            return self.inner.take_block(buf, start, end)
        self._held.append((buf, start, end))
        if self._hold_lines(buf, start, end):
            return self._decide()
        return []

    def take_dropped(self, length: int) -> list[Event]:
        if self.decided:
            if self.inner is None:
                return []
            return self.inner.take_dropped(length)
        self._held.append(length)  # an over-long line is never part of the head: sniffing looks past it
        return []

    def is_raw(self) -> bool:
        return self.inner is not None and self.inner.is_raw()

    def take_raw(self, data: bytes) -> list[Event]:
        return self.inner.take_raw(data) if self.inner is not None else []

    def overlong(self, prefix: bytes) -> bool:
        if self.decided:
            return self.inner is not None and self.inner.overlong(prefix)
        if self._nonblank or prefix.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"{", b"["):
            # an over-long line after the first lines, or one that cannot start a document (junk,
            # binary): dropped like any other, and sniffing looks past it
            return False
        # the stream starts with one very long line: decide on it (cut to a sniffable size, so only
        # formats that recognize a document's start can take it whole)
        self._lines.append(prefix[:65536])
        self._nonblank = 1
        self._decide()  # only blank lines were held: they make no events
        return self.inner is not None and self.inner.overlong(prefix)

    def take_failure(self, failure: ReadFailure) -> list[Event]:
        out = [] if self.decided else self._decide()
        if self.inner is not None:
            return out + self.inner.take_failure(failure)
        self.ctx.reject(f"{self.display}:{self.lineno + 1}", failure.reason)
        return out

    def end(self) -> list[Event]:
        out = [] if self.decided else self._decide()
        if self.inner is not None:
            out += self.inner.end()
        return out


class Counted(Decoder):
    """Counts the events a text format's decoder makes under its name (`ScanStats.formats`; JSON dialects
    count their own records)."""

    def __init__(self, inner: Decoder, name: str) -> None:
        super().__init__(inner.ctx, inner.display, inner.limit)
        self.inner = inner
        self.formats = inner.ctx.stats.formats
        self.name = name

    def _n(self, events: list[Event]) -> list[Event]:
        if events:
            # summaries of lines are not records of the format
            self.formats[self.name] += sum(1 for e in events if not getattr(e, "entries", None))
        return events

    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        return self._n(self.inner.take_block(buf, start, end))

    def take_dropped(self, length: int) -> list[Event]:
        return self._n(self.inner.take_dropped(length))

    def take_failure(self, failure: ReadFailure) -> list[Event]:
        return self._n(self.inner.take_failure(failure))

    def is_raw(self) -> bool:
        return self.inner.is_raw()

    def take_raw(self, data: bytes) -> list[Event]:
        return self._n(self.inner.take_raw(data))

    def overlong(self, prefix: bytes) -> bool:
        return self.inner.overlong(prefix)

    def end(self) -> list[Event]:
        return self._n(self.inner.end())


class Format:
    """A wire format: a way to make a decoder for one stream, and a sniffer."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: names of event kinds it yields (class names from cloudward.events)
    kinds: ClassVar[tuple[str, ...]] = ()

    def sniff(self, head: Head) -> int:
        """Confidence 0-100 that `head` is this format; 0 means no."""
        raise NotImplementedError

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        """A decoder for one stream of this format. `head` is the stream's first lines when a sniffer
        already read them (formats that decide something from them need not wait for them again)."""
        raise NotImplementedError

    def parse(self, src: InputFile, ctx: ParseContext) -> Iterator[Event]:
        """Every event of one input: a thin loop over this format's decoder."""
        yield from self.decoder(ctx, src.display, max_line_bytes=src.max_line_bytes).run(src)


@dataclass(slots=True)
class RecordRef:
    """Where a JSON record came from: `path:line`, with an index for records inside a document."""

    path: str
    line: int
    index: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return where if self.index is None else f"{where}[{self.index}]"


class JsonDialect:
    """One kind of JSON record."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    #: dialects are asked in ascending order; more specific ones go first
    order: ClassVar[int] = 50

    def claims(self, record: dict[str, Any]) -> bool:
        raise NotImplementedError

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        """A decoder for one stream of JSON records of this dialect only (`--format NAME`)."""
        from cloudward.parsers.json_records import JsonRecords

        return JsonRecords().decoder(ctx, display, max_line_bytes=max_line_bytes, head=head, forced=self)

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterable[Event]:
        raise NotImplementedError

    def line_filter(self, interest: Interest) -> Callable[[bytes, int, int], bool] | None:
        """A test on the raw bytes of one line, `buf[start:end]`: False means no enabled detection can use it,
        so it is skipped without parsing (and without copying it out of its block).

        Must be exact: only say False when the record provably cannot matter. None = parse every line.
        """
        return None

    def block_filter(self, interest: Interest) -> BlockFilter | None:
        """Optional faster first pass over a block of lines `buf[start:end]`: returns the lines that may be
        needed as (index in block, start, end), and how many lines the block has. Lines not returned are
        skipped; lines returned still go through `line_filter`. None = no such pass."""
        return None
