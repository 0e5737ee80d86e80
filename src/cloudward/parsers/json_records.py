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
from cloudward.inputs import InputFile, blank_run_end
from cloudward.parsers.base import BlockFilter, Format, Head, JsonDialect, ParseContext, RecordRef

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
        if data[:1] in (b"{", b"["):
            return 60
        if _TIME_PREFIX.match(data):
            return 55
        # JSON lines behind a damaged or foreign first line: still ours unless a text format is surer
        if any(line.lstrip()[:1] == "{" for line in head.lines):
            return 30
        return 0

    def parse(self, src: InputFile, ctx: ParseContext, forced: JsonDialect | None = None) -> Iterator[Event]:
        reader = _DialectDispatch(ctx, forced)
        data = src.head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if data[:1] == b"[" or (data[:1] == b"{" and not _first_line_is_json(src.head)):
            yield from self._parse_document(src, ctx, reader)
        else:
            yield from self._parse_lines(src, ctx, reader)

    def _parse_lines(self, src: InputFile, ctx: ParseContext, reader: _DialectDispatch) -> Iterator[Event]:
        """JSON lines, read in blocks: lines the dialect's filter rules out are never copied or decoded."""
        stats = ctx.stats
        display = src.display
        limit = src.max_line_bytes
        lineno = 0
        skipped = 0
        try:
            for item in src.blocks(stats):
                if not isinstance(item, tuple):
                    lineno = ctx.reject_unread(item, display, lineno, limit)
                    continue
                block, pos, size = item
                line_filter = reader.line_filter
                block_filter = reader.block_filter
                if block_filter is not None and line_filter is not None:
                    spans, count = block_filter(block, pos, size)
                    base = lineno
                    for index, start, end in spans:
                        lineno = base + index + 1
                        if not line_filter(block, start, end):
                            skipped += 1
                        elif end - start > limit:
                            ctx.reject(f"{display}:{lineno}", f"line too long: {end - start} bytes (limit {limit})")
                        else:
                            yield from self._parse_line(block[start:end], lineno, display, ctx, reader)
                    skipped += count - len(spans)
                    lineno = base + count
                    continue
                find = block.find
                while pos < size:
                    c = block[pos]
                    if c == 10 or c == 13:  # blank lines (a bomb of newlines) cost one step per run, not per line
                        run_end = block.rfind(b"\n", pos, blank_run_end(block, pos, size)) + 1
                        if run_end > pos:
                            run = block.count(b"\n", pos, run_end)
                            lineno += run
                            if line_filter is not None:
                                skipped += run
                            pos = run_end
                            continue
                    nl = find(b"\n", pos)  # every line of a block but the input's last ends in a newline
                    if nl < 0:
                        nl = size
                    lineno += 1
                    if line_filter is not None and not line_filter(block, pos, nl):
                        skipped += 1
                    elif nl - pos > limit:
                        ctx.reject(f"{display}:{lineno}", f"line too long: {nl - pos} bytes (limit {limit})")
                    else:
                        yield from self._parse_line(block[pos:nl], lineno, display, ctx, reader)
                        line_filter = reader.line_filter  # the first record picks the dialect
                    pos = nl + 1
        finally:
            stats.lines += lineno
            stats.skipped += skipped

    def _parse_line(self, line: bytes, lineno: int, display: str, ctx: ParseContext,
                    reader: _DialectDispatch) -> list[Event]:
        try:
            record = orjson.loads(line)
        except _DECODE_ERRORS:
            if not line.strip():
                return []
            try:
                record = loads_lenient(line)
            except _DECODE_ERRORS as exc2:
                ctx.reject(f"{display}:{lineno}", f"malformed JSON: {exc2}")
                return []
        return reader.dispatch(record, RecordRef(display, lineno))

    def _parse_document(self, src: InputFile, ctx: ParseContext, reader: _DialectDispatch) -> Iterator[Event]:
        data = src.read_all(ctx.stats, ctx.max_document_bytes)
        if data is None:
            return
        try:
            record = loads_lenient(data)
        except _DECODE_ERRORS:
            yield from self._parse_concatenated(data, src.display, ctx, reader)
            return
        yield from reader.dispatch(record, RecordRef(src.display, 1), top=True)

    def _parse_concatenated(self, data: bytes, display: str, ctx: ParseContext,
                            reader: _DialectDispatch) -> Iterator[Event]:
        """Objects one after another (pretty-printed or run together); a broken one ends the file."""
        text = data.decode("utf-8", errors="replace")
        too_long = False

        def parse_int(digits: str) -> Any:
            nonlocal too_long
            if len(digits) > MAX_INT_DIGITS:
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
                record = self._without_too_long(record, ref, ctx)
            if record is not None:
                yield from reader.dispatch(record, ref, top=True)
            line += text.count("\n", pos, stop)
            pos = stop


    @staticmethod
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
                return {**record, ("records" if "records" in record and record["records"] is items else "items"):
                        kept}
        ctx.reject(str(ref), f"number too large: an integer over {MAX_INT_DIGITS} digits")
        return None


def _first_line_is_json(head: bytes) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        orjson.loads(first)
    except _DECODE_ERRORS:
        return False
    return True


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

    def _choose(self, record: dict[str, Any]) -> JsonDialect | None:
        cur = self.current
        if cur is not None and cur.claims(record):
            return cur
        for d in self.dialects:
            if d is not cur and d.claims(record):
                self.current = d
                self.line_filter = d.line_filter(self.ctx.interest)
                self.block_filter = d.block_filter(self.ctx.interest)
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
