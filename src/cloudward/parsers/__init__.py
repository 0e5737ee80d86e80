"""Input formats, found by discovery: every module here that defines `FORMATS` adds to the registry."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers.base import Counted, Decoder, Format, Head, HeadFirst, JsonDialect, ParseContext

#: junk lines at the top of a stream (a foreign banner, binary bytes, a torn record) sniffing looks past
MAX_SKIPPED_HEAD_LINES = 5


@cache
def _discover() -> tuple[tuple[Format, ...], tuple[JsonDialect, ...]]:
    formats: list[Format] = []
    dialects: list[JsonDialect] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for item in getattr(module, "FORMATS", ()):
            if isinstance(item, JsonDialect):
                dialects.append(item)
            elif isinstance(item, Format):
                formats.append(item)
            else:  # pragma: no cover - a programming error in a parser module
                raise TypeError(f"{module.__name__}.FORMATS holds {item!r}")
    dialects.sort(key=lambda d: (d.order, d.name))
    _check_unique([f.name for f in formats] + [d.name for d in dialects])
    return tuple(formats), tuple(dialects)


def _check_unique(names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"two input formats are named {n!r}")
        seen.add(n)


def formats() -> tuple[Format, ...]:
    return _discover()[0]


def dialects() -> tuple[JsonDialect, ...]:
    return _discover()[1]


def names() -> list[str]:
    return sorted([f.name for f in formats()] + [d.name for d in dialects()])


def sniff(head: Head) -> Format | None:
    """The format most confident about `head`, or None; when none recognizes it, the head without its
    first line, two lines ... (up to `MAX_SKIPPED_HEAD_LINES`) is tried, so junk before a log does not
    hide it (the decoder then rejects the junk lines, with their line numbers)."""
    found = _best(head)
    skip = 1
    raw_lines = head.data.count(b"\n") + 1
    while found is None and skip <= MAX_SKIPPED_HEAD_LINES and skip < raw_lines:
        rest = head.without_first(skip)
        if rest.lines:
            found = _best(rest)
        skip += 1
    return found


def _best(head: Head) -> Format | None:
    best: Format | None = None
    best_score = 0
    for fmt in formats():
        try:
            score = fmt.sniff(head)
        except Exception:  # a sniffer must never stop a scan; treat as "not mine"
            score = 0
        if score > best_score:
            best, best_score = fmt, score
    return best


def by_name(name: str) -> Format | JsonDialect | None:
    for item in (*formats(), *dialects()):
        if item.name == name:
            return item
    return None


def _counted(fmt: Format | JsonDialect, decoder: Decoder) -> Decoder:
    if isinstance(fmt, JsonDialect) or fmt.name == "json":
        return decoder  # JSON dialects count their own records
    return Counted(decoder, fmt.name)


def stream_decoder(ctx: ParseContext, display: str, fmt: str | None = None, *,
                   max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Decoder:
    """A decoder for one stream: of format `fmt`, or - when None - of the format its first complete lines
    are sniffed to be. An unrecognized stream is rejected once (`display:1`) and the rest ignored.

    Raises ValueError for an unknown `fmt`."""
    if fmt:
        chosen = by_name(fmt)
        if chosen is None:
            raise ValueError(f"unknown format {fmt!r}; known: {', '.join(names())}")
        return _counted(chosen, chosen.decoder(ctx, display, max_line_bytes=max_line_bytes))

    def choose(head: Head) -> Decoder | None:
        found = sniff(head) if head.lines else None
        if found is None:
            return None
        return _counted(found, found.decoder(ctx, display, max_line_bytes=max_line_bytes, head=head))

    def unrecognized(head: Head, overlong: int) -> None:
        if not head.lines and not head.data.strip():
            if overlong:
                ctx.reject(f"{display}:1", f"unrecognized input format: only {overlong} over-long line(s) "
                                           f"(limit {max_line_bytes} bytes)")
            return  # empty or blank: nothing to say
        kind = "binary data" if b"\x00" in head.data[:65536] else "text"
        ctx.reject(f"{display}:1", f"unrecognized input format ({kind})")

    return HeadFirst(ctx, display, max_line_bytes, choose, unrecognized)
