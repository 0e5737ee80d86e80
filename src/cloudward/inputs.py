"""Input sources: files, folders, gzip, stdin — read as bounded lines, never trusting the bytes.

Everything here is about not crashing and not losing data: a line longer than the limit is skipped
and reported, a truncated gzip keeps every line before the damage, and every problem is recorded in
`ScanStats` with `path:line` and a reason.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
#: how many rejected lines are listed individually; all are counted
MAX_LISTED_REJECTS = 200


@dataclass(slots=True)
class Rejection:
    where: str
    reason: str


@dataclass
class ScanStats:
    """What a run read, skipped and refused; shown in the summary."""

    files: int = 0
    lines: int = 0
    events: int = 0
    #: records decided from their raw bytes to be of no use to any enabled detection
    skipped: int = 0
    #: recognized records that carry nothing any detection reads (other programs' lines in a syslog
    #: file, a daemon's startup messages)
    ignored: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    #: mutating Kubernetes requests logged at Metadata level: no body to inspect
    uninspectable: int = 0
    duplicates: int = 0
    bytes_read: int = 0

    def reject(self, where: str, reason: str) -> None:
        self.rejected += 1
        self.reject_reasons[reason.split(":", 1)[0]] += 1
        if len(self.rejections) < MAX_LISTED_REJECTS:
            self.rejections.append(Rejection(where, reason))

    def merge(self, other: ScanStats) -> None:
        for name in ("files", "lines", "events", "skipped", "ignored", "rejected", "uninspectable", "duplicates",
                     "bytes_read"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reject_reasons.update(other.reject_reasons)
        self.formats.update(other.formats)
        room = MAX_LISTED_REJECTS - len(self.rejections)
        if room > 0:
            self.rejections.extend(other.rejections[:room])

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "lines": self.lines,
            "events": self.events,
            "skipped_unneeded": self.skipped,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "reject_reasons": dict(self.reject_reasons),
            "rejections": [{"where": r.where, "reason": r.reason} for r in self.rejections],
            "formats": dict(self.formats),
            "uninspectable": self.uninspectable,
            "duplicates": self.duplicates,
        }


#: (buffer, start, end): whole lines in buffer[start:end]
Block = tuple[bytes, int, int]


@dataclass(slots=True)
class DroppedLine:
    """Stands for a line too long to keep (see `InputFile.blocks`)."""

    length: int


@dataclass(slots=True)
class ReadFailure:
    """The input could not be read further (see `InputFile.blocks`)."""

    reason: str


class _Replay(io.RawIOBase):
    """Serves bytes already read for sniffing, then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = 0
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            if n == len(buf):
                return n
        data = self._rest.read(len(buf) - n)
        buf[n : n + len(data)] = data
        return n + len(data)


