"""The shared JSON reader: JSON lines, one document, arrays, concatenated objects, wrappers.

It decides how the file is laid out, turns it into records with `path:line` references and gives
each record to the dialect that claims it (the last one that did is asked first, so a file of one
kind costs one `claims` call per record). Layouts understood:

* JSON lines, optionally with a timestamp before each object (CloudWatch Logs exports to S3);
* a single document, pretty-printed or not: an object, an array of records, or several objects one
  after another (Kinesis Firehose concatenates them without separators);
* the Azure Monitor export wrapper `{"records": [...]}` around any dialect's records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cloudward.events import Event
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES, InputFile, blank_run_end
from cloudward.parsers.base import (
    HEAD_LINES,
    BlockFilter,
    Decoder,
    Format,
    Head,
    HeadFirst,
    JsonDialect,
    ParseContext,
    RecordRef,
)

#: an RFC 3339 timestamp in front of a JSON object, as CloudWatch Logs exports write lines
_TIME_PREFIX = re.compile(rb"^\d{4}-\d\d-\d\d[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?[ \t]+(?=[{\[])")
_DECODE_ERRORS = (orjson.JSONDecodeError, UnicodeDecodeError)
_BOM = b"\xef\xbb\xbf"


def loads_lenient(data: bytes) -> Any:
    """`orjson.loads` for a record orjson refused that is still readable: a timestamp prefix (CloudWatch), a
    byte-order mark, or invalid UTF-8 in a string (decoded with U+FFFD, as a single-document file is).
    Raises orjson.JSONDecodeError when it is not JSON."""
    m = _TIME_PREFIX.match(data)
    if m is not None:
        data = data[m.end():]
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    return orjson.loads(data)


class _TooLong:
    """Stands for an integer literal too long to convert (Python refuses over 4300 digits)."""


_TOO_LONG = _TooLong()
#: longest integer literal converted; longer ones make their record rejected
MAX_INT_DIGITS = 4000


def _contains_too_long(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if v is _TOO_LONG:
            return True
        if type(v) is dict:
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
    return False


def _describe(record: Any) -> str:
    if isinstance(record, dict):
        keys = ", ".join(sorted(str(k) for k in list(record)[:6]))
        return f"object with keys {keys or '(none)'}"
    return f"{type(record).__name__} value"


class JsonRecords(Format):
    name = "json"
    description = "JSON records of any registered dialect (lines, documents, arrays, wrappers)"
    kinds = ()

    def sniff(self, head: Head) -> int:
        data = head.data.lstrip(b"\xef\xbb\xbf \t\r\n")
        if looks_like_json_start(data):
            return 60
        if _TIME_PREFIX.match(data):
            return 55
        # JSON lines behind a damaged or foreign first line: still ours unless a text format is surer
        if any(line.lstrip()[:1] == "{" for line in head.lines):
            return 30
        return 0

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None, forced: JsonDialect | None = None) -> Decoder:
        if head is not None:
            return JsonDecoder(ctx, display, max_line_bytes, forced, head)
        return HeadFirst(ctx, display, max_line_bytes,
                         lambda first: JsonDecoder(ctx, display, max_line_bytes, forced, first))

    def parse(self, src: InputFile, ctx: ParseContext, forced: JsonDialect | None = None) -> Iterator[Event]:
        yield from self.decoder(ctx, src.display, max_line_bytes=src.max_line_bytes, forced=forced).run(src)


def _layout(head: Head, limit: int) -> str:
    """"lines" (JSON lines, maybe behind junk) or "document" (one value, pretty-printed or not, or
    objects one after another), from the stream's first complete lines."""
    data = head.data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not looks_like_json_start(data):
        return "lines"
    if data[:1] == b"[":
        return "document"
    first = data.split(b"\n", 1)[0]
    if len(first) > limit:
        return "document"  # one line too long to be a record: a document (as when it spans reads)
    # JSON lines when one of the first lines is a whole object by itself (a torn first record does not
    # make the file a document); a pretty-printed document has no such line
    for raw in head.data.split(b"\n")[:HEAD_LINES]:
        raw = raw.strip()
        if raw[:1] == b"{" and raw[-1:] == b"}":
            try:
                if isinstance(orjson.loads(raw), dict):
                    return "lines"
            except _DECODE_ERRORS:
                continue
    return "document"


