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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cloudward.events import Event
from cloudward.inputs import DroppedLine, InputFile, ReadFailure, ScanStats

#: (buffer, start, end) -> (lines that may be needed as (index, start, end), number of lines)
BlockFilter = Callable[[bytes, int, int], tuple[list[tuple[int, int, int]], int]]


@dataclass
class Interest:
    """What the enabled detections need, so parsers can skip the rest from raw bytes.

    `audit_verbs` / `audit_resources` are None when some detection wants every Kubernetes audit verb /
    resource.
    """

    audit_verbs: frozenset[str] | None = None
    audit_resources: frozenset[str] | None = None
    kinds: frozenset[str] = frozenset()


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


@dataclass(slots=True)
class Head:
    """The start of an input, decoded once for every format's sniffer."""

    path: str
    data: bytes
    lines: list[str]

    @classmethod
    def of(cls, src: InputFile, max_lines: int = 20) -> Head:
        data = src.head
        text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        # lines end at "\n", as every reader splits them: str.splitlines would also break at \r, \x85,
        # \u2028... so a few junk characters could push the first real line out of the sniffers' view
        lines: list[str] = []
        for ln in text.split("\n"):
            ln = ln.rstrip("\r")
            if ln.strip():
                lines.append(ln)
                if len(lines) >= max_lines:
                    break
        return cls(src.display, data, lines)


class Format:
    """A wire format that reads a whole input file itself."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: names of event kinds it yields (class names from cloudward.events)
    kinds: ClassVar[tuple[str, ...]] = ()

    def sniff(self, head: Head) -> int:
        """Confidence 0-100 that `head` is this format; 0 means no."""
        raise NotImplementedError

    def parse(self, src: InputFile, ctx: ParseContext) -> Iterator[Event]:
        raise NotImplementedError


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
