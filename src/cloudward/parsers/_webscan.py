"""Reading web logs fast: one RE2 scan per block finds the few lines any card can use.

The cards' prefilter (`analytics.web_filter.WebLineFilter`) knows what they need: kinds of page (from
the data lists), client errors, tool user agents. From that this module builds one linear-time RE2
pattern - a trigger - that matches somewhere in every line that might matter (and in a few that turn
out not to). A block of a megabyte or so is searched with it; the runs of lines between matches are
counted, not parsed, and each matching line goes to the format's line parser, which builds the event
and asks the prefilter again, exactly. The trigger is deliberately wider than the filter: a line it
misses is a line no card could use.

Ordinary requests from addresses a card is still judging (a sensitive-page request waiting for the
address to look like a scanner) are counted per block with a plain substring count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import re2

from cloudward import saferegex
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import (
    ADMIN,
    FINGERPRINT,
    SENSITIVE,
    THEME_EDIT,
    THEME_PHP,
    TOOL_PATH,
    UPLOAD_PHP,
)
from cloudward.events import Event, HttpRequest, HttpSummary
from cloudward.inputs import InputFile
from cloudward.parsers.base import Decoder, ParseContext, count_lines, iter_lines

#: recently active addresses whose ordinary requests are counted (each costs one pass over a run of lines)
MAX_COUNTED = 8


class Summaries:
    """What a web decoder summarizes instead of building events, kept in line order (`HttpSummary`).

    Which addresses get their ordinary requests counted follows from the stream alone - the last
    `MAX_COUNTED` distinct addresses of lines that became an event or an error entry - so the counts
    are the same however the stream is cut, and no card is called from here."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.entries: list[tuple[Any, ...]] = []
        self.first = ""
        self.site = ""
        self.when = 0.0
        #: recently active addresses, oldest first
        self.recent: dict[str, None] = {}

    def active(self, ip: str) -> None:
        recent = self.recent
        if ip in recent:
            del recent[ip]
        elif len(recent) >= MAX_COUNTED:
            del recent[next(iter(recent))]
        recent[ip] = None

    def _start(self, lineno: int, site: str) -> None:
        self.first = f"{self.display}:{lineno}"
        self.site = site

    def error(self, ip: str, when: float, path: str, agent: str, lineno: int, site: str) -> None:
        if not self.entries:
            self._start(lineno, site)
        self.entries.append(("error", ip, when, path, agent))
        self.when = max(self.when, when)
        self.active(ip)

    def ordinary(self, ip: str, n: int, lineno: int, site: str) -> None:
        if not self.entries:
            self._start(lineno, site)
        self.entries.append(("ordinary", ip, n))

    def flush(self, out: list[Event]) -> None:
        if self.entries:
            out.append(HttpSummary(event_id=self.first, origin=self.first, time=self.when, site=self.site,
                                   entries=self.entries))
            self.entries = []
            self.when = 0.0
#: a line parser: the event of one line, or None (skipped, or rejected with a reason)
LineParser = Callable[[bytes, int], Event | None]


def _lit(text: str) -> str:
    """`text` as an RE2 literal (non-alphanumerics as \\x escapes)."""
    return "".join(c if c.isalnum() and c.isascii() else f"\\x{ord(c):02x}" for c in text.encode("utf-8").decode(
        "latin-1"))