def looks_like_json_start(data: bytes) -> bool:
    """Whether `data` can begin a JSON document of records: `{` then a key or `}`, `[` then a value or `]`
    (an Apache error log's `[Tue Dec 01 ...]` or a `[INFO]` line is not)."""
    data = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    first, rest = data[:1], data[1:].lstrip(b" \t\r\n")
    if first == b"{":
        return rest[:1] in (b'"', b"}", b"")
    if first == b"[":
        return rest[:1] in (b"{", b"[", b"]", b'"', b"") or rest[:1].isdigit() or rest[:1] == b"-"
    return False


class JsonDecoder(Decoder):
    """JSON records of one stream: JSON lines decoded as they come (through the dialect's raw-bytes
    filters), or one document held until the end of the stream (at most `ctx.max_document_bytes`)."""

    def __init__(self, ctx: ParseContext, display: str, max_line_bytes: int, forced: JsonDialect | None,
                 head: Head) -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.reader = _DialectDispatch(ctx, forced)
        self.document = _layout(head, max_line_bytes) == "document" if head.data.strip() else False
        self._doc: list[bytes] = []
        self._doc_size = 0
        self._doc_lines = 0
        self._doc_ends_line = True
        self.skipped = 0

    # -- a document ----------------------------------------------------------------------------
    def is_raw(self) -> bool:
        return self.document

    def overlong(self, prefix: bytes) -> bool:
        if self.lineno == 0 and looks_like_json_start(prefix):
            self.document = True  # one long line: a document (docker inspect, an export wrapper)
        return self.document

    def take_raw(self, data: bytes) -> list[Event]:
        self._doc_lines += data.count(b"\n")
        if data:
            self._doc_ends_line = data.endswith(b"\n")
        if self._doc_size <= self.ctx.max_document_bytes:
            self._doc_size += len(data)
            if self._doc_size <= self.ctx.max_document_bytes:
                self._doc.append(data)
            else:
                self._doc = []  # over the limit: rejected at the end, the rest only counted
        return []

    def _end_document(self) -> list[Event]:
        ctx = self.ctx
        lines = self._doc_lines + (0 if self._doc_ends_line or not self._doc_size else 1)
        ctx.stats.lines += lines
        if self._doc_size > ctx.max_document_bytes:
            ctx.reject(f"{self.display}:1", f"document too large: over {ctx.max_document_bytes} bytes")
            return []
        data = b"".join(self._doc)
        self._doc = []
        if not data.strip():
            return []
        try:
            record = loads_lenient(data)
        except _DECODE_ERRORS:
            if not _first_value_decodes(data):
                # not a document after all (a torn first record before JSON lines): read it as lines
                ctx.stats.lines -= lines
                self.document = False
                return self.take_block(data, 0, len(data))
            return list(_parse_concatenated(data, self.display, ctx, self.reader))
        return self.reader.dispatch(record, RecordRef(self.display, 1), top=True)

    # -- JSON lines ----------------------------------------------------------------------------
    def take_block(self, buf: bytes, pos: int, size: int) -> list[Event]:
        if self.document:
            return self.take_raw(buf[pos:size])
        out: list[Event] = []
        while pos < size:
            pos = self._lines(buf, pos, size, out)
        return out

    def _lines(self, buf: bytes, pos: int, size: int, out: list[Event]) -> int:
        """Decode the lines of `buf[pos:size]` into `out`; returns where it stopped: `size`, or right after
        the line whose record picked the dialect (whose raw-bytes filters then apply to the rest)."""
        ctx = self.ctx
        display = self.display
        limit = self.limit
        reader = self.reader
        lineno = first = self.lineno
        skipped = 0
        line_filter = reader.line_filter
        block_filter = reader.block_filter
        try:
            if block_filter is not None and line_filter is not None:
                spans, count = block_filter(buf, pos, size)
                # a settled block filter decided every line in its pass (`_k8s._settled`): no second test
                retest = not getattr(block_filter, "settled", False)
                for index, start, end in spans:
                    lineno = first + index + 1
                    if retest and not line_filter(buf, start, end):
                        skipped += 1
                    elif end - start > limit:
                        ctx.reject(f"{display}:{lineno}", f"line too long: {end - start} bytes (limit {limit})")
                    else:
                        out += _parse_line(buf[start:end], lineno, display, ctx, reader)
                skipped += count - len(spans)
                lineno = first + count
                return size
            find = buf.find
            block = reader.line_block_decoder
            while pos < size:
                if block is not None:  # the dialect's C decoder takes the lines it reads exactly, up to one it does not
                    pos, lineno, block_skipped, events = block(buf, pos, size, lineno, display, limit)
                    skipped += block_skipped
                    if events:
                        out += events
                        ctx.stats.formats[reader.current.name] += len(events)  # type: ignore[union-attr]
                    if pos >= size:
                        break
                c = buf[pos]
                if c == 10 or c == 13:  # blank lines (a bomb of newlines) cost one step per run, not per line
                    run_end = buf.rfind(b"\n", pos, blank_run_end(buf, pos, size)) + 1
                    if run_end > pos:
                        run = buf.count(b"\n", pos, run_end)
                        lineno += run
                        if line_filter is not None:
                            skipped += run
                        pos = run_end
                        continue
                nl = find(b"\n", pos, size)
                if nl < 0:
                    nl = size
                lineno += 1
                if line_filter is not None and not line_filter(buf, pos, nl):
                    skipped += 1
                elif nl - pos > limit:
                    ctx.reject(f"{display}:{lineno}", f"line too long: {nl - pos} bytes (limit {limit})")
                else:
                    out += _parse_line(buf[pos:nl], lineno, display, ctx, reader)
                    if reader.line_filter is not line_filter:
                        return min(nl + 1, size)  # the dialect changed: its filters for the rest
                pos = nl + 1
            return size
        finally:
            self.lineno = lineno
            ctx.stats.lines += lineno - first
            ctx.stats.skipped += skipped

    def take_dropped(self, length: int) -> list[Event]:
        if self.document:
            return []
        return super().take_dropped(length)

    def end(self) -> list[Event]:
        return self._end_document() if self.document else []


