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
from cloudward.events import Event
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext

#: watched addresses whose ordinary requests are counted per block (each costs one pass over the block)
MAX_COUNTED = 8
#: a line parser: the event of one line, or None (skipped, or rejected with a reason)
LineParser = Callable[[bytes, int], Event | None]
#: (block, start, end, lines) -> True when every one of those lines has the format's well-formed shape
RunCheck = Callable[[bytes, int, int, int], bool]


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
    # the classifier resolves paths as servers do (web_paths.normalize: percent-decoding, backslashes, `;`
    # parameters, `.`/`..` and empty segments); any target needing that is looked at closely
    alternatives.append(f"{target_prefix}(?:[%\\x5c;]|/\\.{{0,2}}/)")
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
                 status_4xx: str, ip_marker: Callable[[bytes], bytes | tuple[bytes, ...]],
                 well_formed: RunCheck | None = None) -> None:
        self.flt = flt
        #: honest rejection: a run of lines the trigger passed over is counted as skipped only when this
        #: says each of them is well-formed; otherwise its lines are parsed one by one, so a malformed line
        #: is rejected whatever its content (not "skipped" because it happened to name an ordinary page)
        self.well_formed = well_formed
        self.target_start = target_start
        self.target_prefix = target_prefix
        self.target_end = target_end
        self.ip_marker = ip_marker
        self.search: Callable[[bytes, int, int], int] = lambda *a: -1
        self.retarget(status_4xx)

    def retarget(self, status_4xx: str) -> None:
        """Rebuild the trigger for a new client-error pattern (a W3C file's next #Fields header)."""
        # the cards configure the filter once, before any input is read, so its pattern for a format is
        # built once per run rather than once per file (it runs over every data-list entry)
        memo: dict[tuple[str, ...], str] = self.flt.__dict__.setdefault("_trigger_memo", {})
        key = (self.target_prefix, self.target_start, self.target_end, status_4xx)
        pattern = memo.get(key)
        if pattern is None:
            pattern = memo[key] = trigger_pattern(self.flt, target_prefix=self.target_prefix,
                                                  target_start=self.target_start, target_end=self.target_end,
                                                  status_4xx=status_4xx)
        self.search = _first_match(_compiled(pattern))


def read_web_lines(src: InputFile, ctx: ParseContext, parse_line: LineParser,
                   scanner: BlockScanner | None) -> Iterator[Event]:
    """Every line of `src` through `parse_line`, or - with a scanner - only the lines its trigger
    matches (and the first line), the rest counted as skipped."""
    stats = ctx.stats
    display = src.display
    limit = src.max_line_bytes
    lineno = 0
    skipped = 0
    search = scanner.search if scanner is not None else None
    try:
        for item in src.blocks(stats):
            if not isinstance(item, tuple):
                lineno = ctx.reject_unread(item, display, lineno, limit)
                continue
            block, pos, size = item
            if search is None or lineno == 0:
                # every line (no prefilter), or the first block's first line, which is always parsed
                stop = size if search is None else (block.find(b"\n", pos, size) + 1 or size)
                for line in block[pos:stop].split(b"\n")[: None if block[stop - 1:stop] != b"\n" else -1]:
                    lineno += 1
                    event = _one(line, lineno, limit, parse_line, ctx, display)
                    if event is not None:
                        yield event
                pos = stop
                if search is None or pos >= size:
                    continue
            watched_ips: dict[str, int] = {}
            pending = scanner.flt.pending_ips() if scanner is not None else ()
            well_formed = scanner.well_formed if scanner is not None else None
            if well_formed is not None:
                # one look at the whole block first: when every line of it is well-formed (nearly always)
                # no run needs checking
                total = block.count(b"\n", pos, size) + (1 if size > pos and block[size - 1] != 10 else 0)
                if total and well_formed(block, pos, size, total):
                    well_formed = None
            while pos < size:
                hit = search(block, pos, size)
                if hit < 0:
                    n = block.count(b"\n", pos, size)
                    if size > pos and block[size - 1] != 10:
                        n += 1
                    if n and well_formed is not None and not well_formed(block, pos, size, n):
                        for event in _each_line(block, pos, size, lineno, limit, parse_line, ctx, display):
                            yield event
                    else:
                        skipped += n
                    lineno += n
                    break
                start = block.rfind(b"\n", pos, hit) + 1 or pos
                end = block.find(b"\n", hit, size)
                if end < 0:
                    end = size
                n = block.count(b"\n", pos, start)
                if n and well_formed is not None and not well_formed(block, pos, start, n):
                    for event in _each_line(block, pos, start, lineno, limit, parse_line, ctx, display):
                        yield event
                else:
                    skipped += n
                lineno += n + 1
                event = _one(block[start:end], lineno, limit, parse_line, ctx, display)
                search = scanner.search  # a directive line may have changed the trigger
                if event is not None:
                    if pending:
                        ip = getattr(event, "client_ip", "")
                        watched_ips[ip] = watched_ips.get(ip, 0) + 1
                    yield event
                pos = end + 1
            if pending:
                _count_watched(scanner, block, item[1], size, pending, watched_ips)
    finally:
        stats.lines += lineno
        stats.skipped += skipped


def _each_line(block: bytes, start: int, end: int, lineno: int, limit: int, parse_line: LineParser,
               ctx: ParseContext, display: str) -> Iterator[Event]:
    """The lines of block[start:end] through the line parser (which counts the ones it skips)."""
    text = block[start:end]
    rows = text.split(b"\n")
    if text.endswith(b"\n"):
        rows.pop()
    for i, line in enumerate(rows, 1):
        event = _one(line, lineno + i, limit, parse_line, ctx, display)
        if event is not None:
            yield event


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


def _count_watched(scanner: BlockScanner, block: bytes, start: int, end: int, pending: list[str],
                   seen: dict[str, int]) -> None:
    """Ordinary requests of the addresses a card is judging: their lines in the block, less those that
    became events (which the card counted itself)."""
    for ip in pending[:MAX_COUNTED]:
        markers = scanner.ip_marker(ip.encode("latin-1"))
        total = 0
        for marker in markers if isinstance(markers, tuple) else (markers,):
            total += block.count(marker, start, end)
            if marker[:1] == b"\n" and block.startswith(marker[1:], start):
                total += 1
        ordinary = total - seen.get(ip, 0)
        if ordinary > 0:
            scanner.flt.count_watched(ip, ordinary)