def _not_exactly(words: list[str]) -> str:
    """RE2 for a target continuation that is not exactly one of `words` (a word followed by the end
    of the target - space, `?` or quote - is excluded; anything longer or different matches)."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        chars = [c for c in node if c]
        other = "".join(_lit(c) for c in chars)
        if "" in node:
            alts = [f"[^{other} ?\\x22]" if other else "[^ ?\\x22]"]
        else:
            alts = [f"[^{other}]"] if other else []
        alts += [_lit(c) + build(node[c]) for c in chars]
        return "(?:" + "|".join(alts) + ")"

    return build(trie)


def _token(value: str) -> str:
    """The most distinctive part of a path pattern: its last segment (a file name, usually), or its
    longest segment when the last is too short to be telling (`/actuator/env` -> `actuator`)."""
    value = value.lower()
    if value.startswith(".") and "/" not in value:
        return value
    segments = [s for s in value.split("/") if s]
    if not segments:
        return ""
    return segments[-1] if len(segments[-1]) >= 4 else max(segments, key=len)


def trigger_pattern(flt: WebLineFilter, *, target_prefix: str, target_start: str, target_end: str,
                    status_4xx: str) -> str:
    """The RE2 pattern of lines that may matter to the cards behind `flt`.

    In this format, `target_start` is what comes right before a request target, `target_prefix` that
    plus any part of the target (what file-name tokens follow), `target_end` what ends a target, and
    `status_4xx` a pattern for a client-error status."""
    pages = flt.pages
    alternatives: list[str] = ["^#"]
    tokens: set[str] = set()
    mask = flt.path_mask
    if pages is not None:
        lists = []
        if mask & SENSITIVE:
            lists.append(pages.sensitive)
        if mask & ADMIN:
            lists.append(pages.admin)
        if mask & FINGERPRINT:
            lists.append(pages.fingerprint)
        if mask & TOOL_PATH:
            lists.append(pages.tools)
        anchored: list[str] = []  # whole paths and prefixes, matched where the target starts
        for patterns in lists:
            for entry in patterns.entries:
                kind, _, value = entry["pattern"].partition(":")
                if kind in ("path", "prefix") and value.startswith("/"):
                    below = [e[len(value):] for e in patterns.excluded if kind == "prefix" and e.startswith(value)]
                    bare = value.rstrip("/")
                    if kind == "path":
                        anchored.append(f"{_lit(bare)}/?{target_end}")
                    elif below and value.endswith("/"):
                        # everything below the prefix except exactly the excluded pages (/wp-admin/ but not
                        # admin-ajax.php, a busy public endpoint)
                        anchored.append(f"{_lit(bare)}(?:{target_end}|/{_not_exactly(below)})")
                    elif value.endswith("/"):
                        anchored.append(f"{_lit(bare)}(?:/|{target_end})")
                    else:
                        anchored.append(_lit(value))
                else:
                    tokens.add(_token(value))
        if anchored:
            alternatives.append(f"{target_start}(?:{'|'.join(sorted(set(anchored)))})")
        # paths the classifier normalizes before matching (//x, /./x) are looked at closely
        alternatives.append(f"{target_start}/[/.]")
        php = "|".join(_lit(e) for e in pages.php_exts)
        if mask & UPLOAD_PHP:
            for folder in pages.upload_folders:
                alternatives.append(f"{target_prefix}{_lit(folder.lstrip('/'))}[^ \"]*(?:{php})")
        if mask & THEME_PHP:
            alternatives.append(f"{target_prefix}wp-content/themes/[^ \"]*(?:{php})")
        if mask & THEME_EDIT:
            # admin-ajax.php and update.php are busy endpoints; only their theme-editing actions matter
            tokens.update(("theme-editor.php", "theme-install.php"))
            alternatives.append(f"{target_prefix}admin-ajax\\.php[? ][^ \"]*edit-theme-plugin-file")
            alternatives.append(f"{target_prefix}update\\.php[? ][^ \"]*upload-theme")
    tokens.discard("")
    if tokens:
        alternatives.append(f"{target_prefix}(?:{'|'.join(sorted(_lit(t) for t in tokens))})")
    # the classifier percent-decodes and folds backslashes; any such target is looked at closely
    alternatives.append(f"{target_prefix}[%\\x5c]")
    if flt.client_errors:
        alternatives.append(status_4xx)
    if flt.tool_agents and flt.agents is not None:
        alternatives.append("(?:" + "|".join(sorted({_lit(t) for t, _ in flt.agents.entries})) + ")")
    return "(?m)" + "|".join(alternatives)


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


class BlockScanner:
    def __init__(self, flt: WebLineFilter, *, target_start: str, target_prefix: str, target_end: str,
                 status_4xx: str, ip_marker: Callable[[bytes], bytes]) -> None:
        self.flt = flt
        self.target_start = target_start
        self.target_prefix = target_prefix
        self.target_end = target_end
        self.ip_marker = ip_marker
        self.search: Callable[[bytes, int, int], int] = lambda *a: -1
        self.retarget(status_4xx)

    def retarget(self, status_4xx: str) -> None:
        """Rebuild the trigger for a new client-error pattern (a W3C file's next #Fields header)."""
        pattern = trigger_pattern(self.flt, target_prefix=self.target_prefix, target_start=self.target_start,
                                  target_end=self.target_end, status_4xx=status_4xx)
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
            summaries.flush(out)  # what was summarized before this line reaches the cards before it
            if type(event) is HttpRequest:
                summaries.active(event.client_ip)  # type: ignore[attr-defined]
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
            while pos < size:
                hit = search(block, pos, size)
                if hit < 0:
                    n = count_lines(block, pos, size)
                    if summaries is not None and summaries.recent:
                        self._count_recent(block, pos, size, lineno + 1)
                    lineno += n
                    skipped += n
                    break
                start = block.rfind(b"\n", pos, hit) + 1 or pos
                end = block.find(b"\n", hit, size)
                if end < 0:
                    end = size
                n = block.count(b"\n", pos, start)
                if n and summaries is not None and summaries.recent:
                    self._count_recent(block, pos, start, lineno + 1)
                lineno += n + 1
                skipped += n
                self.lineno = lineno
                event = _one(block[start:end], lineno, limit, parse_line, ctx, display)
                search = scanner.search  # a directive line may have changed the trigger
                if event is not None:
                    emit(event, out)
                pos = end + 1
            return out
        finally:
            if summaries is not None:
                summaries.flush(out)
            self.lineno = lineno
            stats.lines += lineno - first
            stats.skipped += skipped

    def _count_recent(self, block: bytes, start: int, end: int, lineno: int) -> None:
        """Ordinary requests of the recently active addresses in the unparsed lines `block[start:end]`."""
        summaries = self.summaries
        marker_of = self.scanner.ip_marker  # type: ignore[union-attr]
        for ip in list(summaries.recent):  # type: ignore[union-attr]
            marker = marker_of(ip.encode("latin-1"))
            total = block.count(marker, start, end)
            if block.startswith(marker.lstrip(b"\n"), start):
                total += 1
            if total:
                summaries.ordinary(ip, total, lineno, self.site)  # type: ignore[union-attr]


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
