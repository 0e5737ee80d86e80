"""Input sources: files, folders, gzip, stdin — read as bounded lines, never trusting the bytes.

Everything here is about not crashing and not losing data: a line longer than the limit is skipped
and reported, a truncated gzip keeps every line before the damage, and every problem is recorded in
`ScanStats` with `path:line` and a reason.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cloudward.digest import sha256_hex

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024
HEAD_BYTES = 64 * 1024
#: a gzip member may not decompress to more than this ...
DEFAULT_MAX_DECOMPRESSED_BYTES = 32 * 1024**3
#: ... nor to more than this many times the compressed bytes read so far (logs compress 5-30x; a stream of
#: newlines or one repeated byte reaches deflate's ceiling of about 1030x)
DEFAULT_MAX_COMPRESSION_RATIO = 200
#: the ratio is judged only once this much was decompressed, so a tiny file's header cannot trip it
RATIO_GRACE_BYTES = 8 * 1024 * 1024
#: bytes hashed to recognize a file under a new name (rotation): its identity is device, inode and these
IDENTITY_BYTES = 4096
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


class DecompressionLimit(OSError):
    """A compressed member decompressed past the configured size or ratio (a decompression bomb)."""


class _Counted(io.RawIOBase):
    """Counts the compressed bytes a decompressor pulls from `raw`."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self._raw.read(len(buf))
        n = len(data)
        buf[:n] = data
        self.count += n
        return n


