"""What a requested path is: sensitive, an admin page, a fingerprint file, a PHP file in an upload
folder... answered once per distinct path for every web card of a pipeline.

Every web card asks about every request, and most requests are ordinary, so the answer is a bit
mask cached by the path's exact text (requests repeat paths a lot; Python caches a string's hash, so
the second card's lookup of the same string is nearly free). Matching itself is a few dictionary
lookups on the lowercased, percent-decoded path - no regular expression ever runs on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from cloudward.datalists import DataLists

SENSITIVE = 1
ADMIN = 2
FINGERPRINT = 4
TOOL_PATH = 8
PHP = 16
UPLOAD_PHP = 32
THEME_PHP = 64
THEME_EDIT = 128
#: query actions that make a busy WordPress endpoint (admin-ajax.php, update.php) a theme edit
THEME_EDIT_ACTIONS = ("edit-theme-plugin-file", "upload-theme")

_CACHE_LIMIT = 200_000
KEYS = ("path", "prefix", "suffix", "name", "segment", "ext")


#: overlong UTF-8 forms of ASCII (`%c0%ae` is "."): servers that decode them leniently see the ASCII character
_OVERLONG = re.compile(rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]")


def _overlong_ascii(m: re.Match[bytes]) -> bytes:
    b = m.group(0)
    if len(b) == 2:
        return bytes([((b[0] & 0x1F) << 6) | (b[1] & 0x3F)])
    code = ((b[0] & 0x0F) << 12) | ((b[1] & 0x3F) << 6) | (b[2] & 0x3F)
    return bytes([code]) if code < 0x80 else chr(code).encode()


def _segment(seg: str) -> str:
    """One path segment as a server resolves it to a file name."""
    if ";" in seg:  # path parameters (`x.php;jsessionid=...`): not part of the file name
        seg = seg[: seg.find(";")]
    if ":" in seg and "$" in seg:  # NTFS streams: x.php::$DATA, uploads::$INDEX_ALLOCATION
        seg = seg[: seg.find(":")]
    if seg not in (".", ".."):
        stripped = seg.rstrip(". ")  # Windows drops trailing dots and spaces: "x.php." and "x.php " are x.php
        seg = stripped if stripped or not seg else "."
    return seg


def normalize(path: str) -> str:
    """The path as a web server resolves it, lowercased: the form lists are matched on.

    Percent-decoded once (overlong UTF-8 forms such as `%c0%ae` read as the ASCII they spell), cut at a NUL
    (`x.php%00.jpg` runs x.php), backslashes as slashes, `;` path parameters, NTFS streams (`::$DATA`) and
    trailing dots and spaces dropped from each segment, then `.` and `..` segments resolved (never above
    the root) and runs of slashes collapsed. Cards keep the raw path as evidence; this is what they judge.
    Written so that an ordinary path costs a lowercase and a few substring tests.
    """
    p = path.lower()
    if "%" in p:
        raw = unquote_to_bytes(p)
        if b"\xc0" in raw or b"\xc1" in raw or b"\xe0" in raw:
            raw = _OVERLONG.sub(_overlong_ascii, raw)
        p = raw.decode("utf-8", errors="replace").lower()
    if "\x00" in p:
        p = p[: p.find("\x00")]
    if "\\" in p:
        p = p.replace("\\", "/")
    if "/." in p or ";" in p or ":" in p or ". " in p or p.endswith((".", " ")) or "./" in p or " /" in p:
        trailing = p.endswith("/")
        out: list[str] = []
        for seg in p.split("/"):
            seg = _segment(seg)
            if seg == "..":
                if len(out) > 1:
                    out.pop()
            elif seg != "." and (seg or not out):
                out.append(seg)
        p = "/".join(out) if out != [""] else "/"
        if not p.startswith("/") and path.startswith(("/", "\\", "%")):
            p = "/" + p
        if trailing and not p.endswith("/"):
            p += "/"
    while "//" in p:
        p = p.replace("//", "/")
    return p


class PathPatterns:
    """A data list of path patterns (keys: path, prefix, suffix, name, segment, ext), compiled into
    lookups. `match` returns the matching entry (a dict) or None."""

    def __init__(self, entries: Iterable[Any], label: str = "category") -> None:
        self.exact: dict[str, dict[str, Any]] = {}
        self.names: dict[str, dict[str, Any]] = {}
        self.exts: dict[str, dict[str, Any]] = {}
        self.segments: dict[str, dict[str, Any]] = {}
        #: prefixes and suffixes grouped by the path's first / last segment, so only a few are tried
        self.prefixes: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.suffixes: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.excluded: set[str] = set()
        #: every (non-excluded) entry, with a "pattern" key saying how it matches
        self.entries: list[dict[str, Any]] = []
        self.label = label
        for raw in entries:
            entry = {"path": raw} if isinstance(raw, str) else dict(raw)
            kind = next((k for k in KEYS if k in entry), None)
            if kind is None:
                raise ValueError(f"path pattern needs one of {', '.join(KEYS)}: {raw!r}")
            value = str(entry[kind]).lower()
            entry.setdefault("pattern", f"{kind}:{value}")
            if entry.get("exclude"):
                self.excluded.add(value.rstrip("/") or "/")
                continue
            self.entries.append(entry)
            if kind == "path":
                self.exact[value.rstrip("/") or "/"] = entry
            elif kind == "name":
                self.names[value] = entry
            elif kind == "ext":
                self.exts[value if value.startswith(".") else "." + value] = entry
            elif kind == "segment":
                self.segments[value.strip("/")] = entry
            elif kind == "prefix":
                first = value.lstrip("/").split("/", 1)[0]
                self.prefixes.setdefault(_first_key(first), []).append((value, entry))
            else:
                last = value.rsplit("/", 1)[-1]
                self.suffixes.setdefault(last, []).append((value, entry))
        self.plain_segments = tuple(s for s in self.segments if not s.startswith("."))

    def match(self, p: str, name: str) -> dict[str, Any] | None:
        """`p` normalized (see `normalize`), `name` its last segment."""
        bare = p.rstrip("/") or "/"
        if bare in self.excluded:
            return None
        hit = self.exact.get(bare) or self.names.get(name)
        if hit is not None:
            return hit
        if self.exts and "." in name:
            dot = name.rfind(".")
            hit = self.exts.get(name[dot:])
            if hit is None:
                first = name.find(".", 1)
                if 0 < first < dot:
                    hit = self.exts.get(name[first:])
            if hit is not None:
                return hit
        if self.suffixes:
            for suffix, entry in self.suffixes.get(name, ()):
                if p.endswith(suffix):
                    return entry
        if self.prefixes:
            end = p.find("/", 1)
            first = p[1:end] if end > 0 else p[1:]
            for prefix, entry in self.prefixes.get(_first_key(first), ()):
                if p.startswith(prefix) or bare == prefix.rstrip("/"):
                    return entry
        if self.segments and ("/." in p or any(s in p for s in self.plain_segments)):
            for seg in p.split("/"):
                hit = self.segments.get(seg)
                if hit is not None:
                    return hit
        return None


def _first_key(segment: str) -> str:
    # prefixes like "/nmaplowercheck" match "/nmaplowercheck1700000000": index by a short stem
    return segment[:4]


class PageClassifier:
    """The shared classifier (one per pipeline, via `Detection.shared_analytics`)."""

    def __init__(self) -> None:
        self.configured = False
        self.cache: dict[str, int] = {}
        #: (path, list) -> label: a scanner's every probe is a finding whose entities name the labels
        self.labels: dict[tuple[str, str], str] = {}

    def configure(self, data: DataLists) -> None:
        if self.configured:
            return
        self.sensitive = PathPatterns(data.get("web_sensitive_pages"))
        self.admin = PathPatterns(data.get("web_admin_pages"), label="app")
        self.fingerprint = PathPatterns(data.get("web_fingerprint_files"), label="cms")
        self.tools = PathPatterns(data.get("web_tool_paths"), label="tool")
        self.php_exts = tuple(e.lower() for e in data.strings("web_php_extensions"))
        self.upload_folders = tuple("/" + f.strip("/").lower() + "/" for f in data.strings("web_upload_folders"))
        self.configured = True

    def bits(self, path: str) -> int:
        hit = self.cache.get(path)
        if hit is None:
            hit = self._classify(path)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[path] = hit
        return hit

    def _classify(self, path: str) -> int:
        p = normalize(path)
        name = p[p.rfind("/") + 1:]
        bits = 0
        if self.sensitive.match(p, name) is not None:
            bits |= SENSITIVE
        if self.admin.match(p, name) is not None:
            bits |= ADMIN
        if self.fingerprint.match(p, name) is not None:
            bits |= FINGERPRINT
        if self.tools.match(p, name) is not None:
            bits |= TOOL_PATH
        php_segment = self.php_segment(p)
        if php_segment >= 0:
            bits |= PHP
            folder = p[: php_segment + 1]
            if any(f in folder for f in self.upload_folders):
                bits |= UPLOAD_PHP
            if "/wp-content/themes/" in folder:
                bits |= THEME_PHP
        if name in ("theme-editor.php", "theme-install.php") and "/wp-admin/" in p:
            bits |= THEME_EDIT
        return bits

    def php_segment(self, p: str) -> int:
        """Index of the '/' before the first path segment with a PHP extension, or -1.

        Segments, not just the end: `/uploads/x.php/a.jpg` runs x.php with PATH_INFO on many servers."""
        if ".p" not in p and ".i" not in p:
            return -1
        start = 0
        for seg in p.split("/"):
            if "." in seg and seg.endswith(self.php_exts):
                return start - 1
            start += len(seg) + 1
        return -1

    def label(self, path: str, which: str) -> str:
        """The matching entry's label (category, app, cms or tool) for alert text."""
        key = (path, which)
        hit = self.labels.get(key)
        if hit is None:
            patterns: PathPatterns = getattr(self, which)
            p = normalize(path)
            entry = patterns.match(p, p[p.rfind("/") + 1:])
            hit = "" if entry is None else str(entry.get(patterns.label) or entry.get("pattern", ""))
            if len(self.labels) >= _CACHE_LIMIT:
                self.labels.clear()
            self.labels[key] = hit
        return hit


def split_target(target: str) -> tuple[str, str]:
    q = target.find("?")
    return (target, "") if q < 0 else (target[:q], target[q + 1:])


def upload_folder_of(classifier: PageClassifier, path: str) -> str:
    p = normalize(path)
    best = ""
    for f in classifier.upload_folders:
        if f in p and len(f) > len(best):
            best = f
    return best.strip("/")