def _parse_line(line: bytes, lineno: int, display: str, ctx: ParseContext, reader: _DialectDispatch) -> list[Event]:
    fast = reader.line_decoder
    if fast is not None:  # the current dialect decodes its own lines straight into events (None: not this one)
        event = fast(line, RecordRef(display, lineno))
        if event is not None:
            ctx.stats.formats[reader.current.name] += 1  # type: ignore[union-attr]
            return [event]
    try:
        record = orjson.loads(line)
    except _DECODE_ERRORS:
        if not line.strip():
            return []
        try:
            record = loads_lenient(line)  # a time prefix, a BOM, invalid UTF-8 in a string
        except _DECODE_ERRORS as exc2:
            ctx.reject(f"{display}:{lineno}", f"malformed JSON: {exc2}")
            return []
    return reader.dispatch(record, RecordRef(display, lineno))


def _first_value_decodes(data: bytes) -> bool:
    """Whether the document's first JSON value is whole (objects one after another) or broken."""
    text = data.decode("utf-8", errors="replace")
    pos = len(text) - len(text.lstrip(" \t\r\n\ufeff"))
    try:
        # over-long integers are not converted here (Python refuses them); the real pass rejects their records
        json.JSONDecoder(parse_int=lambda digits: 0).raw_decode(text, pos)
    except (ValueError, RecursionError):
        return False
    return True


def _parse_concatenated(data: bytes, display: str, ctx: ParseContext,
                        reader: _DialectDispatch) -> Iterator[Event]:
    """Objects one after another (pretty-printed or run together); a broken one ends the file."""
    text = data.decode("utf-8", errors="replace")
    too_long = False

    def parse_int(digits: str) -> Any:
        nonlocal too_long
        if len(digits) > MAX_INT_DIGITS:  # Python refuses to convert such a literal: reject its record only
            too_long = True
            return _TOO_LONG
        return int(digits)

    decoder = json.JSONDecoder(parse_int=parse_int)
    pos, line = 0, 1
    end = len(text)
    while True:
        start = pos
        while pos < end and text[pos] in " \t\r\n\ufeff":
            pos += 1
        line += text.count("\n", start, pos)
        if pos >= end:
            return
        try:
            record, stop = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            ctx.reject(f"{display}:{line}", f"malformed JSON: {getattr(exc, 'msg', exc)}")
            return
        ref = RecordRef(display, line)
        if too_long:  # rare: drop the records holding such a number, keep the others
            too_long = False
            record = _without_too_long(record, ref, ctx)
        if record is not None:
            yield from reader.dispatch(record, ref, top=True)
        line += text.count("\n", pos, stop)
        pos = stop