class _Capped(io.RawIOBase):
    """Decompressed bytes of `stream`, ended with `DecompressionLimit` past a size or ratio cap."""

    def __init__(self, stream: BinaryIO, compressed: _Counted, max_bytes: int, max_ratio: float) -> None:
        self._stream = stream
        self._compressed = compressed
        self._max_bytes = max_bytes
        self._max_ratio = max_ratio
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self._stream.read1(len(buf)) if hasattr(self._stream, "read1") else self._stream.read(len(buf))
        n = len(data)
        buf[:n] = data
        self.count += n
        if self._max_bytes > 0 and self.count > self._max_bytes:
            raise DecompressionLimit(f"decompressed size over {self._max_bytes} bytes "
                                     f"([scan] max_decompressed_bytes)")
        if (self._max_ratio > 0 and self.count > RATIO_GRACE_BYTES
                and self.count > self._max_ratio * max(self._compressed.count, 1)):
            raise DecompressionLimit(f"compression ratio over {self._max_ratio:g}:1 after {self.count} bytes "
                                     f"([scan] max_compression_ratio)")
        return n

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


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
                 data: bytes | None = None, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                 max_compression_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO) -> None:
        self.path = path
        self.display = display or path
        self.max_line_bytes = max_line_bytes
        self.max_decompressed_bytes = max_decompressed_bytes
        self.max_compression_ratio = max_compression_ratio
        self._data = data
        self._head: bytes | None = None
        self._stream: BinaryIO | None = None
        self.compressed = False
        #: why the start of the input could not be read (a corrupt gzip header), else empty
        self.open_error = ""
        #: a UTF-8 byte-order mark was dropped from the start of the content
        self.bom_stripped = False
        self._identity: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, display: str = "<memory>") -> InputFile:
        return cls(display, display=display, data=data)

    @classmethod
    def for_config(cls, path: str, config: Any) -> InputFile:
        """An input read with the limits of `config` (a `cloudward.config.Config`)."""
        return cls(path, max_line_bytes=config.max_line_bytes,
                   max_decompressed_bytes=getattr(config, "max_decompressed_bytes", DEFAULT_MAX_DECOMPRESSED_BYTES),
                   max_compression_ratio=getattr(config, "max_compression_ratio", DEFAULT_MAX_COMPRESSION_RATIO))

    @property
    def size(self) -> int | None:
        if self._data is not None:
            return len(self._data)
        if self.path == "-":
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    @property
    def identity(self) -> str:
        """Who this file is, whatever its name: device and inode plus a hash of its first bytes.

        A log rotated by renaming (`mv access.log access.log.1`) keeps its identity, so lines seen under the
        old name are not new under the new one; a file rewritten in place gets a new one. Streams and
        in-memory inputs are known by their name.
        """
        if self._identity is None:
            self._identity = self.display
            if self._data is None and self.path != "-" and is_regular(self.path):  # never reopen a stream
                try:
                    with open(self.path, "rb") as fh:
                        st = os.fstat(fh.fileno())
                        if stat.S_ISREG(st.st_mode):
                            digest = sha256_hex(fh.read(IDENTITY_BYTES))[:16]
                            self._identity = f"file:{st.st_dev}:{st.st_ino}:{digest}"
                except OSError:
                    pass
        return self._identity

    def _open_raw(self) -> BinaryIO:
        if self._data is not None:
            return io.BytesIO(self._data)
        if self.path == "-":
            return sys.stdin.buffer
        return open(self.path, "rb")

    def open(self) -> BinaryIO:
        """Open for reading, decompressing gzip when the magic bytes say so; sets `head`.

        A gzip stream is capped (`max_decompressed_bytes`, `max_compression_ratio`): past either the read
        ends with `DecompressionLimit`. A UTF-8 byte-order mark at the start of the content is dropped.
        """
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
            # unbuffered: the count is then what the decompressor consumed (to within gzip's 128 KiB reads),
            # not what a buffer read ahead, so the ratio is judged on the bytes actually decompressed
            counted = _Counted(source)
            member = gzip.GzipFile(fileobj=counted, mode="rb")  # type: ignore[arg-type]
            stream = _Buffered(_Capped(member, counted, self.max_decompressed_bytes,  # type: ignore[arg-type]
                                       self.max_compression_ratio))
        elif source is raw and isinstance(raw, io.BufferedReader):
            stream = raw
        else:
            stream = source if isinstance(source, io.BufferedReader) else _Buffered(source)  # type: ignore[arg-type]
        head = b""
        self.open_error = ""
        try:
            head = stream.peek(HEAD_BYTES)[:HEAD_BYTES] if hasattr(stream, "peek") else b""
            if head.startswith(UTF8_BOM):
                stream.read(len(UTF8_BOM))
                self.bom_stripped = True
                head = stream.peek(HEAD_BYTES)[:HEAD_BYTES]
        except DecompressionLimit as exc:
            head = b""
            self.open_error = f"decompression limit: {exc}"
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
        """Yield (line number, line without its newline) of every non-blank line; over-long lines and read
        errors are rejected.

        Blank lines are counted but never yielded, and a run of them costs one step, not one per line (a
        decompressed bomb of newlines). A damaged gzip stream ends the file but keeps every line read before
        the damage.
        """
        limit = self.max_line_bytes
        lineno = 0
        where = self.display
        try:
            for item in self.blocks(stats):
                if isinstance(item, DroppedLine):
                    lineno += 1
                    stats.reject(f"{where}:{lineno}", f"line too long: {item.length} bytes (limit {limit})")
                    continue
                if isinstance(item, ReadFailure):
                    stats.reject(f"{where}:{lineno + 1}", item.reason)
                    break
                buf, pos, end = item
                find = buf.find
                while pos < end:
                    c = buf[pos]
                    if c == 10 or c == 13:
                        run_end = buf.rfind(b"\n", pos, blank_run_end(buf, pos, end)) + 1
                        if run_end > pos:
                            lineno += buf.count(b"\n", pos, run_end)
                            pos = run_end
                            continue
                    nl = find(b"\n", pos, end)
                    if nl < 0:
                        nl = end
                    lineno += 1
                    if nl - pos > limit:
                        stats.reject(f"{where}:{lineno}", f"line too long: {nl - pos} bytes (limit {limit})")
                    else:
                        line = buf[pos:nl].rstrip(b"\r\n")
                        if line:
                            yield lineno, line
                    pos = nl + 1
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
        except DecompressionLimit as exc:
            yield ReadFailure(f"decompression limit: {exc}")
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
        except DecompressionLimit as exc:
            stats.reject(f"{self.display}:1", f"decompression limit: {exc}")
            return None
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            stats.reject(f"{self.display}:1", f"truncated or corrupt gzip: {exc}")
            return None
        except OSError as exc:
            stats.reject(f"{self.display}:1", f"read error: {exc}")
            return None
        finally:
            self.close()
        if len(data) > limit:
            stats.reject(f"{self.display}:1", f"document too large: over {limit} bytes")
            return None
        stats.lines += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return data