class InputFile:
    """One input: a regular file (optionally gzip-compressed) or standard input."""

    def __init__(self, path: str, *, display: str | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 data: bytes | None = None) -> None:
        self.path = path
        self.display = display or path
        self.max_line_bytes = max_line_bytes
        self._data = data
        self._head: bytes | None = None
        self._stream: BinaryIO | None = None
        self.compressed = False
        #: why the start of the input could not be read (a corrupt gzip header), else empty
        self.open_error = ""

    @classmethod
    def from_bytes(cls, data: bytes, display: str = "<memory>") -> InputFile:
        return cls(display, display=display, data=data)

    @property
    def size(self) -> int | None:
        if self._data is not None:
            return len(self._data)
        if self.path == "-":
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None

    def _open_raw(self) -> BinaryIO:
        if self._data is not None:
            return io.BytesIO(self._data)
        if self.path == "-":
            return sys.stdin.buffer
        return open(self.path, "rb")

    def open(self) -> BinaryIO:
        """Open for reading, decompressing gzip when the magic bytes say so; sets `head`."""
        raw = self._open_raw()
        first = raw.read(2)
        source: BinaryIO
        if raw.seekable():
            raw.seek(0)  # files rewind; only pipes need the sniffed bytes replayed
            source = raw
        else:
            source = _Buffered(_Replay(first, raw))
        stream: BinaryIO
        if first == GZIP_MAGIC:
            self.compressed = True
            stream = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[assignment]
        elif source is raw and isinstance(raw, io.BufferedReader):
            stream = raw
        else:
            stream = source if isinstance(source, io.BufferedReader) else _Buffered(source)  # type: ignore[arg-type]
        head = b""
        self.open_error = ""
        try:
            head = stream.peek(HEAD_BYTES)[:HEAD_BYTES] if hasattr(stream, "peek") else b""
        except (EOFError, OSError, zlib.error) as exc:
            head = b""
            self.open_error = f"truncated or corrupt gzip: {exc}" if self.compressed else f"read error: {exc}"
        self._head = head
        self._stream = stream
        self._raw = raw
        return stream

    @property
    def head(self) -> bytes:
        if self._head is None:
            self.open()
        return self._head or b""

    def position(self) -> int:
        """Bytes of the underlying file consumed so far (compressed bytes for gzip), for progress."""
        raw = getattr(self, "_raw", None)
        try:
            return raw.tell() if raw is not None and raw is not sys.stdin.buffer else 0
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        for s in (getattr(self, "_stream", None), getattr(self, "_raw", None)):
            if s is not None and s is not sys.stdin.buffer:
                try:
                    s.close()
                except OSError:
                    pass
        self._stream = None

    def lines(self, stats: ScanStats) -> Iterator[tuple[int, bytes]]:
        """Yield (line number, line without its newline); over-long lines and read errors are rejected.

        A damaged gzip stream ends the file but keeps every line read before the damage.
        """
        stream = self._stream if self._stream is not None else self.open()
        limit = self.max_line_bytes
        readline = stream.readline
        lineno = 0
        where = self.display
        try:
            while True:
                line = readline(limit + 1)
                if not line:
                    break
                lineno += 1
                if len(line) > limit and not line.endswith(b"\n"):
                    skipped = len(line)
                    while True:  # drain the rest of the over-long line without keeping it
                        more = readline(1 << 20)
                        skipped += len(more)
                        if not more or more.endswith(b"\n"):
                            break
                    stats.reject(f"{where}:{lineno}", f"line too long: {skipped} bytes (limit {limit})")
                    continue
                yield lineno, line.rstrip(b"\r\n")
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            stats.reject(f"{where}:{lineno + 1}", f"truncated or corrupt gzip: {exc}")
        except OSError as exc:
            stats.reject(f"{where}:{lineno + 1}", f"read error: {exc}")
        finally:
            stats.lines += lineno
            self.close()

    def blocks(self, stats: ScanStats, size: int = 1 << 20) -> Iterator[Block | DroppedLine | ReadFailure]:
        """Whole lines as (buffer, start, end) spans of about `size` bytes, for loops that look at most lines
        without copying them.

        `buffer[start:end]` holds complete lines, each ending with a newline except possibly the input's
        last. A line longer than the limit is not kept: a `DroppedLine` stands in its place. A read error ends
        the input with a `ReadFailure`. Line numbers are the consumer's to count.
        """
        stream = self._stream if self._stream is not None else self.open()
        limit = self.max_line_bytes
        # read1: a damaged gzip stream then fails only on the piece it cannot decompress, after every
        # earlier piece was handed out
        read = getattr(stream, "read1", stream.read)
        rest = b""  # a line begun in the previous read
        try:
            while True:
                data = read(size)
                if not data:
                    if rest:
                        yield rest, 0, len(rest)
                    return
                start = 0
                if rest:
                    nl = data.find(b"\n")
                    if nl < 0:
                        rest += data
                        if len(rest) > limit:
                            yield self._drop(read, len(rest), size)
                            rest = self._after_drop
                        continue
                    start = nl + 1
                    head = rest + data[:start]
                    rest = b""
                    yield head, 0, len(head)
                cut = data.rfind(b"\n", start)
                if cut < 0:
                    rest = data[start:]
                    if len(rest) > limit:
                        yield self._drop(read, len(rest), size)
                        rest = self._after_drop
                    continue
                if cut + 1 < len(data):
                    rest = data[cut + 1 :]
                yield data, start, cut + 1
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            # the partial line before the damage is part of the failure, not a record of its own
            yield ReadFailure(f"truncated or corrupt gzip: {exc}")
        except OSError as exc:
            yield ReadFailure(f"read error: {exc}")
        finally:
            self.close()

    def _drop(self, read: Callable[[int], bytes], dropped: int, size: int) -> DroppedLine:
        """Read past the rest of an over-long line; what follows its newline is kept in `_after_drop`."""
        self._after_drop = b""
        while True:
            data = read(size)
            if not data:
                return DroppedLine(dropped)
            nl = data.find(b"\n")
            if nl >= 0:
                self._after_drop = data[nl + 1 :]
                return DroppedLine(dropped + nl)
            dropped += len(data)

    def read_all(self, stats: ScanStats, limit: int) -> bytes | None:
        """The whole content (for formats that are one document), or None after rejecting it."""
        stream = self._stream if self._stream is not None else self.open()
        try:
            data = stream.read(limit + 1)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            stats.reject(f"{self.display}:1", f"truncated or corrupt gzip: {exc}")
            return None
        finally:
            self.close()
        if len(data) > limit:
            stats.reject(f"{self.display}:1", f"document too large: over {limit} bytes")
            return None
        stats.lines += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return data


def _Buffered(raw: io.RawIOBase) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=1 << 20)


def expand_paths(paths: list[str]) -> Iterator[str]:
    """Files named, and every regular file under folders named (sorted, hidden entries skipped)."""
    for p in paths:
        if p == "-":
            yield p
            continue
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield os.path.join(root, name)
        else:
            yield p