def _without_too_long(record: Any, ref: RecordRef, ctx: ParseContext) -> Any:
    """`record` without the records that hold an over-long integer (each rejected), or None."""
    items = record
    if type(record) is dict:
        items = record.get("records") if type(record.get("records")) is list else record.get("items")
    if (type(items) is list and items is not record) or type(record) is list:
        kept = []
        for i, item in enumerate(items):
            if _contains_too_long(item):
                ctx.reject(str(RecordRef(ref.path, ref.line, i)),
                           f"number too large: an integer over {MAX_INT_DIGITS} digits")
            else:
                kept.append(item)
        if type(record) is list:
            return kept
        if not _contains_too_long({k: v for k, v in record.items() if v is not items}):
            return {**record, ("records" if "records" in record and record["records"] is items else "items"): kept}
    ctx.reject(str(ref), f"number too large: an integer over {MAX_INT_DIGITS} digits")
    return None


class _DialectDispatch:
    """Hands records to dialects; remembers the last dialect that claimed one."""

    def __init__(self, ctx: ParseContext, forced: JsonDialect | None) -> None:
        from cloudward.parsers import dialects

        self.ctx = ctx
        self.forced = forced
        self.dialects = (forced,) if forced else dialects()
        self.current: JsonDialect | None = None
        self.line_filter: Callable[[bytes, int, int], bool] | None = None
        self.block_filter: BlockFilter | None = None
        #: the current dialect's typed line decoder, if it has one (`line_decoder(ctx)`)
        self.line_decoder: Callable[[bytes, RecordRef], Event | None] | None = None
        #: the current dialect's decoder of runs of lines, if it has one (`line_block_decoder(ctx)`): see
        #: `tetragon.BlockDecoder`
        self.line_block_decoder: Callable[[bytes, int, int, int, str, int], tuple[int, int, int, list[Event]]] | None
        self.line_block_decoder = None

    def _choose(self, record: dict[str, Any]) -> JsonDialect | None:
        cur = self.current
        if cur is not None and cur.claims(record):
            return cur
        for d in self.dialects:
            if d is not cur and d.claims(record):
                self.current = d
                self.line_filter = d.line_filter(self.ctx.interest)
                self.block_filter = d.block_filter(self.ctx.interest)
                make_decoder = getattr(d, "line_decoder", None)
                self.line_decoder = make_decoder(self.ctx) if make_decoder is not None else None
                make_block = getattr(d, "line_block_decoder", None)
                self.line_block_decoder = make_block(self.ctx) if make_block is not None else None
                return d
        return None

    def dispatch(self, record: Any, ref: RecordRef, top: bool = False) -> list[Event]:
        """The events of one JSON value (a list: called for every record, so no generator frames)."""
        out: list[Event] = []
        self._into(out, record, ref, top)
        return out

    def _into(self, out: list[Event], record: Any, ref: RecordRef, top: bool) -> None:
        ctx = self.ctx
        if type(record) is not dict:
            if isinstance(record, list):
                if not top:
                    ctx.reject(str(ref), "a JSON array where one record was expected")
                    return
                for i, item in enumerate(record):
                    self._into(out, item, RecordRef(ref.path, ref.line, i), False)
                return
            if not isinstance(record, dict):
                ctx.reject(str(ref), f"not a JSON object: {_describe(record)}")
                return
        records = record.get("records")
        if records is not None and isinstance(records, list) and len(record) <= 2:
            for i, item in enumerate(records):
                self._into(out, item, RecordRef(ref.path, ref.line, i), False)
            return
        dialect = self._choose(record)
        if dialect is None:
            what = f"not a {self.forced.name} record" if self.forced else "unrecognized JSON record"
            ctx.reject(str(ref), f"{what}: {_describe(record)}")
            return
        try:
            events = list(dialect.events(record, ref, ctx))  # all or nothing: a failing record adds no events
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            ctx.reject(str(ref), f"invalid {dialect.name} record: {type(exc).__name__}: {exc}")
            return
        out.extend(events)
        ctx.stats.formats[dialect.name] += 1


FORMATS = [JsonRecords()]