#: templates compared against runs of blank lines: equality of bytes is a memcmp, far faster than any loop
#: (3 MB, so made when a run of blank lines is first met, not at start-up)
_RUN_TEMPLATES: tuple[tuple[bytes, bytes], ...] = ()


def _run_templates() -> tuple[tuple[bytes, bytes], ...]:
    global _RUN_TEMPLATES
    if not _RUN_TEMPLATES:
        _RUN_TEMPLATES = tuple((unit, unit * ((1 << 20) // len(unit))) for unit in (b"\n", b"\r\n", b"\r"))
    return _RUN_TEMPLATES


def _repeat_run(buf: bytes, pos: int, end: int, unit: bytes, template: bytes) -> int:
    """How many bytes from `pos` are repeats of `unit` (a multiple of its length; at most the template's)."""
    u = len(unit)
    limit = min(end - pos, len(template)) // u
    if limit == 0 or not buf.startswith(unit, pos):
        return 0
    good, bad = 1, 0  # counts of units known to match / known not to
    probe = 1
    while probe < limit:  # gallop
        probe = min(probe * 16, limit)
        if buf.startswith(template[: probe * u], pos):
            good = probe
        else:
            bad = probe
            break
    if not bad:
        return good * u
    while bad - good > 1:  # bisect
        mid = (good + bad) // 2
        if buf.startswith(template[: mid * u], pos):
            good = mid
        else:
            bad = mid
    return good * u


def blank_run_end(buf: bytes, pos: int, end: int) -> int:
    """Where the run of CR/LF bytes starting at `pos` ends (at most `end`). Runs of blank lines (LF, CRLF)
    cost a few memcmp-speed comparisons however long they are: a decompressed bomb of newlines is skipped,
    not iterated."""
    templates = _RUN_TEMPLATES or _run_templates()
    while pos < end:
        c = buf[pos]
        if c != 10 and c != 13:
            break
        for unit, template in templates:
            n = _repeat_run(buf, pos, end, unit, template)
            if n:
                pos += n
                break
    return pos


def _Buffered(raw: io.RawIOBase) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=1 << 20)


#: names of the kinds of non-regular file, for messages
_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"))


def file_kind(mode: int) -> str:
    for test, name in _FILE_KINDS:
        if test(mode):
            return name
    return "not a regular file"


def is_regular(path: str) -> bool:
    """True for a regular file (following symlinks); False for pipes, devices, sockets and missing paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def expand_paths(paths: list[str], on_skip: Callable[[str, str], None] | None = None) -> Iterator[str]:
    """Files named, and every regular file under folders named (sorted, hidden entries skipped).

    A path named explicitly is read whatever it is (`/dev/stdin`, `<(cat f)` and FIFOs are streams). Inside a
    folder only regular files are read: a FIFO would block the scan forever, a device never end. Those, and
    folders or files that cannot be read, are passed to `on_skip(path, reason)`.
    """
    for p in paths:
        if p == "-":
            yield p
            continue
        try:
            is_dir = stat.S_ISDIR(os.stat(p).st_mode)
        except OSError:
            is_dir = False  # opening it reports why (no permission on a parent folder, ...)
        if is_dir:
            def failed(exc: OSError, top: str = p) -> None:
                if on_skip is not None:
                    on_skip(exc.filename or top, f"cannot read folder: {exc.strerror or exc}")

            for root, dirs, files in os.walk(p, onerror=failed):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    full = os.path.join(root, name)
                    try:
                        mode = os.stat(full).st_mode
                    except OSError as exc:
                        if on_skip is not None:
                            on_skip(full, f"cannot open: {exc.strerror or exc}")
                        continue
                    if stat.S_ISREG(mode):
                        yield full
                    elif on_skip is not None:
                        on_skip(full, f"not a regular file: {file_kind(mode)} inside a scanned folder, skipped "
                                      "(name it to read it)")
        else:
            yield p
